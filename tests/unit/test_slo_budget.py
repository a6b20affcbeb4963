"""Error budgets: consumption, burn rates and the alert tier an experiment would have hit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit import slo
from chaoskit.errors import ConfigError
from chaoskit.slo.budget import assess, budget_verdict
from chaoskit.slo.seconds import SecondStats


def seconds(count: int, *, requests: int = 100, failures: int = 0) -> list[SecondStats]:
    made = []
    for at in range(count):
        stats = SecondStats(second=at)
        for _ in range(requests - failures):
            stats.record_ok(1000)
        for _ in range(failures):
            stats.record_failure("HTTP 500")
        made.append(stats)
    return made


@given(
    target=st.sampled_from(["99%", "99.9%", "99.95%"]),
    failures=st.integers(min_value=0, max_value=100),
    count=st.integers(min_value=1, max_value=40),
    rate=st.integers(min_value=100, max_value=1000),
)
def test_consumption_and_burn_identities(target: str, failures: int, count: int, rate: int) -> None:
    budget = slo.budget(target=target, period="30d")
    use = assess(budget, seconds(count, failures=failures), baseline_rps=rate)
    allowed = 1 - budget.target
    assert use.failed == failures * count
    assert use.consumed == pytest.approx(failures * count / (allowed * rate * 30 * 86400))
    # a constant failure ratio burns at that ratio over the allowance, in every window
    assert use.long_burn == pytest.approx(failures / 100 / allowed)
    assert use.peak_burn == pytest.approx(use.long_burn)


@pytest.mark.parametrize(
    ("failure_pct", "tier"),
    [
        (0, None),
        (0.1, "ticket (slow burn)"),
        (0.4, "ticket (fast burn)"),
        (0.7, "page (slow burn)"),
        (2, "page (fast burn)"),
    ],
)
def test_the_workbook_tier_follows_the_burn_rate(failure_pct: float, tier: str | None) -> None:
    budget = slo.budget(target="99.9%", period="30d")  # 0.1 % allowed
    use = assess(
        budget, seconds(24, requests=1000, failures=int(failure_pct * 10)), baseline_rps=1000
    )
    assert use.tier == tier


def test_a_short_spike_shows_in_the_peak_but_not_in_the_long_window() -> None:
    budget = slo.budget(target="99.9%", period="30d")
    span = seconds(23) + seconds(1, failures=50)  # one bad second in 24
    use = assess(budget, span, baseline_rps=100)
    # the short window is 24 / 12 = 2 s: 50 of 200 requests failed, 25 % / 0.1 % = 250x
    assert use.peak_burn == pytest.approx(250)
    assert use.long_burn == pytest.approx(50 / 2400 / 0.001)
    assert use.tier == "page (fast burn)"  # 20.8x over the span and 250x over the short window


def test_silence_burns_at_the_worst_rate() -> None:
    budget = slo.budget(target="99%", period="30d")
    use = assess(budget, [SecondStats(second=0)] * 12, baseline_rps=100)
    assert use.long_burn == pytest.approx(100) and use.tier == "page (fast burn)"


def test_the_gate_fails_an_experiment_that_spent_too_much() -> None:
    budget = slo.budget(target="99%", period="1h", max_budget="2%")  # 3600 * 100 * 1 % = 3600
    over = budget_verdict(
        budget, assess(budget, seconds(10, failures=10), baseline_rps=100), window="w"
    )
    assert over.status == "fail" and over.value == pytest.approx(100 / 3600)
    assert over.reason == (
        "100 unsuccessful requests used 2.78% of the 1h budget, more than the 2.00% allowed"
    )
    under = budget_verdict(
        budget, assess(budget, seconds(10, failures=5), baseline_rps=100), window="w"
    )
    assert under.status == "pass"
    assert budget.describe() == "budget 99% over 1h, at most 2% per experiment"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "100%"}, "leaves no budget"),
        ({"target": "high"}, "is not a ratio"),
        ({"target": "99.9%", "period": "a month"}, "slo.budget(period='a month')"),
    ],
)
def test_a_bad_budget_is_a_config_error(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        slo.budget(**kwargs)
    assert message in str(caught.value)


def test_the_windows_trail_the_same_instant() -> None:
    budget = slo.budget(target="99.9%", period="30d")
    # A 12 s hold and 24 s of recovery, with one bad second early in the hold. Before the
    # span, the long window sees the baseline: 100 requests/s, none failed.
    span = seconds(2) + seconds(1, failures=100) + seconds(33)
    use = assess(budget, span, baseline_rps=100, long_window=12)
    assert use.peak_burn == pytest.approx(1000)  # the 1 s short window at the spike
    assert use.long_burn == pytest.approx(100 / 1200 / 0.001)  # 83x, from then for 12 s
    assert use.tier == "page (fast burn)"

    # 2 % failed in that second: 20x over the short window, but only 1.7x over the long one
    # at the same instant; the long window never reaches 3x, so no fast-burn tier fires.
    mild = seconds(2) + seconds(1, failures=2) + seconds(33)
    use = assess(budget, mild, baseline_rps=100, long_window=12)
    assert use.peak_burn == pytest.approx(20)
    assert use.long_burn == pytest.approx(2 / 1200 / 0.001)
    assert use.tier == "ticket (slow burn)"


def test_a_long_window_longer_than_the_span_reaches_into_the_baseline() -> None:
    budget = slo.budget(target="99%", period="30d")
    # 10 % failing for 5 s, in a 60 s long window: 50 bad of 6000 requests, 0.83 % = 0.83x
    use = assess(budget, seconds(5, failures=10), baseline_rps=100, long_window=60)
    assert use.long_burn == pytest.approx(50 / 6000 / 0.01)
    assert use.peak_burn == pytest.approx(10)
    assert use.tier is None
