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
from typing import Protocol

from chaoskit.config.aws import AwsSettings
from chaoskit.errors import ConfigError
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.stopping import start_again, stop_tagged
from chaoskit.typing import Clock

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
    poll: float = 5.0


class InstanceActions(Protocol):
    """Instance faults on instances already checked by the target.

    ``stop`` returns a handle that ``remove`` undoes (starting the instances again);
    ``terminate`` and ``reboot`` end by themselves (the target waits for capacity). Each
    raises ProviderError (or a subclass from ``calls.py``) when AWS refuses.
    """

    kind: str  # the instance_faults setting it implements

    def check(self, action: str) -> None:
        """ConfigError, at plan time, when this implementation cannot do ``action`` (a key
        of INSTANCE_ACTIONS) in this environment."""

    def terminate(self, instance_ids: Sequence[str]) -> None: ...

    def stop(self, instance_ids: Sequence[str]) -> str: ...

    def reboot(self, instance_ids: Sequence[str]) -> None: ...

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

    def terminate(self, instance_ids: Sequence[str]) -> None:
        self.context.clients.call("ec2", "TerminateInstances", InstanceIds=list(instance_ids))

    def stop(self, instance_ids: Sequence[str]) -> str:
        handle = f"ec2-stop/{next(self._handles)}"
        # Held before the call: a stop that failed half-way is still undone by remove.
        self._stopped[handle] = tuple(instance_ids)
        stop_tagged(self.context.clients, instance_ids, run_id=self.context.run_id)
        return handle

    def reboot(self, instance_ids: Sequence[str]) -> None:
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


@dataclass(kw_only=True)
class FisInstanceActionsUnavailable:
    """``instance_faults = "fis"`` before instance faults through FIS exist: every instance
    fault is refused at plan time, naming the setting and the way out."""

    context: ActionContext
    kind: str = "fis"

    def check(self, action: str) -> None:
        raise ConfigError(
            f'[tool.chaoskit.env.{self.context.env}] instance_faults = "fis" (the default): '
            f"{INSTANCE_ACTIONS.get(action, action)} through an FIS experiment is not "
            f'available in this version; set instance_faults = "ec2" to inject instance '
            f"faults with direct EC2 calls."
        )

    def terminate(self, instance_ids: Sequence[str]) -> None:
        self.check("terminate")

    def stop(self, instance_ids: Sequence[str]) -> str:
        self.check("stop_instances")
        raise AssertionError("check refuses every action")

    def reboot(self, instance_ids: Sequence[str]) -> None:
        self.check("reboot_instances")

    def remove(self, handle: str) -> None:
        """Nothing can have been stopped through it."""

    def active(self) -> list[str]:
        return []


# instance_faults -> how to make its InstanceActions.
MAKERS: Mapping[str, Callable[[ActionContext], InstanceActions]] = {
    "ec2": lambda context: Ec2InstanceActions(context=context),
    "fis": lambda context: FisInstanceActionsUnavailable(context=context),
}


def make_instance_actions(context: ActionContext) -> InstanceActions:
    return MAKERS[context.settings.instance_faults](context)
