"""Per-second series for the report, computed from the journal's per-second histograms."""

from __future__ import annotations

from dataclasses import dataclass

from chaoskit.experiment.result import ExperimentResult
from chaoskit.slo.seconds import SecondStats


@dataclass(frozen=True, kw_only=True)
class SecondPoint:
    offset: float  # seconds since the experiment started
    expected: int  # requests the load's schedule meant to send
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    invalid: str  # why the load generator's own lag voids this second; "" when valid
    queued: int  # requests that waited for their user, busy with earlier task runs
    queued_max_ms: float

    @property
    def error_pct(self) -> float | None:
        return 100 * self.failures / self.requests if self.requests else None


def series(result: ExperimentResult) -> list[SecondPoint]:
    points = []
    for data in result.seconds:
        stats = SecondStats.from_json(data)
        histogram = stats.latency_us

        def at(
            percentile: float, histogram: object = histogram, ok: int = stats.ok
        ) -> float | None:
            if not ok:
                return None
            return float(histogram.get_value_at_percentile(percentile)) / 1000  # type: ignore[attr-defined]

        points.append(
            SecondPoint(
                offset=stats.second - result.started,
                expected=stats.demand,
                requests=stats.completed,
                failures=stats.failures,
                p50_ms=at(50),
                p95_ms=at(95),
                p99_ms=at(99),
                invalid=stats.invalid,
                queued=stats.queued,
                queued_max_ms=stats.queued_max_ms,
            )
        )
    return points
