"""Baseline against later windows: the U test from histograms, and the proportion test."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit import slo
from chaoskit.errors import ConfigError
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.statistics import mann_whitney, proportion_increase
from chaoskit.slo.window import Window

# Values below 2048 µs are recorded exactly at 3 significant digits, so the histogram's U must
# equal the textbook definition over the raw values.
exact_latencies_us = st.lists(st.integers(min_value=1, max_value=2047), min_size=1, max_size=60)


def stats_of(latencies_us: list[int], failures: int = 0) -> SecondStats:
    stats = SecondStats(second=0)
    for value in latencies_us:
        stats.record_ok(value)
    for _ in range(failures):
        stats.record_failure("HTTP 500")
    return stats


@settings(max_examples=40)  # each example allocates two full-range histograms
@given(exact_latencies_us, exact_latencies_us)
def test_u_from_histograms_equals_counting_every_pair(xs: list[int], ys: list[int]) -> None:
    brute = sum(1.0 if y > x else 0.5 if y == x else 0.0 for x in xs for y in ys)
    assert mann_whitney(stats_of(xs), stats_of(ys)).u == brute


def test_the_p_value_matches_the_reference_implementation() -> None:
    rng = random.Random(1)
    xs = [rng.randint(1000, 2000) for _ in range(500)]
    ys = [rng.randint(1030, 2030) for _ in range(400)]
    test = mann_whitney(stats_of(xs), stats_of(ys))
    # scipy.stats.mannwhitneyu(ys, xs, alternative="greater", method="asymptotic") on the same
    # data gives U = 104547.0 and p = 0.1203474
    assert test.u == 104547.0
    assert test.p_value == pytest.approx(0.1203474, rel=1e-5)
    assert test.effect == pytest.approx(104547.0 / (500 * 400))


def test_the_proportion_test() -> None:
    p_value, increase = proportion_increase(stats_of([1000] * 990, 10), stats_of([1000] * 960, 40))
    assert increase == pytest.approx(0.03)
    # pooled 2.5 %: z = 0.03 / sqrt(0.025 * 0.975 * (2 / 1000)) = 4.296
    assert p_value == pytest.approx(0.5 * math.erfc(4.2966 / 2**0.5), rel=1e-3)


def windows(later: SecondStats, base: SecondStats) -> Window:
    baseline = Window(name="baseline", kind="baseline", seconds=[base])
    return Window(name="fault 1", kind="fault", seconds=[later], baseline=baseline)


def test_a_material_slowdown_fails_and_a_tiny_one_passes() -> None:
    rng = random.Random(7)
    base = stats_of([rng.randint(2000, 30000) for _ in range(2000)])
    slower = stats_of([rng.randint(20000, 48000) for _ in range(2000)])  # +18 ms
    barely = stats_of([rng.randint(2100, 30100) for _ in range(2000)])  # +0.1 ms
    objective = slo.latency_unchanged()
    failed = objective.evaluate(windows(slower, base))
    assert failed.status == "fail" and failed.value is not None and failed.value > 0.64
    assert failed.reason.startswith("slower than baseline: A=0.")
    assert "p50 +18" in failed.reason
    assert objective.evaluate(windows(barely, base)).status == "pass"


def test_a_large_but_harmless_shift_is_not_a_degradation() -> None:
    # a busy laptop: every request about 1 ms slower, a large effect in probability only
    rng = random.Random(3)
    base = stats_of([rng.randint(2000, 2400) for _ in range(2000)])
    busier = stats_of([rng.randint(3000, 3400) for _ in range(2000)])
    measured = slo.latency_unchanged().evaluate(windows(busier, base))
    assert measured.value == 1.0 and measured.status == "pass"
    assert slo.latency_unchanged(min_shift="0.5ms").evaluate(windows(busier, base)).status == (
        "fail"
    )


def test_more_errors_fail_only_when_significant_and_material() -> None:
    objective = slo.errors_unchanged()  # +0.5 points at 1 %
    base = stats_of([1000] * 1990, 10)
    assert objective.evaluate(windows(stats_of([1000] * 1940, 60), base)).status == "fail"
    assert objective.evaluate(windows(stats_of([1000] * 1985, 15), base)).status == "pass"


def test_few_samples_are_inconclusive_and_the_baseline_is_never_compared_with_itself() -> None:
    objective = slo.latency_unchanged()
    assert objective.evaluate(windows(stats_of([10] * 5), stats_of([10] * 500))).status == (
        "inconclusive"
    )
    assert "baseline" not in objective.phases
    assert "baseline" not in slo.errors_unchanged(phases="all").phases


def test_a_bad_effect_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"above 0\.5 and below 1"):
        slo.latency_unchanged(min_effect=0.3)
