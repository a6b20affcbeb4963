"""An objective's identity (``key``): equal for equal objectives, different where the
definitions differ even when they read the same, stable across processes, and carried on
every Measurement; journals written before it existed still load."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from tests.strategies import objectives, simple_objectives

from chaoskit import prometheus, slo
from chaoskit.slo import Measurement, Objective
from chaoskit.slo.budget import BudgetUse, budget_verdict
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window


@given(simple_objectives)
def test_an_objective_and_its_parsed_description_share_one_key(objective: Objective) -> None:
    parsed = slo.parse(objective.describe())
    assert parsed == objective
    assert parsed.key == objective.key


@given(objectives)
def test_a_rebuilt_objective_has_the_same_key(objective: Objective) -> None:
    assert dataclasses.replace(objective).key == objective.key


def test_objectives_that_read_the_same_but_differ_have_different_keys() -> None:
    during = slo.latency(p=99, below="300ms", phases="during")
    after = slo.latency(p=99, below="300ms", phases="after")
    assert during.describe() == after.describe()
    assert during.key != after.key
    check = slo.custom("no 503s", lambda window: True)
    assert check.key == slo.custom("no 503s", lambda window: False).key  # equal, as == says
    assert check.key != slo.custom("no 502s", lambda window: True).key
    assert slo.parse("p99<300ms").key != slo.parse("p99<=300ms").key


def test_the_key_is_the_same_in_every_process() -> None:
    # A digest of the definition, not hash(): a journal names the same objective tomorrow.
    assert slo.latency(p=99, below="300ms").key == "latency-4e0ce73cb8c6"
    assert slo.parse("p99<300ms & errors<1%").key == "composite-e8caad9a759b"


def _window() -> Window:
    seconds = []
    for second in range(4):
        stats = SecondStats(second=second)
        for _ in range(300):
            stats.record_ok(20_000)
        stats.expected = stats.sent = 300
        seconds.append(stats)
    return Window(name="fault 1", kind="fault", seconds=seconds)


def test_every_measurement_carries_its_objective_key() -> None:
    window = _window()
    for objective in (
        slo.parse("p99<300ms"),
        slo.parse("errors<1% | availability>=99%"),
        slo.throughput(at_least=10),
        slo.custom("fine", lambda w: True),
        slo.latency_unchanged(),
    ):
        measured = objective.evaluate(window)
        assert measured.objective_key == objective.key
        assert measured.objective == objective.describe()
    budget = slo.budget(target="99.9%")
    use = BudgetUse(consumed=0.0, failed=0, requests=1200, peak_burn=0, long_burn=0, tier=None)
    assert budget_verdict(budget, use, window="fault to end").objective_key == budget.key
    server = prometheus.query(name="server p99", promql="up", below="50ms", url="http://a:1")
    assert server.key.startswith("custom-") and server.key != slo.custom("x", bool).key


def test_a_measurement_journaled_before_objectives_had_keys_still_loads() -> None:
    old = {
        "objective": "p99 < 300ms",
        "kind": "latency",
        "limit": 0.3,
        "window": "baseline",
        "value": 0.02,
        "shown": "20ms",
        "status": "pass",
        "samples": 1200,
        "reason": "",
    }
    assert Measurement(**old).objective_key == ""
