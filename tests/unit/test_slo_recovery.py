"""Time to detect and to recover against the baseline's band."""

from __future__ import annotations

from chaoskit.slo.recovery import limits_from, time_to_detect, time_to_recover
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window


def second(
    at: int, *, latency_ms: float = 5, requests: int = 100, failures: int = 0
) -> SecondStats:
    stats = SecondStats(second=at)
    for _ in range(requests - failures):
        stats.record_ok(latency_ms * 1000)
    for _ in range(failures):
        stats.record_failure("HTTP 503")
    return stats


BASELINE = Window(name="baseline", kind="baseline", seconds=[second(t) for t in range(0, 5)])
LIMITS = limits_from(BASELINE)


def test_the_band_is_built_from_the_baseline() -> None:
    assert LIMITS is not None
    assert abs(LIMITS.max_p90 - (2 * 0.005 + 0.005)) < 0.0001
    assert LIMITS.max_error_rate == 0.01 and LIMITS.min_rps == 80
    assert LIMITS.holds(second(9)) and not LIMITS.holds(second(9, latency_ms=50))
    assert not LIMITS.holds(second(9, failures=5))  # 5 % errors
    assert not LIMITS.holds(second(9, requests=50))  # half the throughput
    assert not LIMITS.holds(SecondStats(second=9))  # silence is never normal


def test_detection_and_recovery_are_timed_from_injection_and_revert() -> None:
    assert LIMITS is not None
    timeline = (
        [second(t) for t in range(5, 8)]
        + [second(t, latency_ms=300) for t in range(8, 14)]  # the effect starts at 8
        + [second(14, latency_ms=300), second(15), second(16, latency_ms=300)]  # a relapse
        + [second(t) for t in range(17, 25)]  # back for good from 17
    )
    assert time_to_detect(timeline, LIMITS, injected_at=6.4, until=25) == 8 - 6.4
    assert time_to_recover(timeline, LIMITS, reverted_at=13.5, until=25) == 17 - 13.5


def test_missing_seconds_count_as_silence_and_no_recovery_is_none() -> None:
    assert LIMITS is not None
    timeline = [second(t) for t in range(5, 8)]  # nothing at all after second 7
    assert time_to_detect(timeline, LIMITS, injected_at=6.0, until=12) == 2.0
    assert time_to_recover(timeline, LIMITS, reverted_at=8.0, until=12) is None


def test_an_empty_baseline_gives_no_band() -> None:
    silent = Window(name="baseline", kind="baseline", seconds=[SecondStats(second=0)])
    assert limits_from(silent) is None
