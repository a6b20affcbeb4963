"""How an AWS target's instance faults reach AWS: the one place that differs between
``instance_faults = "ec2"`` (direct EC2 calls) and ``"fis"`` (FIS experiments).

``AwsTarget`` has already resolved, checked and refused what it must (the instances belong
to the target, the blast radius holds) when it calls an ``InstanceActions``; the actions
only act. The environment picks the implementation by the setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chaoskit.config.aws import AwsSettings
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_access import FisAccess
from chaoskit.providers.aws.stopping import start_again, stop_tagged
from chaoskit.typing import Clock, FisRun
from chaoskit.vocabulary import JsonObject

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

    def start_again(self, instance_ids: Sequence[str]) -> None:
        """Start what this run stopped, and wait until it runs (``stopping.start_again``)."""
        start_again(
            self.clients,
            instance_ids,
            run_id=self.run_id,
            clock=self.clock,
            timeout=STOPPING_TIMEOUT,
            poll=self.poll,
        )


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
    def undo(self) -> JsonObject:
        if self.run is None:
            return {}
        undo = dict(self.run.undo)
        if self.restarts:
            undo["start_instances"] = list(self.restarts)
        return undo

    @property
    def details(self) -> JsonObject:
        return {} if self.run is None else dict(self.run.details)


class InstanceActions(Protocol):
    """Instance faults on instances already checked by the target.

    ``stop`` returns a handle that ``remove`` undoes (starting the instances again);
    ``terminate`` and ``reboot`` end by themselves (the target waits for capacity). Each
    raises ProviderError (or a subclass from ``calls.py``) when AWS refuses, and notes in
    ``record`` what it started that the journal should name.
    """

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
    _stopped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _handles: itertools.count[int] = field(default_factory=itertools.count)

    def check(self, action: str) -> None:
        """Every instance action is a direct EC2 call."""

    def terminate(self, instance_ids: Sequence[str], record: ActionRecord) -> None:
        self.context.clients.call(
            self.context.clients.ec2.terminate_instances, InstanceIds=list(instance_ids)
        )

    def stop(self, instance_ids: Sequence[str], record: ActionRecord) -> str:
        handle = f"ec2-stop/{next(self._handles)}"
        # Held before the call: a stop that failed half-way is still undone by remove.
        self._stopped[handle] = tuple(instance_ids)
        stop_tagged(self.context.clients, instance_ids, run_id=self.context.run_id)
        return handle

    def reboot(self, instance_ids: Sequence[str], record: ActionRecord) -> None:
        self.context.clients.call(
            self.context.clients.ec2.reboot_instances, InstanceIds=list(instance_ids)
        )

    def remove(self, handle: str) -> None:
        instance_ids = self._stopped.get(handle)
        if instance_ids is None:
            return
        self.context.start_again(instance_ids)
        del self._stopped[handle]

    def active(self) -> list[str]:
        return list(self._stopped)
