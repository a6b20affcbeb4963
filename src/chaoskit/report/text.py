"""The terminal summary: one block per experiment, the verdict and each objective per phase."""

from __future__ import annotations

from chaoskit.experiment.result import Journal
from chaoskit.experiment.score import failed_as_expected, score
from chaoskit.experiment.verdict import PASSED
from chaoskit.slo.measurement import STATUS_LABELS


def summary_lines(journal: Journal) -> list[str]:
    measurements = [m for r in journal.experiments for m in r.measurements]
    # Columns as wide as their longest cell in the run, so every row lines up.
    window_w = max((len(m.window) for m in measurements), default=0)
    objective_w = max((len(m.objective) for m in measurements), default=0)
    shown_w = max((len(m.shown) for m in measurements), default=0)
    lines = []
    for result in journal.experiments:
        if failed_as_expected(
            outcome=result.outcome, cause=result.cause, expected_to_fail=result.expected_to_fail
        ):
            lines.append(f"XFAIL   {result.name} ({result.outcome} as expected)")
        else:
            lines.append(f"{result.outcome.upper():7} {result.name}")
        for injection in result.injections:
            lines.append(
                f"        fault: {injection.fault} -> {', '.join(injection.instance_ids)} "
                f"[{injection.status}]"
            )
        for measurement in result.measurements:
            lines.append(
                f"        {measurement.window:<{window_w}}  {measurement.objective:<{objective_w}}"
                f"  {measurement.shown:>{shown_w}}  {STATUS_LABELS[measurement.status]}"
            )
        # A pass with checks let through unjudged says so: "PASSED" alone would claim more.
        if result.outcome != "passed" or result.reason != PASSED.reason:
            lines.append(f"        why: {result.reason}")
    lines.append(f"resilience score: {score(journal.experiments).describe()}")
    return lines
