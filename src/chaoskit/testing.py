"""Fakes for testing experiments and chaoskit itself without processes, clocks or clouds.

``FakeClock`` advances only when slept on; ``FakeLoadDriver`` synthesises per-second
measurements from a function of time; ``FakeEnvironment`` holds ``FakeTarget``s that record
what was done to them and can be told to fail.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoskit.errors import ConfigError, InjectionError, ProviderError, RevertError
from chaoskit.slo.seconds import SecondStats
from chaoskit.typing import Environment, Target
from chaoskit.vocabulary import FaultPlan, Instance, LoadProgress, NetworkFault


class FakeClock:
    """Time stands still until someone sleeps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)


@dataclass(frozen=True, kw_only=True)
class Traffic:
    """What the fake load sees in one second."""

    requests: int = 200
    latency_ms: float = 5.0
    error_ratio: float = 0.0
    # Requests the schedule meant to send in the second that never completed.
    missing: int = 0
    # Requests of the second not back yet, as ``peek`` shows them, each this old by then.
    in_flight: int = 0
    in_flight_age_ms: float = 0.0
    # Requests of the second that waited for their user, busy with earlier task runs.
    queued: int = 0
    queued_max_ms: float = 0.0
    # Scheduled runs of the second that found no free user (counted in ``expected`` too),
    # and how many users the load ran in it.
    dropped: int = 0
    users: int = 0
    # The load generator lagged in this second: why (marks it invalid), and how late it ran.
    invalid: str = ""
    lag_ms: float = 0.0


class FakeLoadDriver:
    """Per-second measurements from ``traffic(second) -> Traffic`` while started."""

    def __init__(self, traffic: Callable[[int], Traffic] = lambda second: Traffic()) -> None:
        self.traffic = traffic
        self.running = False
        # From this time on the load generators report nothing (None: they always report).
        self.silent_from: float | None = None
        self.starts = 0
        self.stops = 0

    def start(self) -> None:
        self.running = True
        self.starts += 1

    def stop(self) -> None:
        self.running = False
        self.stops += 1

    def collect(self, start: float, end: float) -> list[SecondStats]:
        seconds = []
        # Like the real driver: every second overlapping [start, end).
        for second in range(math.floor(start), math.ceil(end)):
            traffic = self.traffic(second)
            stats = SecondStats(
                second=second,
                expected=traffic.requests + traffic.missing + traffic.dropped,
                queued=traffic.queued,
                queued_max_ms=traffic.queued_max_ms,
                dropped=traffic.dropped,
                users=traffic.users,
            )
            failures = round(traffic.requests * traffic.error_ratio)
            for _ in range(traffic.requests - failures):
                stats.record_ok(traffic.latency_ms * 1000)
            for _ in range(failures):
                stats.record_failure("ConnectionResetError")
            stats.lag_ms = traffic.lag_ms
            if traffic.invalid:
                stats.mark_invalid(traffic.invalid, lag_ms=traffic.lag_ms)
            seconds.append(stats)
        return seconds

    def peek(self, start: float, end: float) -> list[SecondStats]:
        seconds = self.collect(start, end)
        for stats in seconds:
            traffic = self.traffic(stats.second)
            stats.in_flight = traffic.in_flight
            stats.in_flight_age_us = traffic.in_flight_age_ms * 1000
        return seconds

    def progress(self) -> LoadProgress:
        """Every second counts as complete unless its traffic has requests ``in_flight``."""
        reported = math.inf if self.silent_from is None else self.silent_from
        return LoadProgress(complete_until=math.inf, reported_at=reported)

    def close(self) -> None:
        self.running = False


@dataclass(kw_only=True)
class FakeTarget:
    """``size`` healthy instances; ``states`` overrides an instance's state by id, ``tags``
    and ``replica_tags`` (cycled by index) tag them like the local provider does.

    Stop and stress faults are kept in ``faults`` like latency (a stopped instance shows
    "stopped" until its fault is removed); ``rebooted`` records reboots.
    """

    name: str
    size: int = 3
    tags: Mapping[str, str] = field(default_factory=dict)
    replica_tags: Sequence[Mapping[str, str]] = ()
    states: dict[str, str] = field(default_factory=dict)
    fail_terminate: bool = False
    # stop_instances, reboot_instances and stress_cpu refuse
    fail_actions: bool = False
    fail_remove: bool = False
    # add_network_fault applies the fault, then fails (like a request that timed out too late)
    fail_after_adding: bool = False
    fail_listing: bool = False
    url: str | None = "http://127.0.0.1:1"
    terminated: list[str] = field(default_factory=list)
    rebooted: list[str] = field(default_factory=list)
    faults: dict[str, Sequence[str]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def instances(self) -> list[Instance]:
        stopped = {
            instance_id
            for handle, ids in self.faults.items()
            if handle.startswith("stop-")
            for instance_id in ids
        }
        instances = []
        for index in range(self.size):
            instance_id = f"i-{index:012x}"
            if instance_id in self.terminated:
                continue
            tags = dict(self.tags)
            if self.replica_tags:
                tags.update(self.replica_tags[index % len(self.replica_tags)])
            state = "stopped" if instance_id in stopped else self.states.get(instance_id, "healthy")
            instances.append(
                Instance(
                    id=instance_id,
                    target=self.name,
                    address=f"127.0.0.1:{9000 + index}",
                    state=state,
                    tags=tags,
                )
            )
        return instances

    def terminate(self, instance_ids: Sequence[str]) -> None:
        if self.fail_terminate:
            raise ProviderError(f"refused to terminate {', '.join(instance_ids)}")
        self.terminated.extend(instance_ids)

    def add_network_fault(self, instance_ids: Sequence[str], fault: NetworkFault) -> str:
        handle = f"fault-{next(self._ids)}"
        self.faults[handle] = tuple(instance_ids)
        if self.fail_after_adding:
            raise ProviderError("control request timed out")
        return handle

    def add_latency(self, instance_ids: Sequence[str], *, delay: float, jitter: float) -> str:
        """The older spelling of ``add_network_fault`` for latency, kept working."""
        fault = NetworkFault(kind="latency", delay=delay, jitter=jitter)
        return self.add_network_fault(instance_ids, fault)

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        return self._hold("stop", instance_ids)

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        if self.fail_actions:
            raise ProviderError(f"refused to reboot {', '.join(instance_ids)}")
        self.rebooted.extend(instance_ids)

    def stress_cpu(self, instance_ids: Sequence[str], *, workers: int = 1) -> str:
        return self._hold("stress", instance_ids)

    def _hold(self, kind: str, instance_ids: Sequence[str]) -> str:
        if self.fail_actions:
            raise ProviderError(f"refused to {kind} {', '.join(instance_ids)}")
        handle = f"{kind}-{next(self._ids)}"
        self.faults[handle] = tuple(instance_ids)
        if self.fail_after_adding:
            raise ProviderError("control request timed out")
        return handle

    def remove_fault(self, handle: str) -> None:
        if self.fail_remove:
            raise ProviderError(f"could not remove {handle}")
        self.faults.pop(handle, None)

    def active_faults(self) -> list[str]:
        if self.fail_listing:
            raise ProviderError("control port unreachable")
        return list(self.faults)

    def wait_healthy(self, timeout: float) -> None:
        if self.fail_remove:
            raise ProviderError("capacity did not return")
        self.terminated.clear()


@dataclass(kw_only=True)
class FakeEnvironment:
    name: str = "fake"
    targets: dict[str, FakeTarget] = field(default_factory=lambda: {"web": FakeTarget(name="web")})
    closed: bool = False

    def target_names(self) -> tuple[str, ...]:
        return tuple(self.targets)

    def target(self, name: str) -> FakeTarget:
        if name not in self.targets:
            raise ConfigError(
                f"target {name!r} is not defined in environment {self.name!r}; "
                f"known targets: {', '.join(sorted(self.targets))}."
            )
        return self.targets[name]

    def close(self) -> None:
        self.closed = True


@dataclass(kw_only=True)
class FakeFault:
    """A fault that only counts: injected and reverted, or made to fail at either."""

    target: str = "web"
    fail_inject: bool = False
    fail_revert: bool = False
    injected: int = 0
    reverted: int = 0

    def describe(self) -> str:
        return f"FakeFault on {self.target}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        first = env.target(self.target).instances()[0]
        return FaultPlan(fault=self.describe(), target=self.target, instance_ids=(first.id,))

    def inject(self, plan: FaultPlan, env: Environment) -> _FakeInjection:
        if self.fail_inject:
            raise InjectionError(f"{plan.fault}: refused")
        self.injected += 1
        return _FakeInjection(plan=plan, fault=self)


@dataclass(kw_only=True)
class _FakeInjection:
    plan: FaultPlan
    fault: FakeFault

    @property
    def undo(self) -> Mapping[str, object]:
        return {"op": "nothing"}

    def revert(self) -> None:
        if self.fault.fail_revert:
            raise RevertError(f"{self.plan.fault} is still active on {self.plan.instance_ids[0]}")
        self.fault.reverted += 1


if TYPE_CHECKING:
    # mypy --strict fails here as soon as a fake falls behind the protocol it stands in for.
    _target: Target = FakeTarget(name="web")
    _environment: Environment = FakeEnvironment()
