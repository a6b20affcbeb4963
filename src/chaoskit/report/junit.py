"""An experiment's verdict as JUnit properties, for pipelines that read ``--junitxml``:
the outcome and why, each judged SLI, the experiment's own score and where its report is.

Names are prefixed ``chaoskit.`` so they sort together beside other plugins' properties.
"""

from __future__ import annotations

from pathlib import Path

from chaoskit.experiment.result import ExperimentResult
from chaoskit.experiment.score import score


def junit_properties(result: ExperimentResult, *, report: Path) -> list[tuple[str, str]]:
    experiment_score = score([result])
    properties = [
        ("chaoskit.outcome", result.outcome),
        ("chaoskit.cause", result.cause or "none"),
        ("chaoskit.reason", result.reason),
        (
            "chaoskit.score",
            "" if experiment_score.shown is None else str(experiment_score.shown),
        ),
        ("chaoskit.report", str(report)),
    ]
    for injection in result.injections:
        properties.append(
            (
                "chaoskit.fault",
                f"{injection.fault} -> {', '.join(injection.instance_ids) or 'none'} "
                f"[{injection.status}]",
            )
        )
    for measurement in result.measurements:
        properties.append(
            (
                f"chaoskit.sli.{measurement.window}.{measurement.objective}",
                f"{measurement.shown} {measurement.status}",
            )
        )
    return properties
