"""The local environment: no account, no network beyond 127.0.0.1.

Each target is a fleet of replica processes (the built-in demo shop unless a command is
given, or addresses of a service that already runs) behind a load-balancing proxy that
health-checks them and applies network faults to their traffic.
A dead replica is replaced after ``replace_delay`` with a new instance id, as an auto-scaling
group would. Replicas can also be stopped, rebooted in place and starved of CPU (see
``LocalTarget`` and docs/local-fleet.md). All of it lives in one child process, the *system*,
driven over a control port::

    with LocalEnvironment.start() as env:
        web = env.target("web")
        victim = web.instances()[0].id
        handle = web.add_latency([victim], delay=0.2, jitter=0.02)
        ...
        web.remove_fault(handle)

With ``prometheus=True`` (or ``env.start_prometheus()`` later) the system also runs a
Prometheus server scraping every live replica's ``/metrics`` once a second; its URL is
``env.prometheus_url`` and objectives of ``chaoskit.prometheus`` use it by default.

Each process is a folder. This package's top level is the pytest side: ``environment``
(``LocalEnvironment``), ``target`` (``LocalTarget``), ``client`` (``ControlClient``), ``config``
(``TargetSpec``), ``binaries``, and the messages that cross to the system process: ``startup``
(its config and ready line) and ``control_protocol`` (the control API). ``system/`` is the
system process and the demo replica it runs; the pytest side never imports it.

The names below are imported on first use: every process of the local system, and each demo
replica, imports this package on its way to ``system/`` and needs none of the pytest side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.providers.local.config import DEFAULT_TARGETS, TargetSpec
    from chaoskit.providers.local.environment import LocalEnvironment
    from chaoskit.providers.local.target import LocalTarget

__all__ = ["DEFAULT_TARGETS", "LocalEnvironment", "LocalTarget", "TargetSpec"]
_HOMES = {
    "DEFAULT_TARGETS": "config",
    "TargetSpec": "config",
    "LocalEnvironment": "environment",
    "LocalTarget": "target",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
