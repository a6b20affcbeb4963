"""``SecondStats``: the new counters and the invalid marker merge across workers and survive
the wire; old journals still load; merging encoded seconds equals merging decoded ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chaoskit.slo.seconds import SecondStats, merge_seconds

# What one worker measured in one second: latencies, failures, requests never sent, and the
# reason the second is invalid ("" when valid).
worker_seconds = st.lists(
    st.tuples(
        st.lists(st.integers(min_value=1, max_value=10_000_000), max_size=30),
        st.integers(0, 5),
        st.integers(0, 5),
        st.sampled_from(["", "load generator busy", "load generator sent 150 ms late"]),
    ),
    min_size=1,
    max_size=5,
)


def build(latencies: list[int], failures: int, missed: int, invalid: str) -> SecondStats:
    stats = SecondStats(second=7)
    for latency in latencies:
        stats.record_ok(latency)
    for _ in range(failures):
        stats.record_failure("HTTP 503")
    stats.sent = len(latencies) + failures
    stats.expected = stats.sent + missed
    if invalid:
        stats.mark_invalid(invalid, lag_ms=120.0)
    return stats


@given(worker_seconds)
def test_seconds_from_several_workers_merge_exactly(
    parts: list[tuple[list[int], int, int, str]],
) -> None:
    shipped = [build(*part) for part in parts]
    # What the driver does: parts kept encoded, merged without decoding.
    encoded = merge_seconds(SecondStats.from_json(s.to_json()) for s in shipped)
    decoded = merge_seconds(shipped)
    for merged in (encoded, decoded):
        assert merged.expected == sum(s.expected for s in shipped)
        assert merged.sent == sum(s.sent for s in shipped)
        assert merged.ok == sum(s.ok for s in shipped)
        assert merged.failures == sum(s.failures for s in shipped)
        assert merged.latency_us.get_total_count() == merged.ok
        assert merged.valid == all(s.valid for s in shipped)
    for percentile in (50, 90, 99, 100):
        assert encoded.latency_us.get_value_at_percentile(
            percentile
        ) == decoded.latency_us.get_value_at_percentile(percentile)
    back = SecondStats.from_json(encoded.to_json())
    assert (back.expected, back.sent, back.ok, back.invalid, back.lag_ms) == (
        encoded.expected,
        encoded.sent,
        encoded.ok,
        encoded.invalid,
        encoded.lag_ms,
    )


def test_queued_runs_add_up_and_keep_the_longest_wait_across_the_wire() -> None:
    a = SecondStats(second=1, queued=3, queued_max_ms=40.0)
    b = SecondStats(second=1, queued=2, queued_max_ms=250.0)
    merged = merge_seconds(
        [SecondStats.from_json(s.to_json()) for s in (a, b, SecondStats(second=1))]
    )
    assert (merged.queued, merged.queued_max_ms) == (5, 250.0)


def test_dropped_runs_and_users_add_up_over_workers_across_the_wire() -> None:
    a = SecondStats(second=1, expected=10, sent=6, dropped=4, users=30)
    b = SecondStats(second=1, expected=5, sent=5, users=12)
    merged = merge_seconds(
        [SecondStats.from_json(s.to_json()) for s in (a, b, SecondStats(second=1))]
    )
    assert (merged.dropped, merged.users, merged.demand) == (4, 42, 15)
    assert "dropped" not in b.to_json()  # journals without pools keep their shape


def test_reasons_are_kept_once_each() -> None:
    a, b = SecondStats(second=1), SecondStats(second=1)
    a.mark_invalid("load generator busy")
    b.mark_invalid("load generator busy")
    b.mark_invalid("load generator CPU-bound (97% of a core)")
    a.merge(b)
    assert a.invalid == "load generator busy; load generator CPU-bound (97% of a core)"


def test_a_compacted_second_measures_the_same_and_holds_its_histogram_encoded() -> None:
    second = build([800, 1200, 45_000, 310_000], failures=2, missed=1, invalid="busy")
    second.queued, second.queued_max_ms = 1, 30.0
    compact = second.compacted()
    assert compact._histogram is None  # what it is for: no 185 KiB decoded histogram held
    assert compact.to_json() == second.to_json()
    for percentile in (50, 99, 100):
        assert compact.latency_us.get_value_at_percentile(
            percentile
        ) == second.latency_us.get_value_at_percentile(percentile)


def test_an_old_journal_second_loads_with_expected_and_sent_equal_to_completed() -> None:
    old = {"second": 5, "latency_us": None, "ok": 0, "failed": {"HTTP 500": 3}, "clamped": 0}
    stats = SecondStats.from_json(old)
    assert (stats.expected, stats.sent, stats.valid, stats.lag_ms) == (3, 3, True, 0.0)
    assert stats.demand == 3


def test_availability_counts_requests_never_sent() -> None:
    stats = SecondStats(second=1, expected=100, sent=60)
    for _ in range(50):
        stats.record_ok(1000)
    assert (stats.demand, stats.missing) == (100, 50)
    # Data recorded without ``expected`` (a fake load) falls back to what completed.
    fake = SecondStats(second=1)
    fake.record_ok(1000)
    assert fake.demand == 1


@given(
    st.dictionaries(
        st.integers(min_value=-5, max_value=2 * 3_600_000_000),
        st.integers(min_value=1, max_value=1_000),
        max_size=200,
    ),
    st.lists(st.integers(min_value=1, max_value=10_000_000), max_size=5),
)
def test_a_tally_records_the_same_histogram_as_one_value_at_a_time(
    tally: dict[int, int], earlier: list[int]
) -> None:
    one_by_one, tallied = SecondStats(second=7), SecondStats(second=7)
    for stats in (one_by_one, tallied):
        for latency in earlier:  # something recorded before: min and max carry over
            stats.record_ok(latency)
    for latency, count in tally.items():
        one_by_one.record_ok(latency, count)
    tallied.record_tally(tally)
    assert tallied.to_json() == one_by_one.to_json()
    assert (tallied.ok, tallied.clamped) == (one_by_one.ok, one_by_one.clamped)
    for histogram in (tallied.latency_us, one_by_one.latency_us):
        assert histogram.get_total_count() == tallied.ok
    assert tallied.latency_us.get_min_value() == one_by_one.latency_us.get_min_value()
    assert tallied.latency_us.get_max_value() == one_by_one.latency_us.get_max_value()
    for percentile in (0, 50, 99.9, 100):
        assert tallied.latency_us.get_value_at_percentile(
            percentile
        ) == one_by_one.latency_us.get_value_at_percentile(percentile)
