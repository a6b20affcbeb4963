"""The guardrail's judgement of one second before all of its requests are back
(``chaoskit.slo.live``): an early breach is one the complete second confirms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit import slo
from chaoskit.slo.live import breach
from chaoskit.slo.seconds import SecondStats

P99 = slo.parse("p99<300ms")
ERRORS = slo.parse("errors<5%")


def live_second(
    *, ok_ms: list[float], failures: int = 0, outstanding: int = 0, age_ms: float = 0.0
) -> SecondStats:
    second = SecondStats(second=100, expected=len(ok_ms) + failures + outstanding)
    second.sent = second.expected
    for latency in ok_ms:
        second.record_ok(latency * 1000)
    for _ in range(failures):
        second.record_failure("HTTP 503")
    second.in_flight, second.in_flight_age_us = outstanding, age_ms * 1000
    return second


def completed(live: SecondStats, *, ok_ms: list[float], failures: int) -> SecondStats:
    """``live`` once its outstanding requests came back: ``ok_ms`` and ``failures`` more."""
    done = SecondStats(second=live.second)
    done.merge(live)
    done.in_flight = 0
    for latency in ok_ms:
        done.record_ok(latency * 1000)
    for _ in range(failures):
        done.record_failure("HTTP 503")
    return done


def test_a_latency_objective_breaches_once_more_than_its_share_is_outstanding_past_it() -> None:
    # 200 requests: 180 back in 5 ms, 20 (10%, p99 allows 1%) outstanding
    young = live_second(ok_ms=[5.0] * 180, outstanding=20, age_ms=250)
    assert breach(P99, young, complete=False, baseline=None) is None  # not 300 ms old yet
    old = live_second(ok_ms=[5.0] * 180, outstanding=20, age_ms=310)
    measured = breach(P99, old, complete=False, baseline=None)
    assert measured is not None and measured.status == "fail"
    assert measured.shown == "20 of 200 requests took 300ms or more, 20 still outstanding"
    # one slow request in 200 is within what a p99 allows; and no second has 1,000 samples,
    # so the objective itself is inconclusive on one: the guardrail counts instead
    few = live_second(ok_ms=[5.0] * 199, outstanding=1, age_ms=5000)
    assert breach(P99, few, complete=False, baseline=None) is None


def test_an_error_objective_breaches_on_failures_out_of_all_that_can_still_complete() -> None:
    # 8 failures of 100 back, but 100 more outstanding: 4% of what may complete, not yet
    unsure = live_second(ok_ms=[5.0] * 92, failures=8, outstanding=100, age_ms=2000)
    assert breach(ERRORS, unsure, complete=False, baseline=None) is None
    certain = live_second(ok_ms=[5.0] * 92, failures=12, outstanding=100, age_ms=2000)
    measured = breach(ERRORS, certain, complete=False, baseline=None)
    assert measured is not None and "12 of 204 requests failed" in measured.shown + measured.reason


def test_objectives_that_need_the_whole_second_wait_for_it() -> None:
    stalled = live_second(ok_ms=[5.0] * 10, outstanding=190, age_ms=3000)
    floor = slo.throughput(at_least=150)
    assert breach(floor, stalled, complete=False, baseline=None) is None
    done = completed(stalled, ok_ms=[], failures=190)
    assert breach(floor, done, complete=True, baseline=None) is not None


@settings(max_examples=120, deadline=None)
@given(
    fast=st.integers(0, 300),
    slow_back=st.integers(0, 40),
    failures=st.integers(0, 40),
    outstanding=st.integers(0, 60),
    age_ms=st.floats(0, 1000),
    extra_ms=st.floats(0, 2000),
    failing_later=st.integers(0, 60),
    objective=st.sampled_from(["p99<300ms", "p90<=300ms", "p50<300ms", "errors<5%"]),
)
def test_a_second_that_passes_complete_is_never_breached_early(
    fast: int,
    slow_back: int,
    failures: int,
    outstanding: int,
    age_ms: float,
    extra_ms: float,
    failing_later: int,
    objective: str,
) -> None:
    """Whatever the outstanding requests then take (at least their age) or however many of
    them fail (latency aside: one outstanding past the threshold was slow for its user)."""
    judged = slo.parse(objective)
    live = live_second(
        ok_ms=[4.0] * fast + [450.0] * slow_back,
        failures=failures,
        outstanding=outstanding,
        age_ms=age_ms,
    )
    failing = 0 if objective.startswith("p") else min(failing_later, outstanding)
    done = completed(live, ok_ms=[age_ms + extra_ms] * (outstanding - failing), failures=failing)
    early = breach(judged, live, complete=False, baseline=None)
    if early is not None:
        assert breach(judged, done, complete=True, baseline=None) is not None, early
