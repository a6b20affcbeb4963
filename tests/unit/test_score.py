"""The resilience score: objectives held, weighted by the severity of the faults."""

from __future__ import annotations

import random

import pytest

from chaoskit import faults
from chaoskit.experiment.result import ExperimentResult, InjectionRecord
from chaoskit.experiment.score import resilience_score
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


def test_all_held_is_100_and_a_breach_costs_its_share() -> None:
    assert resilience_score([result(["pass", "pass"])]) == 100
    assert resilience_score([result(["pass", "fail", "pass", "inconclusive"])]) == 62.5


def test_severe_faults_weigh_more() -> None:
    mild_breach = result(["fail"], severity=1)
    severe_pass = result(["pass"], severity=3)
    assert resilience_score([mild_breach, severe_pass]) == 75


def test_errors_halts_and_empty_experiments_score_nothing() -> None:
    assert resilience_score([result(["pass"], outcome="error", cause="revert_failed")]) == 0
    assert resilience_score([result(["pass"], outcome="failed", cause="halted")]) == 0


def test_expected_failures_do_not_count_and_no_experiments_give_none() -> None:
    demo = result(["fail"], outcome="failed", cause="slo_breached", expected_to_fail=True)
    assert resilience_score([result(["pass"]), demo]) == 100
    assert resilience_score([demo]) is None
    assert resilience_score([]) is None


def test_severity_follows_the_fault() -> None:
    env, rng = FakeEnvironment(), random.Random(0)
    assert faults.Latency(target="web", delay="50ms").plan(env, rng).severity == pytest.approx(1.1)
    assert faults.Latency(target="web", delay="2s").plan(env, rng).severity == 3
    assert faults.TerminateInstances(target="web").plan(env, rng).severity == pytest.approx(
        2 + 1 / 3
    )
