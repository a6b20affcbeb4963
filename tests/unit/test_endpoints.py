"""Requests per endpoint (a locust request's ``name``): counted per second by the worker's
recorder, bounded in names, carried through the wire's JSON, merged over workers and
windows, and read back as percentiles."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit.load._locust.recorder import SecondRecorder, Stamp
from chaoskit.load._measurements import Measurements
from chaoskit.slo.endpoints import (
    MAX_ENDPOINTS,
    OTHER,
    EndpointSecond,
    bucket_middle_us,
    bucket_of,
)
from chaoskit.slo.seconds import SecondStats, merge_seconds


def _stamp(intended: float, latency_s: float, name: str, failure: str | None = None) -> Stamp:
    """A request as the client wrapper and locust's request event leave it."""
    return Stamp(
        intended=intended,
        sent=intended,
        answered=True,
        failure=failure,
        done=intended + latency_s,
        name=name,
    )


def test_a_worker_counts_each_request_under_its_locust_name() -> None:
    recorder = SecondRecorder(grace=20.0)
    for offset in range(10):
        recorder.sent(100.0 + offset / 20)
        recorder.finished.append(_stamp(100.0 + offset / 20, 0.004, "/cart"))
    for offset in range(3):
        recorder.sent(100.5 + offset / 20)
        recorder.finished.append(_stamp(100.5 + offset / 20, 0.2, "/checkout", "HTTP 503"))
    recorder.sent(100.9)
    recorder.finished.append(_stamp(100.9, 0.120, "/checkout"))
    # A request without a name (a custom client) counts in the second, under no endpoint.
    recorder.record_ok(start_time=100.95, latency_ms=1.0)

    [stats] = recorder.drain(now=102.0).seconds
    cart, checkout = stats.endpoints["/cart"], stats.endpoints["/checkout"]
    assert (cart.ok, cart.failed) == (10, {})
    assert (checkout.ok, checkout.failed) == (1, {"HTTP 503": 3})
    assert cart.percentiles_ms([50]) == [pytest.approx(4.0, rel=0.033)]
    assert checkout.percentiles_ms([99]) == [pytest.approx(120.0, rel=0.033)]
    assert stats.ok == 12 and set(stats.endpoints) == {"/cart", "/checkout"}


def test_a_request_no_wrapper_stamped_counts_under_its_name_too() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.1, latency_ms=2.0, name="/own-client")
    recorder.record_failure(start_time=100.2, reason="HTTP 500", name="/own-client")

    [stats] = recorder.drain(now=102.0).seconds
    endpoint = stats.endpoints["/own-client"]
    assert (endpoint.ok, endpoint.failed) == (1, {"HTTP 500": 1})


def test_names_past_the_limit_count_as_other_so_memory_stays_bounded() -> None:
    recorder = SecondRecorder(grace=20.0)
    # A locustfile naming each request by its url, ids and all.
    for index in range(MAX_ENDPOINTS + 30):
        intended = 100.0 + index / 1000
        recorder.sent(intended)
        recorder.finished.append(_stamp(intended, 0.001, f"/item/{index}"))
    recorder.sent(100.5)
    recorder.finished.append(_stamp(100.5, 0.001, "/item/77", "HTTP 404"))

    [stats] = recorder.drain(now=102.0).seconds
    assert len(stats.endpoints) == MAX_ENDPOINTS + 1
    assert stats.endpoints[OTHER].ok == 30
    assert stats.endpoints[OTHER].failed == {"HTTP 404": 1}
    assert "/item/0" in stats.endpoints and "/item/79" not in stats.endpoints


def test_merging_workers_keeps_the_limit() -> None:
    first, second = SecondStats(second=5), SecondStats(second=5)
    for index in range(MAX_ENDPOINTS):
        first.endpoint(f"/a{index}").record_tally({1000: 1})
        second.endpoint(f"/b{index}").record_tally({1000: 2})

    first.merge(second)
    assert len(first.endpoints) == MAX_ENDPOINTS + 1
    assert first.endpoints[OTHER].ok == 2 * MAX_ENDPOINTS


def test_endpoints_travel_the_wire_and_merge_over_workers_and_windows() -> None:
    store = Measurements()
    for worker, latency_us in (("w1", 4000), ("w2", 8000)):
        stats = SecondStats(second=100, expected=5, sent=5)
        stats.record_tally({latency_us: 5})
        stats.endpoint("/cart").record_tally({latency_us: 5})
        stats.endpoint("/cart").record_failure("ConnectionError")
        store.add(worker, 101.0, json.loads(json.dumps([stats.to_json()])))

    [merged] = store.seconds(100, 101)
    window = merge_seconds([merged, merged.compacted()])
    cart = window.endpoints["/cart"]
    assert (cart.ok, cart.failed) == (20, {"ConnectionError": 4})
    assert cart.percentiles_ms([25, 75]) == [
        pytest.approx(4.0, rel=0.033),
        pytest.approx(8.0, rel=0.033),
    ]


def test_a_second_without_names_encodes_as_before() -> None:
    stats = SecondStats(second=1)
    stats.record_ok(1000)
    assert "endpoints" not in stats.to_json()
    assert not SecondStats.from_json(stats.to_json()).has_endpoints


@pytest.mark.parametrize(
    "endpoints",
    [
        [],
        {"/x": {"ok": -1}},
        {"/x": {"ok": 1, "latency": [0, 1]}},
        {"/x": {"ok": 1, "failed": {"HTTP 500": "2"}}},
        {"/x": "no"},
    ],
)
def test_a_bad_endpoint_on_the_wire_is_refused_when_read(endpoints: object) -> None:
    stats = SecondStats(second=1).to_json()
    with pytest.raises(ValueError, match="endpoint"):
        SecondStats.from_json({**stats, "endpoints": endpoints})


@given(st.integers(min_value=1, max_value=3_600_000_000))
def test_a_bucket_s_middle_is_within_3_2_percent_of_its_values(latency_us: int) -> None:
    middle = bucket_middle_us(bucket_of(latency_us))
    assert abs(middle - latency_us) <= 0.032 * latency_us


@given(st.integers(min_value=1, max_value=3_600_000_000), st.integers(1, 1000))
def test_buckets_keep_the_order_of_values(low: int, step: int) -> None:
    assert bucket_of(low) <= bucket_of(low + step)


def test_percentiles_of_an_endpoint_match_the_exact_ones_within_the_bucket_width() -> None:
    rng = random.Random(4)
    values = sorted(round(rng.lognormvariate(8.5, 0.6)) for _ in range(5000))
    endpoint = EndpointSecond()
    tally: dict[int, int] = {}
    for value in values:
        tally[value] = tally.get(value, 0) + 1
    endpoint.record_tally(tally)
    again = EndpointSecond.from_json(json.loads(json.dumps(endpoint.to_json())))
    for percentile, got in zip((50, 95, 99), again.percentiles_ms([50, 95, 99]) or [], strict=True):
        exact = values[round(len(values) * percentile / 100) - 1] / 1000
        assert got == pytest.approx(exact, rel=0.04)
