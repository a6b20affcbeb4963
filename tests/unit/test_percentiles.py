"""Percentiles read from encoded histograms are exactly hdrh's, for any second's content."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chaoskit.slo.percentiles import percentiles_of_encodings
from chaoskit.slo.seconds import SecondStats

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
latencies_us = st.lists(
    st.tuples(st.floats(min_value=1, max_value=3_600_000_000), st.integers(1, 5000)),
    min_size=1,
    max_size=200,
)


def _second(values: list[tuple[float, int]]) -> SecondStats:
    stats = SecondStats(second=1)
    for latency, count in values:
        stats.record_ok(latency, count=count)
    return stats


@given(latencies_us)
def test_one_encoded_second_reads_as_hdrh_reads_it(values: list[tuple[float, int]]) -> None:
    stats = _second(values)
    encoded = stats.to_json()["latency_us"]
    expected = [float(stats.latency_us.get_value_at_percentile(p)) for p in PERCENTILES]
    assert percentiles_of_encodings([encoded], PERCENTILES) == expected


@given(latencies_us, latencies_us)
def test_several_encodings_read_as_their_sum(
    first: list[tuple[float, int]], second: list[tuple[float, int]]
) -> None:
    one, two = _second(first), _second(second)
    encodings = [one.to_json()["latency_us"], two.to_json()["latency_us"]]
    one.merge(two)
    expected = [float(one.latency_us.get_value_at_percentile(p)) for p in PERCENTILES]
    assert percentiles_of_encodings(encodings, PERCENTILES) == expected


def test_a_second_read_back_from_the_journal_gives_the_same_percentiles() -> None:
    stats = _second([(4000, 90), (420_000, 10)])
    read_back = SecondStats.from_json(stats.to_json())
    assert read_back.latency_percentiles_us((50, 95)) == [4001.0, 420095.0]
    assert read_back.latency_percentiles_us((50, 95)) == stats.latency_percentiles_us((50, 95))
    assert SecondStats(second=1).latency_percentiles_us((50,)) is None
