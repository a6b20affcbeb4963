"""Per-second series for the report, computed from the result's per-second histograms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaoskit.experiment.result import ExperimentResult
from chaoskit.slo.seconds import SecondStats, merge_seconds


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
    failed: Mapping[str, int]  # failed requests by cause (an HTTP status, an exception class)

    @property
    def error_pct(self) -> float | None:
        return 100 * self.failures / self.requests if self.requests else None


def series(result: ExperimentResult) -> list[SecondPoint]:
    return [_point(stats, started=result.started) for stats in result.seconds]


def _point(stats: SecondStats, *, started: float) -> SecondPoint:
    # Percentiles of a merged copy: decoding the result's own second would keep its histogram
    # (185 KiB) in the result, for every second of the run.
    latency_us = merge_seconds([stats], label=stats.second).latency_us if stats.ok else None

    def at(percentile: float) -> float | None:
        if latency_us is None:
            return None
        return float(latency_us.get_value_at_percentile(percentile)) / 1000

    return SecondPoint(
        offset=stats.second - started,
        expected=stats.demand,
        requests=stats.completed,
        failures=stats.failures,
        p50_ms=at(50),
        p95_ms=at(95),
        p99_ms=at(99),
        invalid=stats.invalid,
        queued=stats.queued,
        queued_max_ms=stats.queued_max_ms,
        failed=dict(stats.failed),
    )
