"""Terminate instances: the replicas die; the environment's supervisor (or ASG) replaces them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from chaoskit.faults._removable import AwaitsCapacity, start_fault
from chaoskit.faults._selection import SelectsInstances
from chaoskit.typing import Environment
from chaoskit.vocabulary import FaultPlan

# How long revert waits for the target to be back at capacity before calling it a failure.
DEFAULT_REPLACE_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class TerminateInstances(SelectsInstances):
    """Kill instances of ``target``: ``count`` of them (default 1) or ``percent`` of them,
    among those carrying all of ``tags`` if given. Reverting waits until capacity is restored.
    """

    replace_timeout: str | float | timedelta = DEFAULT_REPLACE_TIMEOUT

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set_duration("replace_timeout", allow_zero=False)

    def describe(self) -> str:
        return f"TerminateInstances {self.selection_text()}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        # Losing capacity is the severe end of the scale.
        return self.plan_capacity_loss(env, rng, least=2.0)

    def inject(self, plan: FaultPlan, env: Environment) -> AwaitsCapacity:
        target = env.target(plan.target)
        start_fault(plan, lambda: target.terminate(plan.instance_ids))
        return AwaitsCapacity(
            plan=plan, target=target, timeout=self._seconds("replace_timeout"), action="terminating"
        )
