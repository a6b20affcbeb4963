"""An AWS target: the EC2 instances a target name selects, and the instance faults on them.

Before any write the target checks, with fresh Describe calls, that every instance asked for
is one of its own live instances and that their number is within the blast radius
(``max_count``, ``max_percent`` of its live instances rounded down); faults are refused the
same way at plan time (``check_fault``). ``Latency`` runs as an FIS experiment (SSM's
AWSFIS-Run-Network-Latency); the other proxy-only faults (bandwidth, HTTP errors, ...) and CPU
stress are refused at plan time: an EC2 instance has no chaoskit proxy in front.

Faults call it inside ``recording(plan)`` (``chaoskit.typing.RecordsFaults``): the FIS
experiment an action starts is bounded by the plan's hold, and named in the injection's undo
and details.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_fixed

from chaoskit.config.aws import AwsTargetSettings
from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_instance_actions import FisInstanceActions
from chaoskit.providers.aws.instance_actions import (
    INSTANCE_ACTIONS,
    ActionRecord,
    InstanceActions,
)
from chaoskit.providers.aws.instances import (
    Ec2Instance,
    describe_ids,
    find_instances,
    group_capacities,
    with_groups,
)
from chaoskit.typing import Clock
from chaoskit.vocabulary import FaultPlan, Instance, NetworkFault

# Network faults an EC2 instance takes through FIS, by fault name.
FIS_NETWORK_FAULTS = ("Latency",)


class _NotYet(ProviderError):
    pass


class AwsTarget:
    def __init__(
        self,
        *,
        env: str,
        spec: AwsTargetSettings,
        clients: AwsClients,
        actions: InstanceActions,
        fis: FisInstanceActions,
        clock: Clock,
        poll: float = 5.0,
    ) -> None:
        self.name = spec.name
        self.env = env
        self.spec = spec
        self._clients = clients
        self._actions = actions
        self._fis = fis  # latency, whatever instance_faults says
        self._record: ActionRecord | None = None  # of the fault being injected
        self._clock = clock
        self._poll = poll
        # Capacity lost and not yet restored: since when, which groups must refill, and
        # which instances must run again (stopped or rebooted, not terminated).
        self._lost_at: float | None = None
        self._groups: set[str] = set()
        self._returning: set[str] = set()

    @property
    def url(self) -> str | None:
        return self.spec.url

    def instances(self) -> list[Instance]:
        return [i.as_instance(self.name) for i in self._live()]

    def check_fault(self, *, fault: str, action: str, instance_ids: Sequence[str], of: int) -> None:
        if action == "add_network_fault" and fault in FIS_NETWORK_FAULTS:
            self._fis.check(fault)
        elif action in INSTANCE_ACTIONS:
            self._actions.check(action)
        else:
            raise ConfigError(
                f"{fault} on target {self.name!r}: the aws provider (environment "
                f"{self.env!r}) cannot inject {fault}; on EC2 instances it injects "
                f"{', '.join([*INSTANCE_ACTIONS.values(), *FIS_NETWORK_FAULTS])}. Run {fault} "
                f"against the local environment, or choose one of those."
            )
        limit = self.blast_radius(of)
        if len(instance_ids) > limit:
            raise ConfigError(
                f"{fault} would hit {len(instance_ids)} instance(s), which exceeds the blast "
                f"radius of target {self.name!r} (max {limit} of {of} instances: "
                f"{self.limits_text()}); raise it in "
                f"[tool.chaoskit.env.{self.env}.targets.{self.name}] or lower the fault's "
                f"count or percent."
            )

    def blast_radius(self, live: int) -> int:
        """The most instances one fault may hit when the target has ``live`` instances."""
        limits = [live]
        if self.spec.max_count is not None:
            limits.append(self.spec.max_count)
        if self.spec.max_percent is not None:
            # Rounded down, exactly: a limit must never be exceeded by rounding.
            limits.append(math.floor(Fraction(str(self.spec.max_percent)) * live / 100))
        return min(limits)

    @contextmanager
    def recording(self, plan: FaultPlan) -> Iterator[ActionRecord]:
        record = ActionRecord(fault=plan.fault, hold=plan.hold)
        self._record = record
        try:
            yield record
        finally:
            self._record = None

    def terminate(self, instance_ids: Sequence[str]) -> None:
        victims = self._checked("terminate", "TerminateInstances", instance_ids)
        self._note_loss(victims, returning=False)
        self._actions.terminate(instance_ids, self._current())

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        victims = self._checked("stop_instances", "StopInstances", instance_ids)
        self._note_loss(victims, returning=True)
        return self._actions.stop(instance_ids, self._current())

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        victims = self._checked("reboot_instances", "RebootInstances", instance_ids)
        self._note_loss(victims, returning=True)
        self._actions.reboot(instance_ids, self._current())

    def add_network_fault(self, instance_ids: Sequence[str], fault: NetworkFault) -> str:
        name = "Latency" if fault.kind == "latency" else f"a {fault.kind} fault"
        self._checked("add_network_fault", name, instance_ids)
        return self._fis.latency(instance_ids, fault, self._current())

    def add_latency_to_sources(
        self, instance_ids: Sequence[str], fault: NetworkFault, sources: Sequence[str]
    ) -> str:
        self._checked("add_network_fault", "Latency", instance_ids)
        return self._fis.latency(instance_ids, fault, self._current(), sources=sources)

    def stress_cpu(self, instance_ids: Sequence[str], *, workers: int = 1) -> str:
        self.check_fault(fault="StressCpu", action="stress_cpu", instance_ids=(), of=0)
        raise AssertionError("check_fault refuses CPU stress")

    def remove_fault(self, handle: str) -> None:
        if handle in self._fis.active():
            self._fis.remove(handle)
        else:
            self._actions.remove(handle)

    def active_faults(self) -> list[str]:
        return sorted({*self._actions.active(), *self._fis.active()})

    def _current(self) -> ActionRecord:
        """The record of the fault being injected; a fresh one for a call made outside one."""
        return self._record or ActionRecord()

    def wait_healthy(self, timeout: float) -> float | None:
        """Wait until every Auto Scaling group that lost an instance is back at its desired
        capacity with healthy instances, and every stopped or rebooted instance that still
        exists is healthy; returns the time to self-heal since the first loss, when it was
        seen to happen.

        Capacity is first checked here, at the revert: a group that refilled during the hold
        is whole at the first look, and when it became whole is not known, so None is
        returned rather than the hold's length passing for the time to self-heal."""
        deadline = self._clock.now() + timeout

        def past_deadline(state: RetryCallState) -> bool:
            return self._clock.now() >= deadline

        retrying = Retrying(
            stop=past_deadline,
            wait=wait_fixed(self._poll),
            retry=retry_if_exception_type(_NotYet),
            sleep=self._clock.sleep,
            reraise=True,
        )
        looks = 0

        def look() -> None:
            nonlocal looks
            looks += 1
            self._check_restored()

        try:
            retrying(look)
        except _NotYet as error:
            raise ProviderError(
                f"target {self.name!r} is not back at healthy capacity after {timeout:g}s: {error}"
            ) from error
        seen = self._lost_at is not None and looks > 1  # short at the first look, then whole
        healed = self._clock.now() - self._lost_at if seen and self._lost_at is not None else None
        self._lost_at = None
        self._groups.clear()
        self._returning.clear()
        return healed

    def _check_restored(self) -> None:
        short = [
            group.describe()
            for group in group_capacities(self._clients, self._groups)
            if not group.restored
        ]
        returning = with_groups(self._clients, describe_ids(self._clients, sorted(self._returning)))
        waiting = [
            f"{i.id} is {i.state}" + (f" ({i.lifecycle}, {i.health})" if i.group else "")
            for i in returning
            if i.state not in ("shutting-down", "terminated") and not i.healthy
        ]
        if short or waiting:
            raise _NotYet("; ".join([*short, *waiting]))

    def _live(self) -> list[Ec2Instance]:
        return find_instances(self._clients, self.env, self.spec)

    def _checked(self, action: str, fault: str, instance_ids: Sequence[str]) -> list[Ec2Instance]:
        """The instances asked for, refused unless every one is a live instance of this target
        and their number is within the blast radius (fresh Describe calls, before the write)."""
        live = self._live()
        mine = {i.id: i for i in live}
        strangers = [i for i in instance_ids if i not in mine]
        if strangers:
            raise ConfigError(
                f"{fault} on {', '.join(strangers)} refused: not live instances of target "
                f"{self.name!r} (environment {self.env!r}, selected by "
                f"{self.selector_text()}); nothing was changed."
            )
        self.check_fault(fault=fault, action=action, instance_ids=instance_ids, of=len(live))
        return [mine[i] for i in instance_ids]

    def _note_loss(self, victims: Sequence[Ec2Instance], *, returning: bool) -> None:
        if self._lost_at is None:
            self._lost_at = self._clock.now()
        self._groups.update(v.group for v in victims if v.group is not None)
        if returning:
            self._returning.update(v.id for v in victims)

    def limits_text(self) -> str:
        limits = []
        if self.spec.max_count is not None:
            limits.append(f"max_count = {self.spec.max_count}")
        if self.spec.max_percent is not None:
            limits.append(f"max_percent = {self.spec.max_percent:g}, rounded down")
        return " and ".join(limits)

    def selector_text(self) -> str:
        parts = [f"tags {dict(self.spec.tags)}"] if self.spec.tags else []
        if self.spec.asg:
            parts.append(f"asg {self.spec.asg!r}")
        if self.spec.availability_zones:
            parts.append(f"availability_zones {list(self.spec.availability_zones)}")
        return ", ".join(parts)
