"""How an AWS target's instance faults reach AWS: the one place that differs between
``instance_faults = "ec2"`` (direct EC2 calls) and ``"fis"`` (FIS experiments).

``AwsTarget`` has already resolved, checked and refused what it must (the instances belong
to the target, the blast radius holds) when it calls an ``InstanceActions``; the actions
only act. ``make_instance_actions`` picks the implementation by the setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaoskit.config.aws import AwsSettings
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_access import FisAccess
from chaoskit.providers.aws.stopping import start_again, stop_tagged
from chaoskit.typing import Clock, FisRun

# The Target methods an instance fault acts through (see chaoskit.faults), by the fault they
# belong to: what every InstanceActions implements.
INSTANCE_ACTIONS = {
    "terminate": "TerminateInstances",
    "stop_instances": "StopInstances",
    "reboot_instances": "RebootInstances",
}
# How long starting an instance again waits for it to finish stopping first.
STOPPING_TIMEOUT = 300.0


@dataclass(frozen=True, kw_only=True)
class ActionContext:
    """What an InstanceActions may use: the environment's name, settings and clients, the
    run it acts for (tag what is created or changed with ``run_id``), and the clock."""

    env: str
    run_id: str
    settings: AwsSettings
    clients: AwsClients
    clock: Clock
    fis: FisAccess
    poll: float = 5.0


@dataclass(kw_only=True)
class ActionRecord:
    """One fault's call into the actions (``chaoskit.typing.FaultRecord``): how long the fault
    is held (what FIS starts is bounded by it) and, afterwards, the FIS experiment run for it
    and the instances to start again when it is undone; empty for direct EC2 calls."""

    fault: str = ""
    hold: float | None = None
    run: FisRun | None = None
    restarts: tuple[str, ...] = ()

    @property
    def undo(self) -> Mapping[str, Any]:
        if self.run is None:
            return {}
        undo = dict(self.run.undo)
        if self.restarts:
            undo["start_instances"] = list(self.restarts)
        return undo

    @property
    def details(self) -> Mapping[str, Any]:
        return {} if self.run is None else dict(self.run.details)


class InstanceActions(Protocol):
    """Instance faults on instances already checked by the target.

    ``stop`` returns a handle that ``remove`` undoes (starting the instances again);
    ``terminate`` and ``reboot`` end by themselves (the target waits for capacity). Each
    raises ProviderError (or a subclass from ``calls.py``) when AWS refuses, and notes in
    ``record`` what it started that the journal should name.
    """

    kind: str  # the instance_faults setting it implements

    def check(self, action: str) -> None:
        """ConfigError, at plan time, when this implementation cannot do ``action`` (a key
        of INSTANCE_ACTIONS) in this environment."""

    def terminate(self, instance_ids: Sequence[str], record: ActionRecord) -> None: ...

    def stop(self, instance_ids: Sequence[str], record: ActionRecord) -> str: ...

    def reboot(self, instance_ids: Sequence[str], record: ActionRecord) -> None: ...

    def remove(self, handle: str) -> None:
        """Undo ``stop``; idempotent (an unknown or removed handle is not an error)."""

    def active(self) -> list[str]:
        """Handles of what ``stop`` holds right now."""


@dataclass(kw_only=True)
class Ec2InstanceActions:
    """Direct EC2 calls: TerminateInstances, StopInstances (after tagging the instances with
    the run id, see ``stopping.py``), RebootInstances; reverting a stop starts them again."""

    context: ActionContext
    kind: str = "ec2"
    _stopped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _handles: itertools.count[int] = field(default_factory=itertools.count)

    def check(self, action: str) -> None:
        """Every instance action is a direct EC2 call."""

    def terminate(self, instance_ids: Sequence[str], record: ActionRecord) -> None:
        self.context.clients.call("ec2", "TerminateInstances", InstanceIds=list(instance_ids))

    def stop(self, instance_ids: Sequence[str], record: ActionRecord) -> str:
        handle = f"ec2-stop/{next(self._handles)}"
        # Held before the call: a stop that failed half-way is still undone by remove.
        self._stopped[handle] = tuple(instance_ids)
        stop_tagged(self.context.clients, instance_ids, run_id=self.context.run_id)
        return handle

    def reboot(self, instance_ids: Sequence[str], record: ActionRecord) -> None:
        self.context.clients.call("ec2", "RebootInstances", InstanceIds=list(instance_ids))

    def remove(self, handle: str) -> None:
        instance_ids = self._stopped.get(handle)
        if instance_ids is None:
            return
        start_again(
            self.context.clients,
            instance_ids,
            run_id=self.context.run_id,
            clock=self.context.clock,
            timeout=STOPPING_TIMEOUT,
            poll=self.context.poll,
        )
        del self._stopped[handle]

    def active(self) -> list[str]:
        return list(self._stopped)


# instance_faults -> how to make its InstanceActions.
def _through_fis(context: ActionContext) -> InstanceActions:
    # A module of its own, built on this one's context and record: imported when chosen.
    from chaoskit.providers.aws.fis_instance_actions import FisInstanceActions

    return FisInstanceActions(context=context)


MAKERS: Mapping[str, Callable[[ActionContext], InstanceActions]] = {
    "ec2": lambda context: Ec2InstanceActions(context=context),
    "fis": _through_fis,
}


def make_instance_actions(context: ActionContext) -> InstanceActions:
    return MAKERS[context.settings.instance_faults](context)
