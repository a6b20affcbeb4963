"""Terminate instances: the replicas die; the environment's supervisor (or ASG) replaces them."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError, InjectionError, ProviderError, RevertError
from chaoskit.faults._selection import select_instances, validate_count
from chaoskit.typing import Environment, FaultPlan, Target

# How long revert waits for the target to be back at capacity before calling it a failure.
DEFAULT_REPLACE_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class TerminateInstances:
    """Kill ``count`` instances of ``target``. Reverting waits until capacity is restored."""

    target: str
    count: int = 1
    replace_timeout: str | float | timedelta = DEFAULT_REPLACE_TIMEOUT

    def __post_init__(self) -> None:
        timeout = parse_duration(
            self.replace_timeout, field="TerminateInstances(replace_timeout)", allow_zero=False
        )
        object.__setattr__(self, "replace_timeout", timeout)  # normalised once, to seconds
        if not isinstance(self.target, str) or not self.target:
            raise ConfigError(
                f"TerminateInstances(target={self.target!r}): name a target, e.g. target='web'."
            )
        validate_count(self.count, fault="TerminateInstances")

    def describe(self) -> str:
        return f"TerminateInstances {self.count} of {self.target}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        target = env.target(self.target)
        chosen = select_instances(target.instances(), count=self.count, target=self.target, rng=rng)
        # Losing capacity is the severe end of the scale: 2, plus 1 for losing all of it.
        share = len(chosen) / max(1, len(target.instances()))
        return FaultPlan(
            fault=self.describe(),
            target=self.target,
            instance_ids=chosen,
            severity=2.0 + share,
        )

    def inject(self, plan: FaultPlan, env: Environment) -> _Termination:
        target = env.target(plan.target)
        try:
            target.terminate(plan.instance_ids)
        except ProviderError as error:
            raise InjectionError(
                f"{plan.fault} on {', '.join(plan.instance_ids)}: {error}"
            ) from error
        assert isinstance(self.replace_timeout, float)
        return _Termination(plan=plan, target=target, timeout=self.replace_timeout)


@dataclass(kw_only=True)
class _Termination:
    plan: FaultPlan
    target: Target
    timeout: float
    _restored: bool = field(default=False, init=False)

    @property
    def undo(self) -> Mapping[str, Any]:
        return {"op": "wait_healthy", "target": self.plan.target}

    def revert(self) -> None:
        if self._restored:
            return
        try:
            self.target.wait_healthy(self.timeout)
        except ProviderError as error:
            raise RevertError(
                f"target {self.plan.target!r} did not return to capacity within "
                f"{self.timeout:g}s after terminating {', '.join(self.plan.instance_ids)}: {error}"
            ) from error
        self._restored = True
