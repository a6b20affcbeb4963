"""Objectives, durations and per-second merging: properties over many inputs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit import slo
from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.seconds import HIGHEST_US, SecondStats, merge_seconds

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.timedeltas(),
)


@given(anything)
def test_a_duration_is_seconds_or_a_config_error_naming_the_field(value: object) -> None:
    try:
        seconds = parse_duration(value, field="chaos(baseline)")
    except ConfigError as error:
        assert "chaos(baseline=" in str(error)
    else:
        assert seconds >= 0 and seconds != float("inf")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300ms", 0.3),
        ("10s", 10),
        ("2m", 120),
        ("1.5h", 5400),
        (" 250 us ", 0.00025),
        (7, 7),
        (timedelta(milliseconds=20), 0.02),
    ],
)
def test_durations_users_write(text: object, seconds: float) -> None:
    assert parse_duration(text, field="hold") == pytest.approx(seconds)


@given(st.one_of(anything, st.floats(min_value=-5, max_value=5)))
def test_a_latency_objective_is_valid_or_a_config_error(p: object) -> None:
    try:
        objective = slo.latency(p=p, below="300ms")  # type: ignore[arg-type]
    except ConfigError as error:
        assert "slo.latency(p=" in str(error)
    else:
        assert 0 < objective.percentile < 100


@given(anything)
def test_an_error_rate_is_valid_or_a_config_error(below: object) -> None:
    try:
        objective = slo.error_rate(below=below)  # type: ignore[arg-type]
    except ConfigError as error:
        assert "slo.error_rate(below=" in str(error)
    else:
        assert 0 < objective.below <= 1


latencies = st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=300)


@given(st.lists(latencies, min_size=1, max_size=6), st.sampled_from([50.0, 95.0, 99.0]))
def test_percentiles_of_merged_seconds_equal_those_of_all_their_requests(
    seconds: list[list[int]], percentile: float
) -> None:
    parts = []
    union = SecondStats(second=0)
    for index, values in enumerate(seconds):
        part = SecondStats(second=index)
        for value in values:
            part.record_ok(value)
            union.record_ok(value)
        parts.append(part)
    merged = merge_seconds(parts)
    assert merged.ok == union.ok == sum(map(len, seconds))
    assert merged.latency_us.get_value_at_percentile(
        percentile
    ) == union.latency_us.get_value_at_percentile(percentile)


def test_out_of_range_latency_is_clamped_and_counted_not_dropped() -> None:
    stats = SecondStats(second=0)
    stats.record_ok(HIGHEST_US * 10)
    assert stats.ok == 1 and stats.clamped == 1
    assert stats.latency_us.get_total_count() == 1


def test_a_second_with_only_failures_does_not_corrupt_the_merge() -> None:
    ok, failed = SecondStats(second=0), SecondStats(second=1)
    ok.record_ok(5000)
    failed.record_failure("ConnectionRefusedError")
    merged = merge_seconds([ok, failed])
    assert merged.latency_us.get_min_value() > 0
    assert merged.failed == {"ConnectionRefusedError": 1} and merged.completed == 2


def test_seconds_survive_the_wire() -> None:
    stats = SecondStats(second=42)
    for value in (100, 2000, 30000):
        stats.record_ok(value)
    stats.record_failure("HTTP 503")
    back = SecondStats.from_json(stats.to_json())
    assert (back.second, back.ok, back.failed) == (42, 3, {"HTTP 503": 1})
    assert back.latency_us.get_value_at_percentile(99) == stats.latency_us.get_value_at_percentile(
        99
    )


def test_error_rate_needs_enough_requests_and_counts_failures_over_completed() -> None:
    window = SecondStats(second=0)
    for _ in range(990):
        window.record_ok(1000)
    for _ in range(10):
        window.record_failure("HTTP 500")
    measured = slo.error_rate(below="1%").evaluate(window, window_name="fault 1")
    assert measured.value == pytest.approx(0.01) and measured.status == "fail"
    assert "HTTP 500 x10" in measured.reason
    small = SecondStats(second=0)
    small.record_ok(1000)
    assert slo.error_rate(below="1%").evaluate(small, window_name="b").status == "inconclusive"


def test_a_tail_percentile_needs_ten_samples_beyond_it() -> None:
    window = SecondStats(second=0)
    for _ in range(999):
        window.record_ok(1000)
    objective = slo.latency(p=99, below="300ms")
    assert objective.evaluate(window, window_name="b").status == "inconclusive"
    window.record_ok(1000)
    assert objective.evaluate(window, window_name="b").status == "pass"
