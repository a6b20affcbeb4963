"""Terminate instances: the replicas die; the environment's supervisor (or ASG) replaces them."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from chaoskit.durations import Duration, parse_duration
from chaoskit.faults._removable import AwaitsCapacity, start_fault
from chaoskit.faults._selection import SelectsInstances, check_selection
from chaoskit.typing import Environment
from chaoskit.vocabulary import FaultPlan

# How long revert waits for the target to be back at capacity before calling it a failure.
DEFAULT_REPLACE_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class _TerminateFields(SelectsInstances):
    replace_timeout: float  # seconds


class TerminateInstances(_TerminateFields):
    """Kill instances of ``target``: ``count`` of them (default 1) or ``percent`` of them,
    among those carrying all of ``tags`` if given. Reverting waits until capacity is restored.
    """

    action: ClassVar[str] = "terminate"

    def __init__(
        self,
        *,
        target: str,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
        replace_timeout: Duration = DEFAULT_REPLACE_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        super().__init__(
            **check_selection(name, target=target, count=count, percent=percent, tags=tags),
            replace_timeout=parse_duration(
                replace_timeout, field=f"{name}(replace_timeout)", allow_zero=False
            ),
        )

    def describe(self) -> str:
        return f"TerminateInstances {self.selection_text()}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        # Losing capacity is the severe end of the scale.
        return self.plan_capacity_loss(env, rng, least=2.0)

    def inject(self, plan: FaultPlan, env: Environment) -> AwaitsCapacity:
        target = env.target(plan.target)
        record = start_fault(target, plan, lambda: target.terminate(plan.instance_ids))
        return AwaitsCapacity(
            plan=plan,
            target=target,
            timeout=self.replace_timeout,
            action="terminating",
            record=record,
        )
