"""Faults on whole instances short of terminating them: stop, reboot, CPU stress.

Each picks its instances like ``TerminateInstances``: ``count`` (default 1) or ``percent`` of
the target's instances, among those carrying all of ``tags`` if given, healthy ones only.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from chaoskit.durations import Duration, parse_duration
from chaoskit.faults._removable import AwaitsCapacity, RemovableInjection, add_fault, start_fault
from chaoskit.faults._selection import SelectsInstances, check_selection
from chaoskit.typing import Environment
from chaoskit.vocabulary import FaultPlan, JsonObject, check_workers

# How long reverting waits for the target to be healthy again before calling it a failure.
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_REBOOT_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class _StopFields(SelectsInstances):
    start_timeout: float  # seconds


class StopInstances(_StopFields):
    """Stop instances of ``target``, like stopping an EC2 instance: each keeps its identity and
    address but answers nothing, so requests to it hang until the health check takes it out.
    Reverting starts them again and waits until the target is healthy (``start_timeout``).
    """

    action: ClassVar[str] = "stop_instances"

    def __init__(
        self,
        *,
        target: str,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
        start_timeout: Duration = DEFAULT_START_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        super().__init__(
            **check_selection(name, target=target, count=count, percent=percent, tags=tags),
            start_timeout=parse_duration(
                start_timeout, field=f"{name}(start_timeout)", allow_zero=False
            ),
        )

    def describe(self) -> str:
        return f"StopInstances {self.selection_text()}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        # Capacity gone for the whole hold, as with terminating, and worse for clients: requests
        # to a stopped instance hang until the health check notices instead of failing fast.
        return self.plan_capacity_loss(env, rng, least=2.0)

    def inject(self, plan: FaultPlan, env: Environment) -> _Stopped:
        target = env.target(plan.target)
        handle, record = add_fault(target, plan, lambda: target.stop_instances(plan.instance_ids))
        return _Stopped(
            plan=plan,
            removal=RemovableInjection(plan=plan, target=target, handle=handle, record=record),
            capacity=AwaitsCapacity(
                plan=plan, target=target, timeout=self.start_timeout, action="starting"
            ),
        )


@dataclass(kw_only=True)
class _Stopped:
    """Reverting a stop removes it (once), then waits until the target is at healthy capacity
    (once); either step that fails is tried again by the next revert."""

    plan: FaultPlan
    removal: RemovableInjection
    capacity: AwaitsCapacity

    @property
    def undo(self) -> JsonObject:
        return self.removal.undo

    @property
    def details(self) -> JsonObject:
        return {**self.removal.details, **self.capacity.details}

    def revert(self) -> None:
        self.removal.revert()
        self.capacity.revert()


@dataclass(frozen=True, kw_only=True)
class _RebootFields(SelectsInstances):
    reboot_timeout: float  # seconds


class RebootInstances(_RebootFields):
    """Reboot instances of ``target``, like an EC2 reboot: each shuts down and starts again
    with the same identity and address, and is not replaced. It ends on its own; reverting
    waits until the target is healthy again (``reboot_timeout``).
    """

    action: ClassVar[str] = "reboot_instances"

    def __init__(
        self,
        *,
        target: str,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
        reboot_timeout: Duration = DEFAULT_REBOOT_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        super().__init__(
            **check_selection(name, target=target, count=count, percent=percent, tags=tags),
            reboot_timeout=parse_duration(
                reboot_timeout, field=f"{name}(reboot_timeout)", allow_zero=False
            ),
        )

    def describe(self) -> str:
        return f"RebootInstances {self.selection_text()}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        # Capacity lost, but only for as long as a restart takes, and nothing is replaced:
        # between latency and terminating.
        return self.plan_capacity_loss(env, rng, least=1.5)

    def inject(self, plan: FaultPlan, env: Environment) -> AwaitsCapacity:
        target = env.target(plan.target)
        record = start_fault(target, plan, lambda: target.reboot_instances(plan.instance_ids))
        return AwaitsCapacity(
            plan=plan,
            target=target,
            timeout=self.reboot_timeout,
            action="rebooting",
            record=record,
        )


@dataclass(frozen=True, kw_only=True)
class _StressFields(SelectsInstances):
    workers: int


class StressCpu(_StressFields):
    """Starve instances of ``target`` of CPU: locally each is pinned to one core beside
    ``workers`` busy-looping processes, leaving it about 1/(workers+1) of that core while the
    other instances keep theirs. Reverting removes the stress.
    """

    action: ClassVar[str] = "stress_cpu"

    def __init__(
        self,
        *,
        target: str,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        name = type(self).__name__
        super().__init__(
            **check_selection(name, target=target, count=count, percent=percent, tags=tags),
            workers=check_workers(workers, field=f"{name}(workers)"),
        )

    def describe(self) -> str:
        burners = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        return f"StressCpu {burners} on {self.selection_text()}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        target = env.target(self.target)
        instances = target.instances()
        chosen = self.choose_on(target, instances, rng)
        # Slower, not gone: 1, plus up to 2 as the stressed share of the target and the share
        # of CPU taken from each grow (all instances at 1/4 of a core is close to an outage).
        taken = self.workers / (self.workers + 1)
        share = len(chosen) / max(1, len(instances))
        return FaultPlan(
            fault=self.describe(),
            target=self.target,
            instance_ids=chosen,
            details={"workers": self.workers},
            severity=1.0 + 2.0 * share * taken,
        )

    def inject(self, plan: FaultPlan, env: Environment) -> RemovableInjection:
        target = env.target(plan.target)
        handle, record = add_fault(
            target, plan, lambda: target.stress_cpu(plan.instance_ids, workers=self.workers)
        )
        return RemovableInjection(plan=plan, target=target, handle=handle, record=record)
