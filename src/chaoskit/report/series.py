"""Per-second series for the report, computed from the result's per-second histograms."""

from __future__ import annotations

from collections.abc import Mapping
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
    failed: Mapping[str, int]  # failed requests by cause (an HTTP status, an exception class)
    dropped: int = 0  # scheduled runs that found no free user (and no room to add one)
    users: int = 0  # users the load ran at the most in the second (the open model's pool)

    @property
    def error_pct(self) -> float | None:
        return 100 * self.failures / self.requests if self.requests else None


def series(result: ExperimentResult) -> list[SecondPoint]:
    return [_point(stats, started=result.started) for stats in result.seconds]


def _point(stats: SecondStats, *, started: float) -> SecondPoint:
    # Read without decoding the second into the result: a decoded histogram is 185 KiB, and
    # the encoding holds the few counts a percentile needs (chaoskit.slo.percentiles).
    p50, p95, p99 = stats.latency_percentiles_us((50, 95, 99)) or (None, None, None)

    def ms(value: float | None) -> float | None:
        return None if value is None else value / 1000

    return SecondPoint(
        offset=stats.second - started,
        expected=stats.demand,
        requests=stats.completed,
        failures=stats.failures,
        p50_ms=ms(p50),
        p95_ms=ms(p95),
        p99_ms=ms(p99),
        invalid=stats.invalid,
        queued=stats.queued,
        queued_max_ms=stats.queued_max_ms,
        failed=dict(stats.failed),
        dropped=stats.dropped,
        users=stats.users,
    )
