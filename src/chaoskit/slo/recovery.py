"""Time to detect and time to recover, second by second, against the baseline's band.

The band is what normal looked like: a second is *inside* it when

- its error rate is at most the baseline's plus ``error_points`` (1 percentage point),
- its 90th-percentile latency is at most ``latency_factor`` (2) times the baseline's plus
  ``latency_slack`` (5 ms), and
- its successful requests per second are at least ``throughput_floor`` (80 %) of the baseline's.

A silent second (nothing answered) is outside. *Time to detect* runs from the injection to the
start of the first second outside the band; *time to recover* runs from the revert (or the
fault's own end) to the start of the first run of ``consecutive`` (3) seconds back inside.
The 90th percentile decides a single second: one slowed instance of three moves it (the
median would hide that), and a second's hundred-odd requests are enough for it (a p99 needs
a thousand, see ``objectives.TAIL_SAMPLES``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window


@dataclass(frozen=True, kw_only=True)
class Band:
    latency_factor: float = 2.0
    latency_slack: float = 0.005
    error_points: float = 0.01
    throughput_floor: float = 0.8
    consecutive: int = 3


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The band in absolute terms for one experiment."""

    max_p90: float  # seconds
    max_error_rate: float
    min_rps: float

    def holds(self, second: SecondStats) -> bool:
        if second.ok == 0:
            return False
        p90 = second.latency_us.get_value_at_percentile(90) / 1e6
        return (
            second.failures / second.completed <= self.max_error_rate
            and p90 <= self.max_p90
            and second.ok >= self.min_rps
        )


def limits_from(baseline: Window, band: Band = Band()) -> Limits | None:
    """The band around the baseline, or None when the baseline has nothing to go by."""
    merged = baseline.merged
    if merged.ok == 0 or baseline.duration == 0:
        return None
    p90 = merged.latency_us.get_value_at_percentile(90) / 1e6
    return Limits(
        max_p90=band.latency_factor * p90 + band.latency_slack,
        max_error_rate=merged.failures / merged.completed + band.error_points,
        min_rps=band.throughput_floor * merged.ok / baseline.duration,
    )


def time_to_detect(
    seconds: Sequence[SecondStats], limits: Limits, *, injected_at: float, until: float
) -> float | None:
    """Seconds from ``injected_at`` to the first whole second outside the band, if any."""
    for second in _whole(seconds, injected_at, until):
        if not limits.holds(second):
            return max(0.0, second.second - injected_at)
    return None


def time_to_recover(
    seconds: Sequence[SecondStats],
    limits: Limits,
    *,
    reverted_at: float,
    until: float,
    consecutive: int = Band().consecutive,
) -> float | None:
    """Seconds from ``reverted_at`` to the start of ``consecutive`` seconds inside the band;
    None when that did not happen before ``until``."""
    run_start: int | None = None
    run_length = 0
    for second in _whole(seconds, reverted_at, until):
        if limits.holds(second):
            run_start = second.second if run_length == 0 else run_start
            run_length += 1
            if run_length >= consecutive:
                assert run_start is not None
                return max(0.0, run_start - reverted_at)
        else:
            run_length = 0
    return None


def _whole(seconds: Sequence[SecondStats], start: float, end: float) -> list[SecondStats]:
    """The whole seconds in [start, end), silent ones filled in as empty."""
    by_second = {s.second: s for s in seconds}
    return [
        by_second.get(second, SecondStats(second=second))
        for second in range(math.ceil(start), math.floor(end))
    ]
