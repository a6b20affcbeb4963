"""Service level objectives: SLIs from per-second histograms, objectives, verdicts."""

from chaoskit.slo.objectives import (
    ErrorRateObjective,
    LatencyObjective,
    Measurement,
    Objective,
    error_rate,
    latency,
)

__all__ = [
    "ErrorRateObjective",
    "LatencyObjective",
    "Measurement",
    "Objective",
    "error_rate",
    "latency",
]
