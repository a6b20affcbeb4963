"""The run's resilience score, 0 to 100.

Each experiment scores the share of its judgements that held: every objective during and
after the fault (the baseline's held, or the fault would not have been injected), the RTO
and the error budget, a pass counting 1, an inconclusive one 1/2 and a breach 0. An
experiment that ended in an error, injected nothing, or was halted by its guardrail scores 0.
Experiments weigh by the severity of the faults they injected (1 to 3 each, summed: see each
fault's ``plan``), so surviving the loss of an instance counts for more than surviving 50 ms of
latency. Experiments marked as expected to fail demonstrate a breach on purpose and do not
count. The score is ``100 * sum(weight * share) / sum(weight)``; None when nothing counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from chaoskit.experiment.result import ExperimentResult

_CREDIT = {"pass": 1.0, "inconclusive": 0.5, "fail": 0.0}
_NO_CREDIT = ("error",)


def experiment_share(result: ExperimentResult) -> float:
    if result.outcome in _NO_CREDIT or result.cause in ("nothing_injected", "halted"):
        return 0.0
    judged = [m for m in result.measurements if m.window != "baseline"]
    if not judged:
        return 0.0
    return sum(_CREDIT[m.status] for m in judged) / len(judged)


def experiment_weight(result: ExperimentResult) -> float:
    injected = [i for i in result.injections if i.injected_at is not None]
    return sum(i.severity for i in injected) or 1.0


def resilience_score(results: Iterable[ExperimentResult]) -> float | None:
    counted = [r for r in results if not r.expected_to_fail]
    total = sum(experiment_weight(r) for r in counted)
    if not counted or total == 0:
        return None
    return 100 * sum(experiment_weight(r) * experiment_share(r) for r in counted) / total
