"""The run's resilience score, 0 to 100: the share of its judged experiments that passed.

An experiment that failed or ended in an error scores 0, whatever it measured before that:
a run whose exit code says "failed" must never read as nearly healthy. A passed experiment
scores 100, provided at least one check (an objective during or after the fault, the RTO, the
error budget) was judged and held; one that passed with nothing judged (every check
inconclusive, let through by ``allow_inconclusive=True``) proved nothing and does not count.
Experiments that failed as expected (``xfail``) demonstrate a breach on purpose and do not
count either (one marked ``xfail`` that passed counts as the pass it is), nor do skipped
ones. Experiments weigh by the severity of the faults they injected (1 to 3 each, summed, 1
when none was: see each fault's ``plan``), so surviving the loss of an instance counts for
more than surviving 50 ms of latency.

So a run in which every counted experiment passed scores 100, any failed or errored experiment
pulls the score below 100, and a run in which every counted experiment failed scores 0. The
score is None when no experiment counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaoskit.experiment.result import ExperimentResult


@dataclass(frozen=True, kw_only=True)
class Score:
    value: float | None  # None: no experiment counts
    over: int  # the experiments it counts
    expected: int  # failed as expected (xfail): shown as such, not counted
    unjudged: int  # passed with nothing judged: not counted
    skipped: int = 0  # never ran: not counted

    @property
    def shown(self) -> int | None:
        """The value as a whole number that keeps its meaning: 100 only when every counted
        experiment passed, 0 only when every one failed (99.7 reads 99, 0.3 reads 1)."""
        if self.value is None:
            return None
        return min(99, max(1, round(self.value))) if 0 < self.value < 100 else round(self.value)

    def describe(self) -> str:
        """``67/100 over 3 experiments (1 failed as expected, not counted)``; ``none: no
        experiment was judged`` without a value."""
        if self.value is None:
            text = "none: no experiment was judged"
        else:
            noun = "experiment" if self.over == 1 else "experiments"
            text = f"{self.shown}/100 over {self.over} {noun}"
        left_out = [
            *([f"{self.expected} failed as expected"] if self.expected else []),
            *([f"{self.unjudged} passed with nothing judged"] if self.unjudged else []),
            *([f"{self.skipped} skipped"] if self.skipped else []),
        ]
        if left_out:
            text += f" ({', '.join(left_out)}, not counted)"
        return text


def failed_as_expected(*, outcome: str, cause: str, expected_to_fail: bool) -> bool:
    """Whether pytest reported the experiment as xfailed, from its journal fields.

    A failed revert is raised at teardown, where pytest calls it an error even under xfail:
    a fault may still be active, and that is never expected.
    """
    return expected_to_fail and outcome != "passed" and cause != "revert_failed"


def judged(result: ExperimentResult) -> bool:
    """Whether the experiment decided anything after the baseline (held or breached)."""
    return any(m.status != "inconclusive" for m in result.measurements if m.window != "baseline")


def experiment_weight(result: ExperimentResult) -> float:
    injected = [i for i in result.injections if i.injected_at is not None]
    return sum(i.severity for i in injected) or 1.0


def score(results: Iterable[ExperimentResult]) -> Score:
    counted, expected, unjudged, skipped = [], 0, 0, 0
    for result in results:
        if result.outcome == "skipped":
            skipped += 1
        elif failed_as_expected(
            outcome=result.outcome, cause=result.cause, expected_to_fail=result.expected_to_fail
        ):
            expected += 1
        elif result.outcome == "passed" and not judged(result):
            unjudged += 1
        else:
            counted.append(result)
    total = sum(experiment_weight(r) for r in counted)
    held = sum(experiment_weight(r) for r in counted if r.outcome == "passed")
    value = 100 * (held / total) if counted else None
    return Score(
        value=value, over=len(counted), expected=expected, unjudged=unjudged, skipped=skipped
    )


def resilience_score(results: Iterable[ExperimentResult]) -> float | None:
    """The score's number alone, as the JSON journal's ``resilience_score`` holds it."""
    return score(results).value
