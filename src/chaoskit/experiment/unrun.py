"""Results of experiments that never reached their lifecycle: skipped (a skip marker, a skip
in a fixture), or stopped during setup before the experiment began (a fixture requested
before ``chaos`` raised). The report, the index and the summary list them with their reason,
so a reader sees every experiment of the run, not only those that ran."""

from __future__ import annotations

from typing import Literal

from chaoskit.experiment.lifecycle import ExperimentSettings
from chaoskit.experiment.result import ExperimentResult


def unrun_result(
    settings: ExperimentSettings,
    *,
    env: str,
    why: Literal["skipped", "setup_failed"],
    reason: str,
    at: float,
) -> ExperimentResult:
    return ExperimentResult(
        name=settings.name,
        env=env,
        outcome="skipped" if why == "skipped" else "error",
        cause=why,
        reason=reason
        if why == "skipped"
        else f"setup failed before the experiment began: {reason}",
        started=at,
        finished=at,
        objectives=tuple(o.describe() for o in settings.objectives),
        written=settings.written,
    )
