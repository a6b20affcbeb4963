"""Added network latency on some instances of a target."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chaoskit.durations import format_duration, parse_duration
from chaoskit.errors import ConfigError, InjectionError, ProviderError, RevertError
from chaoskit.faults._selection import select_instances, validate_count
from chaoskit.typing import Environment, FaultPlan, Target


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Delay every response of ``count`` instances of ``target`` by ``delay`` ± ``jitter``."""

    target: str
    delay: str | float | timedelta
    jitter: str | float | timedelta = 0.0
    count: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target:
            raise ConfigError(f"Latency(target={self.target!r}): name a target, e.g. target='web'.")
        delay = parse_duration(self.delay, field="Latency(delay)", allow_zero=False)
        jitter = parse_duration(self.jitter, field="Latency(jitter)")
        if jitter > delay:
            raise ConfigError(
                f"Latency(jitter={self.jitter!r}) is larger than delay={self.delay!r}; a delay "
                f"cannot go below zero, so keep jitter at most the delay."
            )
        validate_count(self.count, fault="Latency")
        # Normalised once: from here on both are seconds.
        object.__setattr__(self, "delay", delay)
        object.__setattr__(self, "jitter", jitter)

    @property
    def delay_seconds(self) -> float:
        assert isinstance(self.delay, float)
        return self.delay

    @property
    def jitter_seconds(self) -> float:
        assert isinstance(self.jitter, float)
        return self.jitter

    def describe(self) -> str:
        jitter = f" ±{format_duration(self.jitter_seconds)}" if self.jitter_seconds else ""
        return (
            f"Latency {format_duration(self.delay_seconds)}{jitter} "
            f"on {self.count} of {self.target}"
        )

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        target = env.target(self.target)
        chosen = select_instances(target.instances(), count=self.count, target=self.target, rng=rng)
        return FaultPlan(
            fault=self.describe(),
            target=self.target,
            instance_ids=chosen,
            details={"delay_s": self.delay_seconds, "jitter_s": self.jitter_seconds},
            # 1 for a small delay, growing with it: 2 at 500 ms, 3 (the most) from 1 s.
            severity=1.0 + min(2.0, 2 * self.delay_seconds),
        )

    def inject(self, plan: FaultPlan, env: Environment) -> _AddedLatency:
        target = env.target(plan.target)
        before = set(target.active_faults())
        try:
            handle = target.add_latency(
                plan.instance_ids, delay=self.delay_seconds, jitter=self.jitter_seconds
            )
        except ProviderError as error:
            _undo_partial_injection(target, before, plan, error)
            raise InjectionError(
                f"{plan.fault} on {', '.join(plan.instance_ids)}: {error}"
            ) from error
        return _AddedLatency(plan=plan, target=target, handle=handle)


def _undo_partial_injection(
    target: Target, before: set[str], plan: FaultPlan, error: ProviderError
) -> None:
    """A failed request may still have taken effect (a timeout after the provider applied it):
    remove any fault that appeared since, or say that one may be active."""
    try:
        for handle in set(target.active_faults()) - before:
            target.remove_fault(handle)
    except ProviderError as cleanup_error:
        raise RevertError(
            f"{plan.fault} on {', '.join(plan.instance_ids)}: injecting failed ({error}) and "
            f"whether it took effect could not be checked ({cleanup_error}); it may be active."
        ) from error


@dataclass(kw_only=True)
class _AddedLatency:
    plan: FaultPlan
    target: Target
    handle: str
    _removed: bool = field(default=False, init=False)

    @property
    def undo(self) -> Mapping[str, Any]:
        return {"op": "remove_fault", "target": self.plan.target, "handle": self.handle}

    def revert(self) -> None:
        if self._removed:
            return
        try:
            self.target.remove_fault(self.handle)
        except ProviderError as error:
            raise RevertError(
                f"latency {self.handle} is still active on {', '.join(self.plan.instance_ids)} "
                f"of target {self.plan.target!r}: {error}"
            ) from error
        self._removed = True
