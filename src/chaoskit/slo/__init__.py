"""Service level objectives: SLIs from per-second histograms, objectives, verdicts.

The public contract: ``Objective`` (what every objective offers, ``&`` and ``|`` included),
``Measurement`` (its judgement of one window) with ``Status``, and ``Composable``, the base
that gives an objective of one's own ``&``, ``|`` and an identity. The builders users write
(``slo.latency(...)``, ``slo.parse("p99<300ms")``, ...) and the units they are written in.
"""

from chaoskit.slo.budget import ErrorBudget, budget
from chaoskit.slo.composite import AllOf, AnyOf, Composable
from chaoskit.slo.grammar import parse_objective as parse
from chaoskit.slo.measurement import STATUS_LABELS, Kind, Measurement, Objective, Status
from chaoskit.slo.objectives import (
    AvailabilityObjective,
    CustomObjective,
    ErrorRateObjective,
    LatencyObjective,
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
from chaoskit.slo.units import (
    ALL_PHASES,
    format_latency,
    format_percent,
    format_ratio,
    parse_phases,
    parse_ratio,
)
from chaoskit.slo.window import PhaseKind, Window

__all__ = [
    "ALL_PHASES",
    "STATUS_LABELS",
    "AllOf",
    "AnyOf",
    "AvailabilityObjective",
    "Composable",
    "CustomObjective",
    "ErrorBudget",
    "ErrorRateObjective",
    "ErrorsUnchanged",
    "Kind",
    "LatencyObjective",
    "LatencyUnchanged",
    "Measurement",
    "Objective",
    "PhaseKind",
    "Status",
    "ThroughputObjective",
    "Window",
    "availability",
    "budget",
    "custom",
    "error_rate",
    "errors_unchanged",
    "format_latency",
    "format_percent",
    "format_ratio",
    "latency",
    "latency_unchanged",
    "parse",
    "parse_phases",
    "parse_ratio",
    "throughput",
]
