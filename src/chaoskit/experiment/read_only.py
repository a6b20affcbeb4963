"""The environment a dry run hands out: every read goes through, every change is refused.

``--chaos-dry-run`` promises that nothing changes. A test body still runs in a dry run (its
``chaos.inject`` calls are what the plan is made of), and a body may reach the environment
itself, through the ``chaos_env`` fixture: ``chaos_env.target("web").terminate([...])``. So
the environment of a dry run is this view of the real one. Reading (``instances``,
``active_faults``, ``url``, ``wait_healthy``, and plain attributes such as a Prometheus url)
goes through; any other method of a target or of the environment raises ``DryRunRefused``
naming the call, before it reaches the environment. Allowing reads by name, not refusing
writes by name, keeps a provider's method added later refused until it is known to be safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

from chaoskit.errors import DryRunRefused
from chaoskit.typing import Environment, Target
from chaoskit.vocabulary import Instance, NetworkFault

# The methods that only read: everything else of a target or an environment is refused.
# Planning reads too: a target checks a fault against its blast radius (``check_fault``), an
# FIS template is fetched by id (``fis_template``), a rehearsal looks its targets up by name.
TARGET_READS: Final = frozenset({"instances", "active_faults", "wait_healthy", "check_fault"})
ENVIRONMENT_READS: Final = frozenset({"target", "close", "fis_template", "target_names"})


def _refuse(owner: str, call: str) -> NoReturn:
    raise DryRunRefused(
        f"{owner}.{call} was refused: this is a dry run (--chaos-dry-run), which changes "
        f"nothing; the test body runs so that its chaos.inject calls can be planned, but "
        f"what would change the environment is refused. Run without --chaos-dry-run to do it, "
        f"or skip that step in a dry run (request.config.getoption('chaos_dry_run'))."
    )


def _refusing(owner: str, call: str) -> Callable[..., NoReturn]:
    def refused(*args: object, **kwargs: object) -> NoReturn:
        _refuse(owner, call)

    return refused


class ReadOnlyTarget:
    def __init__(self, target: Target) -> None:
        self._target = target
        self.name = target.name
        self._owner = f"target {target.name!r}"

    @property
    def url(self) -> str | None:
        return self._target.url

    def instances(self) -> list[Instance]:
        return self._target.instances()

    def active_faults(self) -> list[str]:
        return self._target.active_faults()

    def wait_healthy(self, timeout: float) -> None:
        self._target.wait_healthy(timeout)

    def terminate(self, instance_ids: Sequence[str]) -> None:
        _refuse(self._owner, "terminate")

    def add_network_fault(self, instance_ids: Sequence[str], fault: NetworkFault) -> str:
        _refuse(self._owner, "add_network_fault")

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        _refuse(self._owner, "stop_instances")

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        _refuse(self._owner, "reboot_instances")

    def stress_cpu(self, instance_ids: Sequence[str], *, workers: int = 1) -> str:
        _refuse(self._owner, "stress_cpu")

    def remove_fault(self, handle: str) -> None:
        _refuse(self._owner, "remove_fault")

    def __getattr__(self, attribute: str) -> Any:
        # A provider's own methods (a local target's add_latency, ...): refused unless known
        # to only read.
        value = getattr(self._target, attribute)
        if callable(value) and attribute not in TARGET_READS:
            return _refusing(self._owner, attribute)
        return value


class ReadOnlyEnvironment:
    def __init__(self, environment: Environment) -> None:
        self._environment = environment
        self.name = environment.name
        self._targets: dict[str, ReadOnlyTarget] = {}

    def target(self, name: str) -> ReadOnlyTarget:
        if name not in self._targets:
            self._targets[name] = ReadOnlyTarget(self._environment.target(name))
        return self._targets[name]

    def close(self) -> None:
        self._environment.close()

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._environment, attribute)
        if callable(value) and attribute not in ENVIRONMENT_READS:
            return _refusing(f"environment {self.name!r}", attribute)
        return value
