"""The AWS provider: an account and region as an environment, EC2 instances as targets.

The only package of chaoskit that imports boto3 and botocore. Its modules, each with one job:
``clients`` (the session and its clients), ``calls`` (retries and what failures mean),
``account`` (the allowed-account check), ``instances`` (finding a target's instances and
their health), ``target`` (``AwsTarget``: refusals, instance faults, waiting for capacity),
``instance_actions`` (how instance faults reach AWS: direct EC2 calls or FIS), ``stopping``
(stopped instances are tagged, so they are always started again), ``environment``
(``AwsEnvironment``), ``recover`` (settling what a killed run left behind), and the FIS
experiments: ``fis_calls``, ``fis_runner`` (create, start, wait, stop, delete) and
``fis_recover`` (a killed run's experiments, found by their tag).

The names below are imported on first use, so that importing this package (``pytest --co``,
the ``chaoskit`` command) does not import boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.providers.aws.environment import AwsEnvironment
    from chaoskit.providers.aws.target import AwsTarget

__all__ = ["AwsEnvironment", "AwsTarget"]
_HOMES = {"AwsEnvironment": "environment", "AwsTarget": "target"}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
