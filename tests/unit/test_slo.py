"""Objectives, durations and per-second merging: properties over many inputs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import anything

from chaoskit import slo
from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.judging import judge
from chaoskit.slo.seconds import HIGHEST_US, SecondStats, merge_seconds
from chaoskit.slo.window import Window

# Latencies of one second's requests in microseconds, up to 10 s.
latencies_us = st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=300)


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


@pytest.mark.parametrize("zero", [0, "0ms", timedelta(0)])
def test_a_zero_duration_where_zero_is_refused_is_said_to_need_more_than_zero(zero: object):
    with pytest.raises(ConfigError) as raised:
        parse_duration(zero, field="hold", allow_zero=False)
    assert f"hold={zero!r} must be above zero" in str(raised.value)
    assert "non-negative" not in str(raised.value)
    assert parse_duration(zero, field="hold") == 0


def test_a_negative_duration_is_told_what_is_accepted_where_zero_is_refused_or_not():
    with pytest.raises(ConfigError, match=r"hold=-1 is not a duration; write a positive number"):
        parse_duration(-1, field="hold", allow_zero=False)
    with pytest.raises(ConfigError, match=r"hold=-1 is not a duration; write a non-negative"):
        parse_duration(-1, field="hold")


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


def one_window(stats: SecondStats) -> Window:
    return Window(name="fault 1", kind="fault", seconds=[stats])


@given(st.lists(latencies_us, min_size=1, max_size=6), st.sampled_from([50.0, 95.0, 99.0]))
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
    measured = slo.error_rate(below="1%").evaluate(one_window(window))
    assert measured.value == pytest.approx(0.01) and measured.status == "fail"
    assert "HTTP 500 x10" in measured.reason
    small = SecondStats(second=0)
    small.record_ok(1000)
    assert slo.error_rate(below="1%").evaluate(one_window(small)).status == "inconclusive"


def test_a_tail_percentile_needs_ten_samples_beyond_it() -> None:
    window = SecondStats(second=0)
    for _ in range(999):
        window.record_ok(1000)
    objective = slo.latency(p=99, below="300ms")
    assert objective.evaluate(one_window(window)).status == "inconclusive"
    window.record_ok(1000)
    assert objective.evaluate(one_window(window)).status == "pass"


def _seconds(
    rate: int, count: int, *, latency_us: int = 2000, failures: int = 0
) -> list[SecondStats]:
    seconds = []
    for index in range(count):
        stats = SecondStats(second=index)
        for _ in range(rate):
            stats.record_ok(latency_us)
        for _ in range(failures):
            stats.record_failure("HTTP 503")
        seconds.append(stats)
    return seconds


def test_throughput_relative_to_the_baseline() -> None:
    baseline = Window(name="baseline", kind="baseline", seconds=_seconds(200, 4))
    slow = Window(name="fault 1", kind="fault", seconds=_seconds(150, 4), baseline=baseline)
    fine = Window(name="fault 1", kind="fault", seconds=_seconds(190, 4), baseline=baseline)
    objective = slo.parse("rps>=0.9*baseline")
    assert "baseline" not in objective.phases  # a rate is not compared with itself
    breached = objective.evaluate(slow)
    assert breached.status == "fail" and breached.value == 150 and breached.limit == 180
    assert "150 requests/s is under the floor of 180/s" in breached.reason
    assert objective.evaluate(fine).status == "pass"


def test_a_silent_second_counts_against_throughput() -> None:
    seconds = [*_seconds(100, 3), SecondStats(second=3)]  # the target stopped answering
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = slo.throughput(at_least=90).evaluate(window)
    assert measured.value == 75 and measured.status == "fail"


def test_composed_objectives_fail_pass_and_stay_inconclusive_as_logic_says() -> None:
    window = Window(name="fault 1", kind="fault", seconds=_seconds(300, 4, latency_us=400_000))
    slow, fast_enough = slo.parse("p99<300ms"), slo.parse("p50<500ms")
    assert (slow & fast_enough).evaluate(window).status == "fail"
    assert (slow | fast_enough).evaluate(window).status == "pass"
    unsure = slo.parse("p99.99<1s")  # 1,200 requests are too few for a p99.99
    assert (unsure & fast_enough).evaluate(window).status == "inconclusive"
    assert (unsure | slow).evaluate(window).status == "inconclusive"
    # the row shows each part's figure, so a reader sees which part broke
    assert (slow & fast_enough).evaluate(window).shown == "400ms (fail) & 400ms (pass)"


def test_a_custom_objective_sees_the_window() -> None:
    window = Window(name="fault 1", kind="fault", seconds=_seconds(100, 2, failures=3))
    no_503 = slo.custom("no 503s", lambda w: "HTTP 503" not in w.merged.failed)
    counted = slo.custom("few 503s", lambda w: (w.merged.failed["HTTP 503"] < 10, "6 x 503"))
    assert no_503.evaluate(window).status == "fail"
    assert counted.evaluate(window).shown == "6 x 503"
    with pytest.raises(ConfigError, match="give a name and a callable"):
        slo.custom("broken", "not callable")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phases", "kinds"),
    [
        ("all", {"baseline", "fault", "recovery"}),
        ("during", {"fault"}),
        (["during", "after"], {"fault", "recovery"}),
        ("before", {"baseline"}),
    ],
)
def test_objectives_are_scoped_to_phases(phases: object, kinds: set[str]) -> None:
    assert slo.latency(p=99, below="1s", phases=phases).phases == kinds  # type: ignore[arg-type]


def test_an_unknown_phase_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'midway' is not a phase"):
        slo.error_rate(below="1%", phases="midway")


@settings(max_examples=40)  # each example builds several full-range histograms
@given(
    st.lists(latencies_us, min_size=3, max_size=3),
    st.lists(st.integers(0, 5), min_size=3, max_size=3),
)
def test_merging_seconds_is_associative(values: list[list[int]], failures: list[int]) -> None:
    def second(index: int) -> SecondStats:
        stats = SecondStats(second=index)
        for value in values[index]:
            stats.record_ok(value)
        for _ in range(failures[index]):
            stats.record_failure("HTTP 500")
        return stats

    left = merge_seconds([merge_seconds([second(0), second(1)]), second(2)])
    right = merge_seconds([second(0), merge_seconds([second(1), second(2)])])
    assert (left.ok, left.failed) == (right.ok, right.failed)
    for percentile in (50.0, 90.0, 99.0, 100.0):
        assert left.latency_us.get_value_at_percentile(percentile) == (
            right.latency_us.get_value_at_percentile(percentile)
        )


def test_availability_counts_what_was_never_answered() -> None:
    seconds = _seconds(100, 4)
    for second in seconds:
        second.expected = second.sent = 100
    stalled = SecondStats(second=4)
    stalled.expected = 100  # the schedule meant to send 100; nothing came back
    window = Window(name="fault 1", kind="fault", seconds=[*seconds, stalled])
    measured = slo.availability(at_least="99%").evaluate(window)
    assert measured.value == pytest.approx(400 / 500) and measured.status == "fail"
    assert "100 of 500 requests did not succeed (100 never answered, 0 failed)" in measured.reason
    assert slo.availability(at_least="75%").evaluate(window).status == "pass"


def test_invalid_seconds_are_left_out_and_too_many_make_the_window_inconclusive() -> None:
    seconds = _seconds(300, 8, latency_us=5000)
    seconds[0].mark_invalid("the worker used 95% of a core", lag_ms=180)
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    assert window.duration == 7 and window.merged.ok == 2100
    assert judge(slo.parse("p99<300ms"), window).status == "pass"  # 1 of 8 is tolerated

    # Stalls longer than the 295 ms margin could have hidden a breach: left out.
    for second in seconds[1:3]:
        second.mark_invalid("event loop stalled 400 ms", lag_ms=400)
    measured = judge(slo.parse("p99<300ms"), window)
    assert measured.status == "inconclusive"
    assert measured.reason.startswith("3 of 8 seconds are invalid, the load generator fell behind")
    assert "the worker used 95% of a core" in measured.reason


def test_an_objective_listed_twice_for_a_phase_is_refused() -> None:
    from chaoskit.experiment.marker import parse_marker
    from chaoskit.load import Locust

    load = Locust("experiments/locustfile.py", users=1)
    with pytest.raises(ConfigError, match="listed twice for the"):
        parse_marker((), {"load": load, "steady_state": ["p99<300ms", slo.parse("p99<300ms")]})
    # the same figure for different phases is two rows' worth, not a twin
    before = slo.latency(p=99, below="300ms", phases="before")
    after = slo.latency(p=99, below="300ms", phases="after")
    assert len(parse_marker((), {"load": load, "steady_state": [before, after]}).steady_state) == 2


def _fault_window(*latencies_ms: float) -> Window:
    second = SecondStats(second=0)
    for latency in latencies_ms:
        second.record_ok(latency * 1000)
    return Window(name="fault 1", kind="fault", seconds=[second], baseline=None)


def test_too_few_requests_to_measure_a_p99_can_still_prove_it_broken() -> None:
    p99 = slo.latency(p=99, below="1s")
    # 50 requests, every one 4 s or more (a blackholed target's users): not a p99 to measure,
    # but over 1 s whatever 950 more fast ones would have done.
    measured = p99.evaluate(_fault_window(*[4000 + i * 100 for i in range(50)]))
    assert measured.status == "fail"
    assert measured.shown == "50 of 50 took 1s or more"
    assert "more than p99 allows even of 1000" in measured.reason
    # 10 slow of 1000 is what a p99 allows: 10 slow of 60 prove nothing yet.
    assert p99.evaluate(_fault_window(*[5] * 50, *[2000] * 10)).status == "inconclusive"
    assert p99.evaluate(_fault_window(*[5] * 50, *[2000] * 11)).status == "fail"
    # Fast requests, too few: still inconclusive.
    assert p99.evaluate(_fault_window(*[5] * 50)).status == "inconclusive"


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=999))
def test_a_breach_proven_on_few_requests_holds_however_fast_the_rest_would_have_been(
    few: list[int],
) -> None:
    p99 = slo.latency(p=99, below="1s")
    if p99.evaluate(_fault_window(*[us / 1000 for us in few])).status != "fail":
        return
    fast = [0.001] * (p99.min_samples() - len(few))  # the missing requests, 1 µs each
    complete = _fault_window(*[us / 1000 for us in few], *fast)
    assert p99.evaluate(complete).status == "fail"
