"""Windows judged with the samples they can have: what an inconclusive verdict says, plans
too short to judge refused before anything is injected, and lag weighed against the margin
it could change."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit import slo
from chaoskit.errors import ConfigError
from chaoskit.experiment import Experiment, ExperimentSettings, JournalWriter, read_events
from chaoskit.experiment.result import Phase
from chaoskit.experiment.verdict import Verdict
from chaoskit.slo.judging import judge
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver, Traffic

BUSY = "load generator busy (its event loop ran 4.7 ms late on average, limit 3 ms)"
# Phases that start inside a second, as they do on a real clock: a 5 s one holds 4 whole seconds.
START = 1_800_000_000.5


def _second(second: int, *, requests: int, latency_ms: float, lag_ms: float = 0.0) -> SecondStats:
    stats = SecondStats(second=second)
    stats.record_ok(latency_ms * 1000, count=requests)
    stats.expected = stats.sent = requests
    if lag_ms:
        stats.mark_invalid(
            f"load generator busy (its event loop ran {lag_ms:.1f} ms late on average, limit 3 ms)",
            lag_ms=lag_ms,
        )
    return stats


def _recovery_of_four_seconds(latency_ms: float) -> tuple[Verdict, Phase, list[SecondStats]]:
    """The README's game day on a busy machine: recovery="5s" at 300 requests/s holds 4
    whole seconds, one of them dropped because the load generator was busy."""
    phase = Phase(name="recovery", kind="recovery", start=START, end=START + 5)
    first = int(START) + 1
    seconds = [_second(first + i, requests=300, latency_ms=latency_ms) for i in range(4)]
    seconds[2].mark_invalid(BUSY, lag_ms=4.7)
    objectives = (slo.latency(p=99, below="300ms"), slo.error_rate(below="1%"))
    return Verdict(objectives=objectives), phase, seconds


# -- finding 1: the message gives the cause and the right fix, with numbers ---------------


def test_an_inconclusive_recovery_says_what_it_had_what_was_left_out_and_how_to_fix_it() -> None:
    # p99 at 298 ms against 300 ms: the generator's 4.7 ms could have moved it, so the busy
    # second is left out and 900 of the 1,000 requests a p99 needs remain.
    verdict, phase, seconds = _recovery_of_four_seconds(latency_ms=298)
    judged = verdict.after([phase], seconds, baseline=None, end=START + 5, halted=None)
    [p99, errors] = judged.measurements
    assert p99.status == "inconclusive" and errors.status == "pass"
    assert p99.reason == (
        f"900 successful requests in 3 of 4 whole seconds (1 left out: {BUSY}); p99 needs "
        "1000: make recovery at least 6s at this load (300 successful requests/s), or raise "
        "the load to 367 successful requests/s (more users, or load.Locust(rate=...))"
    )
    reason = judged.conclusion.reason
    assert judged.conclusion.outcome == "failed"
    assert reason.startswith("inconclusive: p99 < 300ms in recovery: 900 successful requests")
    # Accepting the doubt is offered last, after the fixes.
    assert reason.index("make recovery at least 6s") < reason.index("allow_inconclusive=True")


def test_a_closed_loop_load_with_long_waits_is_told_to_raise_its_rate() -> None:
    # locust's dynamic_user_credentials.py: a few requests a second, "14 successful requests".
    rates = [3, 4, 3, 4]
    seconds = [_second(i, requests=n, latency_ms=20) for i, n in enumerate(rates)]
    window = Window(name="recovery", kind="recovery", seconds=seconds)
    measured = judge(slo.latency(p=50, below="300ms"), window)
    assert measured.status == "inconclusive"
    assert measured.reason == (
        "14 successful requests in 4 whole seconds; p50 needs 20: make recovery at least 8s "
        "at this load (3.5 successful requests/s), or raise the load to 6 successful "
        "requests/s (more users, or load.Locust(rate=...))"
    )


def test_a_window_one_sample_short_is_told_a_rate_above_the_one_it_has() -> None:
    # 100 requests/s and a 3 s baseline: a request's second moved by the generator's lateness
    # leaves 99 + 100. Raising the load "to 100/s", as it was, would not help.
    seconds = [_second(100, requests=99, latency_ms=2), _second(101, requests=100, latency_ms=2)]
    window = Window(name="baseline", kind="baseline", seconds=seconds)
    measured = judge(slo.latency(p=95, below="300ms"), window)
    assert measured.reason == (
        "199 successful requests in 2 whole seconds; p95 needs 200: make baseline at least 4s "
        "at this load (99.5 successful requests/s), or raise the load to 110 successful "
        "requests/s (more users, or load.Locust(rate=...))"
    )


def test_a_short_hold_is_told_how_long_to_hold_and_an_error_rate_counts_completed_requests() -> (
    None
):
    seconds = [_second(i, requests=30, latency_ms=5) for i in range(3)]
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = judge(slo.error_rate(below="1%"), window)
    assert measured.reason == (
        "90 completed requests in 3 whole seconds; an error rate below 1% needs 100: hold "
        "fault 1 at least 5s (inject(..., hold=...)) at this load (30 completed requests/s), "
        "or raise the load to 37 completed requests/s (more users, or load.Locust(rate=...))"
    )


# -- finding 5: lag judged against what it could change -----------------------------------


def test_lag_far_smaller_than_the_margin_does_not_void_the_verdict() -> None:
    # p95 < 150ms measured at 9 ms with the generator 4 ms late in half the seconds.
    seconds = [
        _second(i, requests=300, latency_ms=9, lag_ms=4.0 if i % 2 else 0.0) for i in range(8)
    ]
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = judge(slo.latency(p=95, below="150ms"), window)
    assert measured.status == "pass" and measured.samples == 2400
    # The lag stays visible, with the margin that outweighed it.
    assert measured.reason == (
        "counts 4 seconds the load generator lagged in (4.0 ms late at worst): the 141ms "
        "margin to 150ms is larger"
    )


def test_the_finding_one_recovery_is_decided_when_its_lag_cannot_matter() -> None:
    verdict, phase, seconds = _recovery_of_four_seconds(latency_ms=5)
    judged = verdict.after([phase], seconds, baseline=None, end=START + 5, halted=None)
    [p99, errors] = judged.measurements
    assert p99.status == "pass" and p99.samples == 1200, p99.reason
    # A late generator cannot make a request fail but by a timeout, and there was none.
    assert errors.status == "pass" and errors.samples == 1200, errors.reason
    assert judged.conclusion.outcome == "passed"


def test_lag_larger_than_the_margin_still_leaves_its_seconds_out() -> None:
    seconds = [
        _second(i, requests=300, latency_ms=148, lag_ms=4.0 if i % 2 else 0.0) for i in range(8)
    ]
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = judge(slo.latency(p=95, below="150ms"), window)
    assert measured.status == "inconclusive"
    assert measured.reason.startswith("4 of 8 seconds are invalid")


def test_an_error_rate_counts_lagging_seconds_unless_they_hold_timeouts() -> None:
    # Under heavy load: 3 of 8 seconds lagging, which alone would void a pass.
    seconds = [
        _second(i, requests=300, latency_ms=5, lag_ms=40.0 if i % 3 == 0 else 0.0) for i in range(8)
    ]
    for second in seconds:
        second.record_failure("HTTP 503")
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = judge(slo.error_rate(below="1%"), window)
    assert measured.status == "pass" and measured.samples == 8 * 301
    assert measured.reason == (
        "counts 3 seconds the load generator lagged in: none of their failures is a timeout, "
        "the only kind lateness can cause"
    )
    # A timeout in a lagging second may be the generator's doing: those seconds stay out.
    seconds[3].record_failure("TimeoutError")
    measured = judge(slo.error_rate(below="1%"), window)
    assert measured.status == "inconclusive"
    assert measured.reason.startswith("3 of 8 seconds are invalid")


def test_a_lagging_second_of_unknown_lateness_is_never_counted() -> None:
    # Journals written before lateness was recorded: invalid, lag_ms 0.
    seconds = [_second(i, requests=300, latency_ms=5) for i in range(4)]
    seconds[1].mark_invalid("load generator busy")
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = judge(slo.latency(p=99, below="300ms"), window)
    assert measured.status == "inconclusive" and measured.samples == 900


@settings(max_examples=60, deadline=None)
@given(
    latency_ms=st.integers(min_value=1, max_value=500),
    threshold_ms=st.integers(min_value=1, max_value=500),
    lag_ms=st.floats(min_value=0.1, max_value=400),
    lagging=st.sets(st.integers(min_value=0, max_value=5), min_size=1),
)
def test_lag_decides_nothing_unless_it_exceeds_the_margin(
    latency_ms: int, threshold_ms: int, lag_ms: float, lagging: set[int]
) -> None:
    margin = abs(latency_ms - threshold_ms)
    seconds = [
        _second(i, requests=200, latency_ms=latency_ms, lag_ms=lag_ms if i in lagging else 0)
        for i in range(6)
    ]
    window = Window(name="fault 1", kind="fault", seconds=seconds)
    measured = judge(slo.latency(p=99, below=f"{threshold_ms}ms"), window)
    # 1 ms of slack on each side: the histogram keeps 3 significant digits.
    if margin > lag_ms + 1:
        assert measured.status == ("pass" if latency_ms < threshold_ms else "fail")
        assert measured.samples == 1200
    elif lag_ms > margin + 1:
        # Left out: too few samples, or too many seconds left out, unless the valid
        # seconds alone prove a breach (at least 200 of them, every one slow: more than a
        # p99 allows even of 1000).
        valid = 200 * (6 - len(lagging))
        if latency_ms >= threshold_ms + 1 and valid:
            assert measured.status == "fail"
        elif latency_ms < threshold_ms and (valid < 1000 or len(lagging) > 1):
            assert measured.status == "inconclusive"


# -- plans checked before anything is injected --------------------------------------------


def _experiment(tmp_path: Path, **settings: object) -> Experiment:
    traffic = settings.pop("traffic", lambda second: Traffic(requests=200))
    defaults = {
        "objectives": (slo.latency(p=99, below="300ms"), slo.error_rate(below="1%")),
        "baseline": 8.0,
        "recovery": 6.0,
    }
    return Experiment(
        settings=ExperimentSettings(name="exp", **{**defaults, **settings}),  # type: ignore[arg-type]
        env=FakeEnvironment(),
        load=FakeLoadDriver(traffic),  # type: ignore[arg-type]
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=FakeClock(start=START),
        rng=random.Random(1),
    )


def test_a_recovery_too_short_for_its_objectives_is_refused_before_anything_is_injected(
    tmp_path: Path,
) -> None:
    experiment = _experiment(tmp_path, recovery=5.0)
    fault = FakeFault()
    result = experiment.run(lambda chaos: chaos.inject(fault, hold="8s"))
    assert result.outcome == "error"  # the experiment did not run, as with a broken steady state
    assert fault.injected == 0 and result.injections == ()
    assert result.reason == (
        "the plan cannot be judged, nothing more was injected: p99 < 300ms in recovery: 5s "
        "holds 4 whole seconds, about 800 successful requests at the baseline's 200 "
        "successful requests/s; p99 needs 1000: make recovery at least 7s, or raise the load "
        "to 275 successful requests/s (more users, or load.Locust(rate=...))"
    )
    assert experiment.load.running is False
    with pytest.raises(ConfigError, match="make recovery at least 7s"):
        _experiment(tmp_path / "again", recovery=5.0).start()


def test_a_hold_too_short_is_refused_when_inject_is_called_and_nothing_is_injected(
    tmp_path: Path,
) -> None:
    experiment = _experiment(tmp_path)
    experiment.start()
    fault = FakeFault()
    with pytest.raises(ConfigError, match=r"p99 < 300ms in fault 1: 3s holds 2 whole seconds"):
        experiment.inject(fault, hold="3s")
    assert fault.injected == 0
    assert experiment.result is not None and experiment.result.outcome == "error"
    assert "hold fault 1 at least 7s (inject(..., hold=...))" in experiment.result.reason
    kinds = [type(event).__name__ for event in read_events(tmp_path / "run.jsonl")]
    assert "FaultIntent" not in kinds and kinds[-1] == "ExperimentFinished"


def test_a_plan_that_reaches_its_needs_runs_and_allow_inconclusive_only_warns(
    tmp_path: Path,
) -> None:
    fault = FakeFault()
    result = _experiment(tmp_path).run(lambda chaos: chaos.inject(fault, hold="6s"))
    assert result.outcome == "passed", result.reason

    notes: list[str] = []
    allowed = _experiment(tmp_path / "allowed", recovery=3.0, allow_inconclusive=True)
    allowed.notify = notes.append
    result = allowed.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    assert result.outcome == "passed"
    assert any(n.startswith("warning: p99 < 300ms in recovery: 3s holds 2") for n in notes)


def test_a_baseline_short_of_samples_says_what_it_lacked_and_the_fix(tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, traffic=lambda second: Traffic(requests=100))
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="8s"))
    assert result.outcome == "error" and result.cause == "steady_state_broken"
    assert result.reason == (
        "steady state could not be verified before injection: p99 < 300ms: 700 successful "
        "requests in 7 whole seconds; p99 needs 1000: make baseline at least 12s at this load "
        "(100 successful requests/s), or raise the load to 158 successful requests/s (more "
        "users, or load.Locust(rate=...))"
    )


def test_a_baseline_too_short_for_a_comparison_is_refused_before_the_fault(
    tmp_path: Path,
) -> None:
    # 26 requests/s: a 4 s baseline holds 3 whole seconds, 78 requests; comparing error rates
    # needs 100 on each side, so the fault could only end inconclusive.
    experiment = _experiment(
        tmp_path,
        objectives=(slo.errors_unchanged(),),
        baseline=4.0,
        traffic=lambda second: Traffic(requests=26),
    )
    fault = FakeFault()
    result = experiment.run(lambda chaos: chaos.inject(fault, hold="8s"))
    assert result.outcome == "error" and fault.injected == 0
    assert result.reason == (
        "the plan cannot be judged, nothing more was injected: errors unchanged (+0.5 points "
        "or p >= 0.01): the baseline: 78 completed requests in 3 whole seconds; comparing "
        "error rates needs 100 on each side: make baseline at least 6s at this load (26 "
        "completed requests/s), or raise the load to 37 completed requests/s (more users, or "
        "load.Locust(rate=...))"
    )


def test_a_comparison_short_of_samples_names_the_side_and_the_fix() -> None:
    baseline = Window(
        name="baseline",
        kind="baseline",
        seconds=[_second(s, requests=50, latency_ms=5) for s in range(100, 108)],
    )
    hold = Window(
        name="fault 1",
        kind="fault",
        seconds=[_second(s, requests=5, latency_ms=5) for s in range(110, 113)],
        baseline=baseline,
    )
    measured = judge(slo.latency_unchanged(), hold)
    assert measured.status == "inconclusive"
    assert measured.reason == (
        "15 successful requests in 3 whole seconds; comparing latencies needs 20 on each side: "
        "hold fault 1 at least 6s (inject(..., hold=...)) at this load (5 successful "
        "requests/s), or raise the load to 8 successful requests/s (more users, or "
        "load.Locust(rate=...))"
    )


def test_the_fake_load_shapes_invalid_seconds_and_the_whole_game_day_is_decided(
    tmp_path: Path,
) -> None:
    # Finding 1 end to end: 300 requests/s, recovery="5s" (4 whole seconds), one of them
    # busy. The plan holds (4 x 300 >= 1000); the busy second's 4.7 ms cannot move a 5 ms
    # p99 past 300 ms, so the recovery is judged on all 1,200 requests.
    busy = int(START) + 8 + 6 + 2

    def traffic(second: int) -> Traffic:
        if second == busy:
            return Traffic(requests=300, invalid=BUSY, lag_ms=4.7)
        return Traffic(requests=300)

    experiment = _experiment(tmp_path, recovery=5.0, traffic=traffic)
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    assert result.outcome == "passed", result.reason
    [p99] = [m for m in result.measurements if m.window == "recovery" and m.kind == "latency"]
    assert p99.samples == 1200 and "4.7 ms late at worst" in p99.reason


def test_a_baseline_of_lagging_seconds_leaves_recovery_untimed_not_a_crash(
    tmp_path: Path,
) -> None:
    # Every baseline second lagged (a busy generator): the error rate counts them, but they
    # give no band to time recovery against.
    def traffic(second: int) -> Traffic:
        lagging = second < START + 8
        return Traffic(requests=200, invalid="load generator busy" if lagging else "", lag_ms=4.0)

    experiment = _experiment(
        tmp_path, objectives=(slo.error_rate(below="1%"),), rto=3.0, traffic=traffic
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    [rto] = [m for m in result.measurements if m.kind == "recovery"]
    assert (rto.status, rto.shown) == ("inconclusive", "n/a"), rto
    assert rto.reason.startswith("no baseline band to time recovery against")
    assert result.cause == "inconclusive", result.reason
    assert result.injections[0].recovered_after is None
