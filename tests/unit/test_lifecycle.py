"""The experiment lifecycle against fakes: phases, verdicts, reverts and the journal."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from chaoskit import faults, slo
from chaoskit.errors import (
    ConfigError,
    DryRunRefused,
    InjectionError,
    LoadError,
    ProviderError,
    RevertError,
    SteadyStateBroken,
)
from chaoskit.experiment import (
    Experiment,
    ExperimentSettings,
    JournalWriter,
    read_events,
    unreverted_intents,
)
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver, Traffic

OBJECTIVES = (slo.latency(p=99, below="300ms"), slo.error_rate(below="1%"))


def make(tmp_path: Path, traffic=lambda second: Traffic(), **settings) -> Experiment:
    clock = FakeClock()
    return Experiment(
        settings=ExperimentSettings(
            name="exp",
            objectives=settings.pop("objectives", OBJECTIVES),
            baseline=5.0,
            **{"recovery": 6.0, **settings},
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


def test_users_queueing_behind_their_own_runs_are_reported_from_the_baseline_on(
    tmp_path: Path,
) -> None:
    # 20 of 200 requests a second waited for their user.
    notes: list[str] = []
    experiment = make(tmp_path, lambda second: Traffic(latency_ms=50, queued=20, queued_max_ms=80))
    experiment.notify = notes.append
    experiment.run(lambda chaos: chaos.inject(faults.Latency(target="web", delay="1ms"), hold="6s"))
    [warning] = [note for note in notes if note.startswith("warning")]
    assert warning == (
        "warning: the load is short of users: 10% of requests waited for their user to "
        "finish an earlier task run (up to 80 ms) and were sent late, one after another: their "
        "latency includes that queue, which separate real users would not have formed; more "
        "users would send every request on time (at least 200/s x the longest response time)"
    )
    assert [note.split(":")[0] for note in notes if ": note: " in note] == ["fault 1", "recovery"]
    quiet: list[str] = []
    experiment = make(tmp_path / "quiet", lambda second: Traffic(queued=1))  # 0.5%
    experiment.notify = quiet.append
    experiment.run(lambda chaos: chaos.inject(faults.Latency(target="web", delay="1ms"), hold="6s"))
    assert not [note for note in quiet if "waited for their user" in note]


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


def test_an_allowed_inconclusive_verdict_says_what_held_and_what_was_not_judged(
    tmp_path: Path,
) -> None:
    # Plenty of requests until the revert, then too few for a p99 in the recovery window.
    reverted = int(FakeClock().time) + 13
    experiment = make(
        tmp_path,
        lambda second: Traffic(requests=50 if second >= reverted else 400),
        allow_inconclusive=True,
    )
    notes: list[str] = []
    experiment.notify = notes.append
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "passed"
    [unsure] = [m for m in result.measurements if m.status == "inconclusive"]
    assert result.reason == (
        "3 of 4 checks held; 1 not judged (too few samples, allowed by "
        f"allow_inconclusive=True): p99 < 300ms in recovery: {unsure.reason}"
    )
    assert notes[-1] == f"verdict: passed: {result.reason}"


def test_an_allowed_verdict_with_nothing_judged_does_not_claim_anything_held(
    tmp_path: Path,
) -> None:
    experiment = make(
        tmp_path,
        lambda second: Traffic(requests=50),
        objectives=(slo.latency(p=99, below="300ms"),),
        allow_inconclusive=True,
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "passed"  # what allow_inconclusive=True asks for
    assert "held" not in result.reason
    assert result.reason.startswith(
        "nothing could be judged during or after the fault: 2 checks had too few samples "
        "(allowed by allow_inconclusive=True): p99 < 300ms in fault 1: "
    )
    assert "; p99 < 300ms in recovery: " in result.reason


def test_a_total_outage_fails_even_with_inconclusive_allowed(tmp_path: Path) -> None:
    # A Blackhole on every instance: requests are due from the injection on and none comes
    # back, so every check is short of samples; allowing that must not pass an outage.
    injected = int(FakeClock().time) + 5
    experiment = make(
        tmp_path,
        lambda second: Traffic(requests=0, missing=200) if second >= injected else Traffic(),
        allow_inconclusive=True,
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "failed"
    assert result.cause == "slo_breached"
    assert "no request succeeded in fault 1 (1600 requests expected, none answered)" in (
        result.reason
    )
    assert "no request succeeded in recovery" in result.reason


@pytest.mark.parametrize("allow_inconclusive", [True, False])
def test_a_load_whose_every_request_fails_stops_at_the_baseline_naming_the_failure(
    tmp_path: Path, allow_inconclusive: bool
) -> None:
    experiment = make(
        tmp_path,
        lambda second: Traffic(error_ratio=1.0),
        objectives=(slo.latency(p=99, below="300ms"),),
        allow_inconclusive=allow_inconclusive,
    )
    with pytest.raises(SteadyStateBroken) as raised:
        experiment.start()
    message = str(raised.value)
    assert "no request succeeded in baseline (1000 requests expected: " in message
    assert "ConnectionResetError 1000" in message
    # More users or a longer baseline would not help: the advice must not say so.
    assert "lengthen baseline" not in message
    assert experiment.result is not None and experiment.result.outcome == "error"


def test_a_pass_with_nothing_to_judge_after_the_baseline_says_so(tmp_path: Path) -> None:
    experiment = make(tmp_path, objectives=(slo.parse("p99<300ms", phases="baseline"),))
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "passed"
    assert result.reason == (
        "nothing was judged during or after the fault: no objective applies to those phases "
        "(see each objective's phases=)"
    )


def test_a_pass_with_every_check_judged_says_every_objective_held(tmp_path: Path) -> None:
    result = make(tmp_path).run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert (result.outcome, result.reason) == ("passed", "every objective held")


def test_an_experiment_that_injects_nothing_fails(tmp_path: Path) -> None:
    result = make(tmp_path).run(lambda chaos: None)
    assert result.outcome == "failed"
    assert "no fault was injected" in result.reason


def test_a_fault_that_cannot_be_injected_is_journalled_and_raised(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.env.target("web").fail_terminate = True
    experiment.start()
    with pytest.raises(InjectionError, match="refused to terminate"):
        experiment.inject(faults.TerminateInstances(target="web"), hold="6s")
    events = [e.event for e in read_events(experiment.journal.path)]
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
    assert [i.fault for i in intents] == ["Latency 200ms on 1 of web"]
    [failure] = result.revert_failures
    assert failure.injection_id == intents[0].injection_id
    assert failure.fault == "Latency 200ms on 1 of web"
    assert failure.instance_ids == result.injections[0].instance_ids
    assert failure.error == result.injections[0].error  # the provider's own words
    assert result.reason == failure.message  # which names the fault and its instances


def test_revert_failure_inside_a_hold_raises_revert_error_carrying_the_record(
    tmp_path: Path,
) -> None:
    experiment = make(tmp_path)
    experiment.start()
    experiment.env.target("web").fail_remove = True
    with pytest.raises(RevertError, match="still active") as caught:
        experiment.inject(faults.Latency(target="web", delay="200ms"), hold="6s")
    [failure] = caught.value.failures
    [intent] = unreverted_intents(experiment.journal.path)
    assert failure.injection_id == intent.injection_id
    assert failure.fault == "Latency 200ms on 1 of web"
    assert failure.instance_ids == intent.instance_ids
    assert str(caught.value) == failure.message


def test_a_faults_own_revert_error_reaches_the_caller_with_the_record(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    handle = experiment.inject(FakeFault(fail_revert=True))
    with pytest.raises(RevertError) as caught:
        handle.revert()
    [failure] = caught.value.failures
    # The fault's own words, unchanged: they already name what may still be active.
    assert str(caught.value) == f"FakeFault on web is still active on {handle.instance_ids[0]}"
    assert failure.fault == "FakeFault on web"
    assert failure.instance_ids == handle.instance_ids
    result = experiment.finish()
    assert result.revert_failures == (failure,)


def test_the_intent_reaches_the_journal_before_the_fault_is_injected(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    seen_at_injection: list[str] = []
    target = experiment.env.target("web")
    real_add = target.add_network_fault

    def spying_add(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen_at_injection.extend(e.event for e in read_events(experiment.journal.path))
        return real_add(*args, **kwargs)

    target.add_network_fault = spying_add  # type: ignore[method-assign]
    experiment.inject(faults.Latency(target="web", delay="1ms"), hold=6)
    assert seen_at_injection[-1] == "fault_intent"


def test_the_seed_decides_which_instance_is_hit(tmp_path: Path) -> None:
    def victim(seed: int) -> tuple[str, ...]:
        experiment = make(tmp_path)
        experiment.rng = random.Random(seed)
        plan = faults.TerminateInstances(target="web").plan(experiment.env, experiment.rng)
        return plan.instance_ids

    assert victim(7) == victim(7)
    assert len({victim(seed) for seed in range(20)}) > 1


def test_ctrl_c_during_a_hold_reverts_and_stays_a_ctrl_c_even_if_the_revert_fails(
    tmp_path: Path,
) -> None:
    experiment = make(tmp_path)
    experiment.start()
    fault = FakeFault(fail_revert=True)

    def interrupted_sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    experiment.clock.sleep = interrupted_sleep  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt) as caught:
        experiment.inject(fault, hold="8s")
    assert any("still active" in note for note in caught.value.__notes__)
    result = experiment.abort(caught.value)
    assert result.outcome == "error" and result.cause == "revert_failed"
    assert len(unreverted_intents(experiment.journal.path)) == 1


def test_a_latency_request_that_failed_after_taking_effect_is_cleaned_up(
    tmp_path: Path,
) -> None:
    experiment = make(tmp_path)
    experiment.start()
    web = experiment.env.target("web")
    web.fail_after_adding = True
    with pytest.raises(InjectionError, match="timed out"):
        experiment.inject(faults.Latency(target="web", delay="200ms"), hold="6s")
    assert web.faults == {}
    assert unreverted_intents(experiment.journal.path) == []


def test_an_injection_that_may_have_taken_effect_keeps_its_intent_open(tmp_path: Path) -> None:
    experiment = make(tmp_path)
    experiment.start()
    web = experiment.env.target("web")
    web.fail_after_adding = True
    listings: list[list[str]] = [[]]  # the listing before injecting works, the one after not

    def listing() -> list[str]:
        if listings:
            return listings.pop()
        raise ProviderError("unreachable")

    web.active_faults = listing  # type: ignore[method-assign]
    with pytest.raises(RevertError, match="may be active") as caught:
        experiment.inject(faults.Latency(target="web", delay="200ms"))
    [failure] = caught.value.failures
    assert failure.fault == "Latency 200ms on 1 of web"
    result = experiment.abort(RuntimeError("stop"))
    assert result.revert_failures == (failure,)
    assert result.outcome == "error" and result.cause == "revert_failed"
    assert result.injections[0].status == "revert failed"
    assert len(unreverted_intents(experiment.journal.path)) == 1


def test_run_turns_a_load_failure_into_an_error_result_and_stops_the_load(
    tmp_path: Path,
) -> None:
    experiment = make(tmp_path)

    def broken_collect(start: float, end: float) -> list:
        raise LoadError("workers did not report")

    experiment.load.collect = broken_collect  # type: ignore[method-assign]
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold=1))
    assert result.outcome == "error" and result.cause == "setup_failed"
    assert "workers did not report" in result.reason
    assert experiment.load.running is False


def test_an_aborted_experiment_keeps_what_users_saw(tmp_path: Path) -> None:
    experiment = make(tmp_path)

    def body(chaos: Experiment) -> None:
        chaos.inject(FakeFault())
        chaos.clock.sleep(3)
        raise RuntimeError("crash")

    result = experiment.run(body)
    assert result.cause == "body_raised"
    assert [p.kind for p in result.phases] == ["baseline", "fault"]
    assert len(result.seconds) >= 8  # baseline and the fault's seconds are in the report
    assert result.injections[0].status == "reverted"


def test_replace_timeout_is_checked_before_anything_is_killed() -> None:
    with pytest.raises(ConfigError, match=r"TerminateInstances\(replace_timeout='soon'\)"):
        faults.TerminateInstances(target="web", replace_timeout="soon")
    assert faults.TerminateInstances(target="web", replace_timeout="30s").replace_timeout == 30


def test_objectives_are_judged_only_in_their_phases(tmp_path: Path) -> None:
    start = int(FakeClock().time)

    def traffic(second: int) -> Traffic:  # slow during the fault window only
        return Traffic(latency_ms=450 if start + 6 <= second < start + 12 else 5)

    experiment = make(
        tmp_path,
        traffic,
        objectives=(slo.parse("p99<300ms", phases="after"), slo.parse("rps>=0.9*baseline")),
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "passed", result.reason
    judged = {(m.objective, m.window) for m in result.measurements}
    assert judged == {
        ("p99 < 300ms", "recovery"),
        ("rps >= 0.9*baseline", "fault 1"),
        ("rps >= 0.9*baseline", "recovery"),
    }


def _slow_until(last_slow: int) -> Callable[[int], Traffic]:
    start = int(FakeClock().time)
    return lambda second: Traffic(latency_ms=80 if start + 6 <= second < last_slow + start else 5)


def test_recovery_slower_than_the_rto_fails(tmp_path: Path) -> None:
    # the fault runs from +5 s to +13 s; users keep suffering until +20 s
    experiment = make(tmp_path, _slow_until(20), rto=3.0, recovery=10.0)
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "failed" and result.cause == "slo_breached"
    assert "recovery <= 3s in fault 1: slower than the RTO of 3s: took 7.0s" in result.reason
    record = result.injections[0]
    assert record.detected_after == 1.0 and record.recovered_after == 7.0


def test_recovery_within_the_rto_passes(tmp_path: Path) -> None:
    experiment = make(tmp_path, _slow_until(14), rto=3.0, recovery=10.0)
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "passed", result.reason
    [rto] = [m for m in result.measurements if m.kind == "recovery"]
    assert rto.status == "pass" and rto.value == 1.0


def test_the_rto_measurement_is_keyed_by_the_rto_alone(tmp_path: Path) -> None:
    def rto_key(rto: float, name: str, last_slow: int = 14) -> str:
        experiment = make(tmp_path / name, _slow_until(last_slow), rto=rto, recovery=10.0)
        result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
        [measured] = [m for m in result.measurements if m.kind == "recovery"]
        return measured.objective_key

    assert rto_key(3.0, "a").startswith("rto-")
    assert rto_key(3.0, "a") == rto_key(3, "b", last_slow=20)  # passed or not, same objective
    assert rto_key(3.0, "a") != rto_key(4.0, "c")


def test_an_experiment_that_spends_too_much_error_budget_fails(tmp_path: Path) -> None:
    start = int(FakeClock().time)

    def traffic(second: int) -> Traffic:  # 5 % of requests fail while the fault is active
        return Traffic(error_ratio=0.05 if start + 6 <= second < start + 13 else 0)

    budget = slo.budget(target="99.9%", period="1d", max_budget="2%")
    experiment = make(tmp_path, traffic, objectives=(slo.parse("p99<300ms"),), error_budget=budget)
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    [spent] = [m for m in result.measurements if m.kind == "budget"]
    # 7 s x 10 failures of a 200 req/s, 0.1 %, 1-day budget of 17,280 requests
    assert spent.value == pytest.approx(70 / 17_280)
    assert spent.status == "pass"
    assert "page (fast burn)" in spent.shown  # 50x burn over the fault and recovery span

    strict = slo.budget(target="99.9%", period="1d", max_budget="0.1%")
    failing = make(tmp_path, traffic, objectives=(slo.parse("p99<300ms"),), error_budget=strict)
    result = failing.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "failed"
    assert "budget 99.9% over 1d, at most 0.1% per experiment" in result.reason


def test_the_guardrail_halts_a_hold_after_consecutive_breaching_seconds(tmp_path: Path) -> None:
    start = int(FakeClock().time)
    broken_from = start + 7  # two seconds into the fault (injected at +5)

    def traffic(second: int) -> Traffic:
        return Traffic(error_ratio=0.3 if second >= broken_from else 0)

    experiment = make(
        tmp_path, traffic, guardrail=(slo.parse("errors<5%"),), halt_after=3, recovery=6.0
    )
    fault = FakeFault()
    result = experiment.run(lambda chaos: chaos.inject(fault, hold="60s"))
    assert result.outcome == "failed" and result.cause == "halted"
    assert "halted by the guardrail after 3 breaching seconds in a row" in result.reason
    assert "errors < 5%: 30.0%" in result.reason
    record = result.injections[0]
    assert fault.reverted == 1
    assert record.injected_at is not None and record.reverted_at is not None
    # seconds +7, +8 and +9 breach; +9 is complete at +10; reverted within a second of that
    assert broken_from + 3 <= record.reverted_at <= broken_from + 4
    assert record.reverted_at - record.injected_at < 60


def test_a_second_in_flight_breaches_once_proven_and_is_otherwise_waited_for(
    tmp_path: Path,
) -> None:
    start = int(FakeClock().time)

    def stuck(second: int) -> Traffic:  # nothing back yet, but already 1.5 s in flight
        if second >= start + 6:
            return Traffic(requests=0, in_flight=200, in_flight_age_ms=1500)
        return Traffic()

    slow = make(tmp_path, stuck, guardrail=(slo.parse("p50<1s"),), halt_after=2)
    result = slow.run(lambda chaos: chaos.inject(FakeFault(), hold="30s"))
    # requests in flight for 1.5 s prove p50 >= 1.5 s: no need to wait for them
    assert result.cause == "halted", result.reason
    assert "p50 < 1s: 200 of 200 requests took 1s or more" in result.reason
    reverted = result.injections[0].reverted_at
    assert reverted is not None and reverted <= start + 8.5
    # ... but they prove nothing about errors: the guardrail waits for them (they may all
    # succeed) for as long as the load generators keep reporting
    unsure = make(tmp_path, stuck, guardrail=(slo.parse("errors<5%"),), halt_after=2)
    result = unsure.run(lambda chaos: chaos.inject(FakeFault(), hold="30s"))
    assert result.cause != "halted", result.reason

    def all_failing(second: int) -> Traffic:
        return Traffic(error_ratio=1.0 if second >= start + 6 else 0)

    failing = make(tmp_path, all_failing, guardrail=(slo.parse("p50<1s"),), halt_after=2)
    result = failing.run(lambda chaos: chaos.inject(FakeFault(), hold="30s"))
    assert result.cause == "halted" and "every request failed" in result.reason

    healthy = make(tmp_path, guardrail=(slo.parse("errors<5%"),), halt_after=2)
    result = healthy.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "passed", result.reason
    fault_phase = next(p for p in result.phases if p.kind == "fault")
    assert fault_phase.end - fault_phase.start == pytest.approx(8)


def test_a_load_generator_that_stops_reporting_breaches_after_5s_of_silence(
    tmp_path: Path,
) -> None:
    start = int(FakeClock().time)

    def stuck(second: int) -> Traffic:  # nothing back from the fault's seconds, nothing proven
        if second >= start + 6:
            return Traffic(requests=0, in_flight=200, in_flight_age_ms=10)
        return Traffic()

    experiment = make(tmp_path, stuck, guardrail=(slo.parse("errors<5%"),), halt_after=2)
    silent = experiment.load
    assert isinstance(silent, FakeLoadDriver)
    silent.silent_from = start + 6.0  # its workers report nothing from the fault's start on
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="30s"))
    assert result.cause == "halted", result.reason
    assert "the load generators reported nothing for 5s" in result.reason
    reverted = result.injections[0].reverted_at
    # silent from +6: at +11 the seconds over and undecided (+6 to +10) breach
    assert reverted is not None and start + 11 <= reverted <= start + 11.5


def test_no_fault_is_injected_after_the_guardrail_halted_the_experiment(tmp_path: Path) -> None:
    start = int(FakeClock().time)
    broken = make(
        tmp_path,
        lambda second: Traffic(error_ratio=0.5 if second >= start + 6 else 0),
        guardrail=(slo.parse("errors<5%"),),
        halt_after=2,
    )
    second_fault = FakeFault()

    def body(chaos: Experiment) -> None:
        chaos.inject(FakeFault(), hold="30s")
        chaos.inject(second_fault, hold="5s")

    result = broken.run(body)
    assert result.cause == "halted"
    assert second_fault.injected == 0


def test_a_dry_run_plans_through_the_same_protocol_and_draws_no_verdict(tmp_path: Path) -> None:
    from chaoskit.experiment.dry_run import DryRun
    from chaoskit.experiment.protocol import ChaosExperiment

    notes: list[str] = []
    dry: ChaosExperiment = DryRun(
        settings=ExperimentSettings(name="exp", objectives=OBJECTIVES, baseline=5, recovery=5),
        env=FakeEnvironment(),
        rng=random.Random(1),
        notify=notes.append,
    )
    dry.start()
    with dry.inject(faults.Latency(target="web", delay="10ms"), hold="8s") as planned:
        assert planned.instance_ids
    assert dry.finish() is None and dry.abort(RuntimeError("x")) is None and dry.result is None
    assert dry.summary().startswith("dry run: would inject Latency 10ms on 1 of web on i-")


@pytest.mark.parametrize(
    ("interrupt", "named"),
    [(KeyboardInterrupt(), "Ctrl-C (SIGINT)"), (KeyboardInterrupt("SIGTERM"), "SIGTERM")],
)
def test_an_interrupt_in_the_recovery_window_is_recorded_as_one(
    tmp_path: Path, interrupt: KeyboardInterrupt, named: str
) -> None:
    experiment = make(tmp_path)
    experiment.start()
    experiment.inject(FakeFault(), hold="8s")

    def interrupted(seconds: float) -> None:
        raise interrupt

    experiment.clock.sleep = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        experiment.finish()
    result = experiment.abort(interrupt)
    assert (result.outcome, result.cause) == ("error", "interrupted")
    assert result.reason == (
        f"interrupted by {named} during the recovery window; every fault was reverted, and no "
        "verdict was drawn"
    )


def test_a_ctrl_c_while_a_fault_is_injected_keeps_its_intent_open_as_maybe_active(
    tmp_path: Path,
) -> None:
    experiment = make(tmp_path)
    experiment.start()
    fault = FakeFault()

    def interrupted(plan: object, env: object) -> None:
        raise KeyboardInterrupt

    fault.inject = interrupted  # type: ignore[assignment,method-assign]
    with pytest.raises(KeyboardInterrupt) as caught:
        experiment.inject(fault, hold="8s")
    result = experiment.abort(caught.value)
    # Whether it took effect is unknown: not "not injected", but what `chaoskit recover` settles.
    assert result.injections[0].status == "revert failed"
    assert "may be active" in result.injections[0].error
    assert result.outcome == "error" and result.cause == "revert_failed"
    [failure] = result.revert_failures
    assert failure.fault == "FakeFault on web"
    assert len(unreverted_intents(experiment.journal.path)) == 1
    kinds = [type(event).__name__ for event in read_events(experiment.journal.path)]
    assert "FaultRevertFailed" in kinds and "FaultNotInjected" not in kinds


def test_a_dry_runs_environment_hands_out_nothing_that_changes_it() -> None:
    from types import MappingProxyType, SimpleNamespace

    from chaoskit.experiment.read_only import ReadOnlyEnvironment

    class Ec2:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def terminate_instances(self, ids: list[str]) -> None:
            self.calls.append("terminate_instances")

    ec2 = Ec2()
    env = FakeEnvironment()
    web = env.targets["web"]
    # What a provider holds besides its methods: the environment from its target, clients.
    web.env = env  # type: ignore[attr-defined]  # as an AWS target holds its environment
    env.clients = SimpleNamespace(ec2=ec2, region="eu-west-1")  # type: ignore[attr-defined]  # as an AWS environment holds them
    dry = ReadOnlyEnvironment(env)
    victim = web.instances()[0].id
    refusals = [
        ("target 'web'.terminate", lambda: dry.target("web").env.target("web").terminate([victim])),
        ("target 'web'.terminate", lambda: dry.targets["web"].terminate([victim])),
        (
            "environment 'fake'.clients.ec2.terminate_instances",
            lambda: dry.clients.ec2.terminate_instances([victim]),
        ),
        ("target 'web'._hold", lambda: dry.target("web")._hold("stop", [victim])),
    ]
    for call, reach in refusals:
        with pytest.raises(DryRunRefused, match=rf"^{re.escape(call)} was refused: this is a dry"):
            reach()
    # Reads still read, as values that cannot change what they came from.
    assert dry.clients.region == "eu-west-1"
    assert dry.target("web").env.target("web").instances() == web.instances()
    assert dry.target("web").instances()[0] is not None and dry.target("web").size == 3
    terminated = dry.target("web").terminated
    assert terminated == () and isinstance(terminated, tuple)
    assert isinstance(dry.target("web").faults, MappingProxyType)
    assert not hasattr(dry, "__deepcopy__")  # Python's own lookups are answered, not refused
    assert (web.terminated, ec2.calls) == ([], [])


def test_runs_dropped_for_want_of_users_are_warned_about_after_the_baseline(
    tmp_path: Path,
) -> None:
    # 10 of 210 runs a second found no free user; the pool was at its cap of 40.
    notes: list[str] = []
    experiment = make(
        tmp_path,
        lambda second: Traffic(dropped=10, users=40),
        objectives=(slo.availability(at_least="99%"),),
    )
    experiment.notify = notes.append
    # Dropped runs are missing requests: availability counts them.
    with pytest.raises(SteadyStateBroken, match="availability"):
        experiment.start()
    [warning] = [note for note in notes if note.startswith("warning")]
    assert warning == (
        "warning: the load ran out of users: 50 task runs (4.8% of those expected) found every "
        "user busy and the pool at its cap (40 users) and were dropped: they count as missing "
        "requests; raise max_users in load.Locust(...) to send them"
    )
    assert "baseline load: 210 requests/s expected, 40 users, 50 runs dropped" in notes
