"""The resilience score: the judged experiments that passed, weighted by fault severity."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit import faults
from chaoskit.experiment.result import ExperimentResult, InjectionRecord
from chaoskit.experiment.score import Score, resilience_score, score
from chaoskit.slo.measurement import Measurement
from chaoskit.testing import FakeEnvironment


def result(
    statuses: list[str],
    *,
    severity: float = 1.0,
    outcome: str = "passed",
    cause: str = "",
    expected_to_fail: bool = False,
) -> ExperimentResult:
    return ExperimentResult(
        name="x",
        env="local",
        outcome=outcome,
        reason="",
        cause=cause,  # type: ignore[arg-type]
        started=0,
        finished=1,
        objectives=(),
        injections=(
            InjectionRecord(
                injection_id="i",
                fault="f",
                target="web",
                instance_ids=(),
                injected_at=0.5,
                reverted_at=0.9,
                status="reverted",
                severity=severity,
            ),
        ),
        measurements=tuple(
            Measurement(
                objective="o",
                kind="latency",
                limit=1,
                window="w",
                value=0,
                shown="",
                status=s,
                samples=1,
            )  # type: ignore[arg-type]
            for s in statuses
        ),
        expected_to_fail=expected_to_fail,
    )


def test_a_failed_experiment_scores_0_however_much_of_it_held() -> None:
    # One breach among 30 checks scored 97 under a run whose exit code said "failed".
    breached = result(["pass"] * 29 + ["fail"], outcome="failed", cause="slo_breached")
    assert resilience_score([breached]) == 0
    assert resilience_score([result(["pass", "pass"]), breached]) == 50
    assert score([result(["pass", "pass"]), breached]).describe() == "50/100 over 2 experiments"


def test_a_pass_scores_100_and_a_pass_with_nothing_judged_does_not_count() -> None:
    # Every check inconclusive, let through by allow_inconclusive=True: it scored 50.
    unjudged = result(["inconclusive", "inconclusive"])
    assert resilience_score([result(["pass", "inconclusive"])]) == 100
    assert score([unjudged]) == Score(value=None, over=0, expected=0, unjudged=1)
    assert score([unjudged]).describe() == (
        "none: no experiment was judged (1 passed with nothing judged, not counted)"
    )
    assert resilience_score([unjudged, result(["pass"])]) == 100


def test_the_shown_score_never_rounds_a_failure_to_100_or_a_pass_to_0() -> None:
    passes = [result(["pass"], severity=3) for _ in range(200)]
    one_failure = result(["fail"], outcome="failed", cause="slo_breached")
    assert score([*passes, one_failure]).describe() == "99/100 over 201 experiments"
    assert score([one_failure] * 200 + [result(["pass"])]).shown == 1


def test_severe_faults_weigh_more() -> None:
    mild_breach = result(["fail"], severity=1, outcome="failed", cause="slo_breached")
    severe_pass = result(["pass"], severity=3)
    assert resilience_score([mild_breach, severe_pass]) == 75


def test_errors_halts_and_inconclusive_failures_score_nothing() -> None:
    assert resilience_score([result(["pass"], outcome="error", cause="revert_failed")]) == 0
    assert resilience_score([result(["pass"], outcome="failed", cause="halted")]) == 0
    assert resilience_score([result(["inconclusive"], outcome="failed", cause="inconclusive")]) == 0
    assert resilience_score([result([], outcome="error", cause="steady_state_broken")]) == 0


def test_expected_failures_are_shown_and_not_counted() -> None:
    demo = result(["fail"], outcome="failed", cause="slo_breached", expected_to_fail=True)
    assert score([result(["pass"]), demo]).describe() == (
        "100/100 over 1 experiment (1 failed as expected, not counted)"
    )
    assert resilience_score([demo]) is None
    assert resilience_score([]) is None
    # A fault left active is an error pytest reports under xfail too: it counts.
    stuck = result(["pass"], outcome="error", cause="revert_failed", expected_to_fail=True)
    assert score([result(["pass"]), stuck]) == Score(value=50, over=2, expected=0, unjudged=0)


# -- the ordering property: a failure can never make a run look healthier ----------------------

_counted = st.builds(
    result,
    st.lists(st.sampled_from(["pass", "fail", "inconclusive"]), min_size=1, max_size=6).map(
        lambda statuses: ["pass", *statuses]  # at least one check judged
    ),
    severity=st.floats(min_value=1, max_value=3),
    outcome=st.sampled_from(["passed", "failed", "error"]),
    cause=st.sampled_from(["", "slo_breached", "halted", "inconclusive", "revert_failed"]),
    expected_to_fail=st.just(False),
)
_any = st.one_of(
    _counted,
    st.builds(
        result,
        st.lists(st.sampled_from(["pass", "fail", "inconclusive"]), max_size=4),
        outcome=st.sampled_from(["passed", "failed", "error"]),
        expected_to_fail=st.booleans(),
    ),
)


@given(
    others=st.lists(_any, max_size=6),
    failed=_counted.map(lambda r: replace(r, outcome="failed", cause="slo_breached")),
    position=st.integers(min_value=0, max_value=6),
)
def test_a_run_scores_lower_with_a_failure_than_with_that_experiment_passed(
    others: list[ExperimentResult], failed: ExperimentResult, position: int
) -> None:
    passed = replace(failed, outcome="passed", cause="")
    with_failure = resilience_score([*others[:position], failed, *others[position:]])
    with_pass = resilience_score([*others[:position], passed, *others[position:]])
    assert with_failure is not None and with_pass is not None
    assert with_failure < with_pass
    assert with_failure < 100  # a failed run never reads as fully healthy, even rounded
    assert score([*others, failed]).describe().split("/")[0] != "100"


@given(st.lists(_counted, min_size=1, max_size=8))
def test_a_run_where_every_counted_experiment_failed_scores_0(
    experiments: list[ExperimentResult],
) -> None:
    failed = [replace(r, outcome="failed", cause="slo_breached") for r in experiments]
    demo = result(["fail"], outcome="failed", cause="slo_breached", expected_to_fail=True)
    assert resilience_score([*failed, demo]) == 0
    assert score(failed).over == len(failed)


@given(st.lists(_counted, min_size=1, max_size=8))
def test_a_run_where_every_experiment_passed_scores_100(
    experiments: list[ExperimentResult],
) -> None:
    assert resilience_score([replace(r, outcome="passed", cause="") for r in experiments]) == 100


def test_severity_follows_the_fault() -> None:
    env, rng = FakeEnvironment(), random.Random(0)
    assert faults.Latency(target="web", delay="50ms").plan(env, rng).severity == pytest.approx(1.1)
    assert faults.Latency(target="web", delay="2s").plan(env, rng).severity == 3
    assert faults.TerminateInstances(target="web").plan(env, rng).severity == pytest.approx(
        2 + 1 / 3
    )
