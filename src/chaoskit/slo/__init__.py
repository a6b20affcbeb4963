"""Service level objectives: SLIs from per-second histograms, objectives, verdicts."""

from chaoskit.slo.budget import ErrorBudget, budget
from chaoskit.slo.grammar import parse_objective as parse
from chaoskit.slo.objectives import (
    AllOf,
    AnyOf,
    AvailabilityObjective,
    CustomObjective,
    ErrorRateObjective,
    LatencyObjective,
    Measurement,
    Objective,
    ThroughputObjective,
    availability,
    custom,
    error_rate,
    latency,
    throughput,
)
from chaoskit.slo.statistics import (
    ErrorsUnchanged,
    LatencyUnchanged,
    errors_unchanged,
    latency_unchanged,
)
from chaoskit.slo.window import Window

__all__ = [
    "AllOf",
    "AnyOf",
    "AvailabilityObjective",
    "CustomObjective",
    "ErrorBudget",
    "ErrorRateObjective",
    "ErrorsUnchanged",
    "LatencyObjective",
    "LatencyUnchanged",
    "Measurement",
    "Objective",
    "ThroughputObjective",
    "Window",
    "availability",
    "budget",
    "custom",
    "error_rate",
    "errors_unchanged",
    "latency",
    "latency_unchanged",
    "parse",
    "throughput",
]
