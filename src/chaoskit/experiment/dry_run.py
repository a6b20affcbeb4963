"""``--chaos-dry-run``: resolve and print what each experiment would do, change nothing.

Stands in for ``Experiment`` in the test body (both are a ``ChaosExperiment``): ``inject``
plans the fault with read-only calls (which instances it would hit) and reports it, but
injects nothing and starts no load. It draws no verdict: ``finish`` returns None, and the
plugin ends the test as skipped with the ``summary``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Literal

from chaoskit.durations import MAX_PHASE, format_duration, parse_duration
from chaoskit.experiment.lifecycle import ExperimentSettings
from chaoskit.experiment.protocol import Notify
from chaoskit.experiment.result import ExperimentResult
from chaoskit.typing import Environment, Fault
from chaoskit.vocabulary import FaultPlan


@dataclass(kw_only=True)
class DryRun:
    settings: ExperimentSettings
    env: Environment
    rng: random.Random
    notify: Notify
    plans: list[FaultPlan] = field(default_factory=list)

    def start(self) -> None:
        objectives = ", ".join(o.describe() for o in self.settings.objectives)
        self.notify(
            f"dry run: baseline {format_duration(self.settings.baseline)}, recovery "
            f"{format_duration(self.settings.recovery)}, objectives {objectives}"
        )

    def inject(self, fault: Fault, *, hold: object = None) -> _PlannedFault:
        seconds = (
            None if hold is None else parse_duration(hold, field="inject(hold)", maximum=MAX_PHASE)
        )
        hold_text = "until the end of the body" if seconds is None else format_duration(seconds)
        plan = replace(fault.plan(self.env, self.rng), hold=seconds)
        self.plans.append(plan)
        self.notify(
            f"dry run: would inject {plan.fault} on {', '.join(plan.instance_ids)}, "
            f"hold {hold_text}"
        )
        # A fault with more than one step (an FIS template) says each of them.
        for line in plan.preview:
            self.notify(f"dry run:   {line}")
        return _PlannedFault(plan)

    @property
    def result(self) -> ExperimentResult | None:
        return None

    def finish(self) -> ExperimentResult | None:
        """Nothing was injected, nothing to judge."""
        return None

    def abort(
        self, error: BaseException, *, during: Literal["setup", "body"] = "body"
    ) -> ExperimentResult | None:
        """Nothing was injected, nothing to revert."""
        return None

    def skip(self, reason: str) -> ExperimentResult | None:
        """Nothing was injected, nothing to record."""
        return None

    def summary(self) -> str:
        if not self.plans:
            return "dry run: no fault would be injected"
        return "dry run: would inject " + "; ".join(
            f"{p.fault} on {', '.join(p.instance_ids)}" for p in self.plans
        )


class _PlannedFault:
    """What ``DryRun.inject`` returns: the plan, and a revert that has nothing to do."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.instance_ids = plan.instance_ids

    def revert(self) -> None:
        """Nothing was injected."""

    def __enter__(self) -> _PlannedFault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
