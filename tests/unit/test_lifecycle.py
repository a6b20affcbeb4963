"""The experiment lifecycle against fakes: phases, verdicts, reverts and the journal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chaoskit import faults, slo
from chaoskit.errors import InjectionError, RevertError, SteadyStateBroken
from chaoskit.experiment import (
    Experiment,
    ExperimentSettings,
    JournalWriter,
    read_events,
    unreverted_intents,
)
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver, Traffic

OBJECTIVES = (slo.latency(p=99, below="300ms"), slo.error_rate(below="1%"))


def make(tmp_path: Path, traffic=lambda second: Traffic(), **settings) -> Experiment:
    clock = FakeClock()
    return Experiment(
        settings=ExperimentSettings(
            name="exp",
            objectives=settings.pop("objectives", OBJECTIVES),
            baseline=5.0,
            recovery=5.0,
            **settings,
        ),
        env=FakeEnvironment(),
        load=FakeLoadDriver(traffic),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(1),
    )


def test_a_healthy_experiment_passes_with_every_phase_measured(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    result = experiment.run(
        lambda chaos: chaos.inject(faults.Latency(target="web", delay="10ms"), hold="8s")
    )
    assert result.outcome == "passed", result.reason
    assert [p.kind for p in result.phases] == ["baseline", "fault", "recovery"]
    assert {m.window for m in result.measurements} == {"baseline", "fault 1", "recovery"}
    assert all(m.status == "pass" for m in result.measurements)
    assert experiment.env.target("web").faults == {}  # reverted
    assert experiment.load.running is False


def test_a_breach_during_the_hold_fails_and_names_the_objective(tmp_path: Path) -> None:
    clock_start = FakeClock().time
    slow_from = int(clock_start) + 6  # after the 5 s baseline

    def traffic(second: int) -> Traffic:
        return Traffic(latency_ms=450 if slow_from <= second < slow_from + 8 else 5)

    result = make(tmp_path, traffic).run(
        lambda chaos: chaos.inject(faults.Latency(target="web", delay="450ms"), hold="8s")
    )
    assert result.outcome == "failed"
    assert "p99 < 300ms in fault 1" in result.reason
    breach = result.breaches()[0]
    assert breach.window == "fault 1" and breach.value == pytest.approx(0.45, rel=0.01)


def test_a_broken_steady_state_before_injection_is_an_error_and_injects_nothing(
    tmp_path: Path,
) -> None:
    experiment = make(tmp_path, lambda second: Traffic(error_ratio=0.5))
    with pytest.raises(SteadyStateBroken, match="errors < 1%"):
        experiment.start()
    assert experiment.result is not None and experiment.result.outcome == "error"
    assert experiment.result.injections == ()
    assert experiment.load.running is False


def test_too_few_samples_is_inconclusive_and_fails_unless_allowed(tmp_path: Path) -> None:
    sparse = make(tmp_path, lambda second: Traffic(requests=50))
    with pytest.raises(SteadyStateBroken, match="needs 1000"):
        sparse.start()

    allowed = make(tmp_path, lambda second: Traffic(requests=50), allow_inconclusive=True)
    result = allowed.run(
        lambda chaos: chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
    )
    assert result.outcome == "passed"
    assert any(m.status == "inconclusive" for m in result.measurements)


def test_an_experiment_that_injects_nothing_fails(tmp_path: Path) -> None:
    result = make(tmp_path).run(lambda chaos: None)
    assert result.outcome == "failed"
    assert "no fault was injected" in result.reason


def test_a_fault_that_cannot_be_injected_is_journalled_and_raised(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.env.target("web").fail_terminate = True
    experiment.start()
    with pytest.raises(InjectionError, match="refused to terminate"):
        experiment.inject(faults.TerminateInstances(target="web"), hold="1s")
    events = [e["event"] for e in read_events(experiment.journal.path)]
    assert events[-2:] == ["fault_intent", "fault_not_injected"]
    assert unreverted_intents(experiment.journal.path) == []


def test_an_exception_mid_hold_reverts_and_marks_the_journal(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    target = experiment.env.target("web")

    def body(chaos: Experiment) -> None:
        with chaos.inject(faults.Latency(target="web", delay="200ms")):
            assert len(target.faults) == 1  # active inside the block
            raise RuntimeError("operator pulled the plug")

    with pytest.raises(RuntimeError):
        body(experiment)
    result = experiment.abort(RuntimeError("operator pulled the plug"))
    assert target.faults == {}
    assert result.injections[0].status == "reverted"
    assert unreverted_intents(experiment.journal.path) == []


def test_a_failed_revert_is_an_error_naming_what_is_still_active(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    experiment.inject(faults.Latency(target="web", delay="200ms"))  # left active
    experiment.env.target("web").fail_remove = True
    result = experiment.finish()
    assert result.outcome == "error"
    assert "still active" in result.reason and "i-" in result.reason
    intents = unreverted_intents(experiment.journal.path)
    assert [i["fault"] for i in intents] == ["Latency 200ms on 1 of web"]


def test_revert_failure_inside_a_hold_raises_revert_error(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    experiment.env.target("web").fail_remove = True
    with pytest.raises(RevertError, match="still active"):
        experiment.inject(faults.Latency(target="web", delay="200ms"), hold="2s")


def test_the_intent_reaches_the_journal_before_the_fault_is_injected(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    seen_at_injection: list[str] = []
    target = experiment.env.target("web")
    real_add = target.add_latency

    def spying_add(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen_at_injection.extend(e["event"] for e in read_events(experiment.journal.path))
        return real_add(*args, **kwargs)

    target.add_latency = spying_add  # type: ignore[method-assign]
    experiment.inject(faults.Latency(target="web", delay="1ms"), hold=1)
    assert seen_at_injection[-1] == "fault_intent"


def test_the_seed_decides_which_instance_is_hit(tmp_path: Path) -> None:
    def victim(seed: int) -> tuple[str, ...]:
        experiment = make(tmp_path)
        experiment.rng = random.Random(seed)
        plan = faults.TerminateInstances(target="web").plan(experiment.env, experiment.rng)
        return plan.instance_ids

    assert victim(7) == victim(7)
    assert len({victim(seed) for seed in range(20)}) > 1
