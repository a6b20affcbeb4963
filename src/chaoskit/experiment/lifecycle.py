"""One experiment: baseline -> inject -> hold -> revert -> recovery -> verdict.

The lifecycle is plain library code: the pytest plugin calls ``start`` before the test body,
the body calls ``inject``, and the plugin calls ``finish`` (or ``abort`` when the body raised).
``run`` does all of it for callers without pytest. Clock, environment and load driver are
injected, so the whole lifecycle runs against ``chaoskit.testing`` fakes in unit tests.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from chaoskit.clock import SystemClock
from chaoskit.durations import format_duration, parse_duration
from chaoskit.errors import ChaoskitError, InjectionError, RevertError, SteadyStateBroken
from chaoskit.experiment.journal import JournalWriter
from chaoskit.experiment.result import Cause, ExperimentResult, InjectionRecord, Outcome, Phase
from chaoskit.slo.budget import ErrorBudget, assess, budget_verdict
from chaoskit.slo.objectives import STATUS_LABELS, Measurement, Objective, judge
from chaoskit.slo.recovery import limits_from, time_to_detect, time_to_recover
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window
from chaoskit.typing import Clock, Environment, Fault, Injection, LoadDriver
from chaoskit.vocabulary import FaultPlan

Notify = Callable[[str], None]
GUARDRAIL_POLL = 0.25  # seconds between looks at the load's latest seconds during a hold
GUARDRAIL_GRACE = 0.75  # how long after a second ends the guardrail judges what arrived of it
# A second of which nothing came back this long after it ended breaches the guardrail.
GUARDRAIL_SILENCE = 5.0


@dataclass(frozen=True, kw_only=True)
class ExperimentSettings:
    name: str
    objectives: tuple[Objective, ...]
    baseline: float
    recovery: float
    allow_inconclusive: bool = False
    rto: float | None = None  # the longest acceptable time to recover after each revert
    error_budget: ErrorBudget | None = None
    # Judged on every single second of a hold: this many breaching seconds in a row end the
    # fault early (see Experiment._hold).
    guardrail: tuple[Objective, ...] = ()
    halt_after: int = 3


@dataclass(kw_only=True)
class _Active:
    """An injection and its bookkeeping while the experiment runs."""

    injection_id: str
    plan: FaultPlan
    injection: Injection | None = None
    injected_at: float | None = None
    reverted_at: float | None = None
    error: str = ""
    # Injecting failed in a way that leaves unknown whether the fault took effect.
    maybe_active: bool = False
    detected_after: float | None = None
    recovered_after: float | None = None

    def record(self) -> InjectionRecord:
        if self.maybe_active:
            status = "revert failed"
        elif self.injection is None:
            status = "not injected"
        elif self.reverted_at is not None:
            status = "reverted"
        elif self.error:
            status = "revert failed"
        else:
            status = "active"
        return InjectionRecord(
            injection_id=self.injection_id,
            fault=self.plan.fault,
            target=self.plan.target,
            instance_ids=self.plan.instance_ids,
            injected_at=self.injected_at,
            reverted_at=self.reverted_at,
            status=status,  # type: ignore[arg-type]
            error=self.error,
            detected_after=self.detected_after,
            recovered_after=self.recovered_after,
            severity=self.plan.severity,
        )


class ActiveFault:
    """What ``Experiment.inject`` returns; as a context manager it reverts on exit."""

    def __init__(self, experiment: Experiment, active: _Active) -> None:
        self._experiment = experiment
        self._active = active

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return self._active.plan.instance_ids

    def revert(self) -> None:
        self._experiment._revert(self._active)

    def __enter__(self) -> ActiveFault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.revert()
        else:
            self._experiment._revert_keeping(self._active, exc)


@dataclass(kw_only=True)
class Experiment:
    settings: ExperimentSettings
    env: Environment
    load: LoadDriver
    journal: JournalWriter
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)
    notify: Notify = field(default=lambda message: None)

    _phases: list[Phase] = field(default_factory=list, init=False)
    _faults: list[_Active] = field(default_factory=list, init=False)
    _measurements: list[Measurement] = field(default_factory=list, init=False)
    _started: float = field(default=0.0, init=False)
    _load_running: bool = field(default=False, init=False)
    _baseline_window: Window | None = field(default=None, init=False)
    _windows: dict[str, Window] = field(default_factory=dict, init=False)  # by phase name
    _halted: str = field(default="", init=False)
    result: ExperimentResult | None = field(default=None, init=False)

    # -- the phases -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the load, measure the baseline, and check the steady state holds before.

        Raises SteadyStateBroken (after recording it) when it does not: nothing is injected.
        """
        settings = self.settings
        self._started = self.clock.now()
        self.journal.append(
            "experiment_started", name=settings.name, env=self.env.name, at=self._started
        )
        self.notify(f"baseline {format_duration(settings.baseline)}: starting load")
        self.load.start()
        self._load_running = True
        begin = self.clock.now()
        self.clock.sleep(settings.baseline)
        baseline = Phase(name="baseline", kind="baseline", start=begin, end=self.clock.now())
        self._phases.append(baseline)
        seconds = self.load.collect(baseline.start, baseline.end)
        measurements = self._evaluate(baseline, seconds)
        self._measurements.extend(measurements)
        self.notify(f"steady state before: {_summary(measurements)}")
        queueing = self._windows["baseline"].queueing
        if queueing:  # before any fault: a slower target will only make it worse
            self.notify(f"warning: the load is short of users: {queueing}")
        broken = [m for m in measurements if m.status == "fail"]
        unsure = [m for m in measurements if m.status == "inconclusive"]
        if broken or (unsure and not settings.allow_inconclusive):
            if broken:
                reason = "steady state did not hold before any fault was injected: "
            else:
                reason = (
                    "steady state could not be verified before injection, too few samples "
                    "(lengthen baseline, add users, or allow_inconclusive=True): "
                )
            reason += "; ".join(f"{m.objective}: {m.reason}" for m in broken + unsure)
            self._conclude(
                "error", "steady_state_broken", reason, end=self.clock.now(), seconds=seconds
            )
            raise SteadyStateBroken(reason)

    def inject(self, fault: Fault, *, hold: object = None) -> ActiveFault:
        """Inject ``fault``. With ``hold``, hold it that long and revert before returning;
        without, it stays active until reverted (context manager exit, or the end of the body).
        """
        hold_seconds = None if hold is None else parse_duration(hold, field="inject(hold)")
        if self._halted:
            # The guardrail judged the system broken: injecting more would make it worse.
            raise InjectionError(
                f"{fault.describe()} was not injected: the experiment was {self._halted}"
            )
        plan = fault.plan(self.env, self.rng)
        active = _Active(injection_id=uuid.uuid4().hex[:12], plan=plan)
        self._faults.append(active)
        self.journal.append(
            "fault_intent",
            durable=True,
            injection_id=active.injection_id,
            experiment=self.settings.name,
            env=self.env.name,
            fault=plan.fault,
            target=plan.target,
            instance_ids=list(plan.instance_ids),
        )
        self.notify(f"inject {plan.fault} -> {', '.join(plan.instance_ids)}")
        try:
            injection = fault.inject(plan, self.env)
        except RevertError as error:
            # The fault could not say whether it took effect: the intent stays open.
            active.error, active.maybe_active = str(error), True
            self.journal.append(
                "fault_revert_failed",
                durable=True,
                injection_id=active.injection_id,
                error=str(error),
            )
            raise
        except Exception as error:
            active.error = str(error)
            self.journal.append(
                "fault_not_injected",
                durable=True,
                injection_id=active.injection_id,
                error=str(error),
            )
            if isinstance(error, ChaoskitError):
                raise
            raise InjectionError(f"{plan.fault}: {error}") from error
        active.injection = injection
        active.injected_at = self.clock.now()
        self.journal.append(
            "fault_injected",
            durable=True,
            injection_id=active.injection_id,
            at=active.injected_at,
            undo=dict(injection.undo),
        )
        handle = ActiveFault(self, active)
        if hold_seconds is not None:
            self.notify(f"hold {format_duration(hold_seconds)}")
            try:
                self._hold(active, hold_seconds)
            except BaseException as interrupted:  # Ctrl-C in the hold: revert, keep the Ctrl-C
                self._revert_keeping(active, interrupted)
                raise
            self._revert(active)
        return handle

    def finish(self) -> ExperimentResult:
        """After the body: revert what is still active, measure recovery, decide the verdict."""
        revert_errors = self._revert_all()
        if revert_errors:
            return self._conclude(
                "error", "revert_failed", "; ".join(revert_errors), end=self.clock.now()
            )
        injected = [a for a in self._faults if a.injected_at is not None]
        if not injected:
            return self._conclude(
                "failed",
                "nothing_injected",
                "no fault was injected, so nothing was tested; call chaos.inject(...) in the body",
                end=self.clock.now(),
            )
        recovery_start = max(a.reverted_at or 0.0 for a in injected)
        self.notify(f"recovery {format_duration(self.settings.recovery)}")
        self.clock.sleep(max(0.0, recovery_start + self.settings.recovery - self.clock.now()))
        end = self.clock.now()
        self._add_fault_phases()
        self._phases.append(Phase(name="recovery", kind="recovery", start=recovery_start, end=end))
        seconds = self.load.collect(self._started, end)
        self._stop_load()
        after = [
            m
            for phase in self._phases
            if phase.kind != "baseline"
            for m in self._evaluate(phase, seconds)
        ]
        after += self._recovery_times(injected, seconds, end)
        after += self._budget_use(injected, seconds, end)
        self._measurements.extend(after)
        for phase in self._phases[1:]:
            self.notify(f"{phase.name}: {_summary([m for m in after if m.window == phase.name])}")
            queueing = self._windows[phase.name].queueing
            if queueing:
                self.notify(f"{phase.name}: note: {queueing}")
        breaches = [m for m in after if m.status == "fail"]
        unsure = [m for m in after if m.status == "inconclusive"]
        if self._halted:
            reason = self._halted + "".join(
                f"; {m.objective} in {m.window}: {m.reason}" for m in breaches
            )
            return self._conclude("failed", "halted", reason, end=end, seconds=seconds)
        if breaches:
            reason = "SLO breached: " + "; ".join(
                f"{m.objective} in {m.window}: {m.reason}" for m in breaches
            )
            return self._conclude("failed", "slo_breached", reason, end=end, seconds=seconds)
        if unsure and not self.settings.allow_inconclusive:
            reason = "inconclusive (allow with chaos(allow_inconclusive=True)): " + "; ".join(
                f"{m.objective} in {m.window}: {m.reason}" for m in unsure
            )
            return self._conclude("failed", "inconclusive", reason, end=end, seconds=seconds)
        return self._conclude("passed", "", "every objective held", end=end, seconds=seconds)

    def abort(
        self, error: BaseException, *, during: Literal["setup", "body"] = "body"
    ) -> ExperimentResult:
        """Something raised: revert at once, keep what was measured, stop the load, record why.

        No verdict is drawn. A failure in the body fails the experiment; one while setting it
        up (or tearing it down) means it did not run as declared: an error.
        """
        revert_errors = self._revert_all()
        end = self.clock.now()
        self._add_fault_phases()
        seconds = self._measured_so_far(end)
        if during == "setup":
            reason = f"the experiment could not run to a verdict: {type(error).__name__}: {error}"
        else:
            reason = f"the experiment body raised {type(error).__name__}: {error}"
        if revert_errors:
            return self._conclude(
                "error",
                "revert_failed",
                "; ".join([*revert_errors, reason]),
                end=end,
                seconds=seconds,
            )
        if during == "setup":
            return self._conclude("error", "setup_failed", reason, end=end, seconds=seconds)
        if self._halted:
            return self._conclude("failed", "halted", self._halted, end=end, seconds=seconds)
        return self._conclude("failed", "body_raised", reason, end=end, seconds=seconds)

    def run(self, body: Callable[[Experiment], None]) -> ExperimentResult:
        """The whole lifecycle without pytest: start, ``body(self)``, finish."""
        try:
            try:
                self.start()
            except Exception as error:
                return self.result or self.abort(error, during="setup")
            try:
                body(self)
            except Exception as error:
                return self.abort(error)
            try:
                return self.finish()
            except Exception as error:
                return self.result or self.abort(error, during="setup")
        finally:
            self._stop_load()

    # -- helpers --------------------------------------------------------------------------

    def _revert(self, active: _Active) -> None:
        if active.injection is None or active.reverted_at is not None:
            return
        try:
            active.injection.revert()
        except Exception as error:
            active.error = str(error)
            self.journal.append(
                "fault_revert_failed",
                durable=True,
                injection_id=active.injection_id,
                error=str(error),
            )
            if isinstance(error, RevertError):
                raise
            raise RevertError(
                f"reverting {active.plan.fault} on {', '.join(active.plan.instance_ids)} "
                f"failed, it may still be active: {error}"
            ) from error
        active.reverted_at = self.clock.now()
        self.journal.append(
            "fault_reverted", durable=True, injection_id=active.injection_id, at=active.reverted_at
        )
        self.notify(f"reverted {active.plan.fault}")

    def _revert_keeping(self, active: _Active, in_flight: BaseException) -> None:
        """Revert while ``in_flight`` propagates; a revert failure is noted on it, not raised,
        so a Ctrl-C stays a Ctrl-C (the failure is in the journal and raised again later)."""
        try:
            self._revert(active)
        except RevertError as error:
            in_flight.add_note(f"chaoskit: {error}")

    def _revert_all(self) -> list[str]:
        errors = []
        for active in reversed(self._faults):
            if active.maybe_active:
                errors.append(active.error)
                continue
            try:
                self._revert(active)
            except RevertError as error:
                errors.append(str(error))
        return errors

    def _hold(self, active: _Active, seconds: float) -> None:
        """Hold the fault for ``seconds``; with a guardrail, watch every second and end early.

        A second breaches the guardrail when one of its objectives fails on that second alone,
        or when every request that came back failed. ``halt_after`` breaching seconds in a row
        end the hold, and no further fault is injected in the experiment.

        The guardrail cannot wait for a second to be complete: while the target is slow or
        stalled, the requests of a second may take many seconds to finish. It judges each second
        on what workers have reported of it ``GUARDRAIL_GRACE`` after the second ended (they
        report twice a second), looking four times a second: the fault is reverted within a
        second of the end of the last breaching second. Requests still in flight then (sent
        and not back, or due and not sent because their user waits on earlier ones) count as
        successes at the age they have reached: a second judged early can only look better
        than it will be, never worse, so a breach seen early is certain. A second with nothing
        decided yet is waited for, and so are the seconds after it, in order; nothing back
        ``GUARDRAIL_SILENCE`` after it ended is a breach.
        """
        settings = self.settings
        if not settings.guardrail:
            self.clock.sleep(seconds)
            return
        assert active.injected_at is not None
        deadline = active.injected_at + seconds
        checked_up_to = math.ceil(active.injected_at)
        streak: list[str] = []
        while self.clock.now() < deadline:
            self.clock.sleep(min(GUARDRAIL_POLL, deadline - self.clock.now()))
            complete = math.floor(self.clock.now() - GUARDRAIL_GRACE)
            if complete <= checked_up_to:
                continue
            for second in sorted(self.load.peek(checked_up_to, complete), key=_second_of):
                if second.second < checked_up_to:
                    continue
                if not second.valid:
                    breach = None  # generator lag: neither extends nor breaks a streak
                elif second.completed == 0:
                    breach = self._guardrail_breach(second) if second.in_flight else ""
                    if not breach:
                        if self.clock.now() - (second.second + 1) < GUARDRAIL_SILENCE:
                            break  # nothing decided yet: wait for it, the seconds after it too
                        breach = f"nothing came back within {GUARDRAIL_SILENCE:g}s"
                else:
                    breach = self._guardrail_breach(second)
                checked_up_to = second.second + 1
                if breach is None:
                    continue
                streak = [*streak, breach] if breach else []
                if len(streak) >= settings.halt_after:
                    self._halted = (
                        f"halted by the guardrail after {len(streak)} breaching seconds in a "
                        f"row ({streak[-1]})"
                    )
                    self.notify(self._halted)
                    return

    def _guardrail_breach(self, second: SecondStats) -> str:
        """Why ``second`` breaches the guardrail, or "" when it does not (yet)."""
        if second.ok == 0 and second.failures:
            return "every request failed"
        # Requests in flight count as successes at the age they have reached: that makes
        # latency no worse than it will be, and errors, availability and throughput no
        # worse either, so whatever breaches now breaches on the complete second too.
        window = Window(
            name=f"second {second.second}",
            kind="fault",
            seconds=[second.at_least()],
            baseline=self._baseline_window,
        )
        for objective in self.settings.guardrail:
            measured = objective.evaluate(window)
            if measured.status == "fail":
                return f"{measured.objective}: {measured.shown}"
        return ""

    def _recovery_times(
        self, injected: list[_Active], seconds: Sequence[SecondStats], end: float
    ) -> list[Measurement]:
        """Time to detect and to recover for each fault; judged against the RTO if declared."""
        baseline = self._baseline_window
        limits = limits_from(baseline) if baseline is not None else None
        if limits is None:
            return []
        judged = []
        for index, active in enumerate(injected, start=1):
            assert active.injected_at is not None and active.reverted_at is not None
            active.detected_after = time_to_detect(
                seconds, limits, injected_at=active.injected_at, until=end
            )
            active.recovered_after = time_to_recover(
                seconds, limits, reverted_at=active.reverted_at, until=end
            )
            detected = (
                "no effect seen"
                if active.detected_after is None
                else f"detected after {active.detected_after:.1f}s"
            )
            recovered = (
                "not back in the baseline band before the end"
                if active.recovered_after is None
                else f"recovered {active.recovered_after:.1f}s after the revert"
            )
            self.notify(f"fault {index}: {detected}, {recovered}")
            if self.settings.rto is not None:
                judged.append(self._judge_rto(f"fault {index}", active.recovered_after))
        return judged

    def _budget_use(
        self, injected: list[_Active], seconds: Sequence[SecondStats], end: float
    ) -> list[Measurement]:
        """What the fault and recovery phases cost the declared error budget."""
        budget = self.settings.error_budget
        baseline = self._baseline_window
        if budget is None or baseline is None or baseline.duration == 0:
            return []
        first = min(a.injected_at for a in injected if a.injected_at is not None)
        span = self._window(Phase(name="span", kind="fault", start=first, end=end), seconds)
        # Valid seconds only: a lagging load generator is not the target's failure.
        valid = [second for second in span.seconds if second.valid]
        held = sum((a.reverted_at or end) - a.injected_at for a in injected if a.injected_at)
        use = assess(
            budget,
            valid,
            baseline_rps=baseline.merged.demand / baseline.duration,
            long_window=math.ceil(held),
        )
        measured = budget_verdict(budget, use, window="fault to end")
        self.notify(f"error budget: {measured.shown}")
        return [measured]

    def _judge_rto(self, window: str, recovered_after: float | None) -> Measurement:
        rto = self.settings.rto
        assert rto is not None
        passed = recovered_after is not None and recovered_after <= rto
        return Measurement(
            objective=f"recovery <= {format_duration(rto)}",
            kind="recovery",
            limit=rto,
            window=window,
            value=recovered_after,
            shown="not recovered" if recovered_after is None else f"{recovered_after:.1f}s",
            status="pass" if passed else "fail",
            samples=0,
            reason=""
            if passed
            else "slower than the RTO of "
            f"{format_duration(rto)}: "
            + (
                "never back in the baseline band"
                if recovered_after is None
                else f"took {recovered_after:.1f}s"
            ),
        )

    def _add_fault_phases(self) -> None:
        injected = [a for a in self._faults if a.injected_at is not None]
        for index, active in enumerate(injected, start=1):
            assert active.injected_at is not None
            end = active.reverted_at or self.clock.now()
            self._phases.append(
                Phase(name=f"fault {index}", kind="fault", start=active.injected_at, end=end)
            )

    def _measured_so_far(self, end: float) -> Sequence[SecondStats]:
        """What the load saw up to ``end``, for the report of an experiment that was cut short."""
        if not self._load_running:
            return ()
        try:
            return self.load.collect(self._started, end)
        except ChaoskitError:
            return ()

    def _stop_load(self) -> None:
        if self._load_running:
            self._load_running = False
            self.load.stop()

    def _window(self, phase: Phase, seconds: Sequence[SecondStats]) -> Window:
        # Only whole seconds inside the phase count: the edge seconds mix two phases.
        first, last = math.ceil(phase.start), math.floor(phase.end)
        inside = {s.second: s for s in seconds if first <= s.second < last}
        return Window(
            name=phase.name,
            kind=phase.kind,
            seconds=[
                inside.get(second, SecondStats(second=second)) for second in range(first, last)
            ],
            baseline=None if phase.kind == "baseline" else self._baseline_window,
            start=phase.start,
            end=phase.end,
        )

    def _evaluate(self, phase: Phase, seconds: Sequence[SecondStats]) -> list[Measurement]:
        window = self._windows[phase.name] = self._window(phase, seconds)
        if phase.kind == "baseline":
            self._baseline_window = window
        return [
            judge(objective, window)
            for objective in self.settings.objectives
            if phase.kind in objective.phases
        ]

    def _conclude(
        self,
        outcome: Outcome,
        cause: Cause,
        reason: str,
        *,
        end: float,
        seconds: Sequence[SecondStats] = (),
    ) -> ExperimentResult:
        self._stop_load()
        self.result = ExperimentResult(
            name=self.settings.name,
            env=self.env.name,
            outcome=outcome,
            reason=reason,
            cause=cause,
            started=self._started,
            finished=end,
            objectives=tuple(o.describe() for o in self.settings.objectives),
            phases=tuple(self._phases),
            injections=tuple(a.record() for a in self._faults),
            measurements=tuple(self._measurements),
            seconds=tuple(s.to_json() for s in seconds),
        )
        self.journal.append("experiment_finished", result=self.result.to_json())
        self.notify(f"verdict: {outcome}: {reason}")
        return self.result


def _summary(measurements: Sequence[Measurement]) -> str:
    return ", ".join(f"{m.objective} {m.shown} {STATUS_LABELS[m.status]}" for m in measurements)


def _second_of(stats: SecondStats) -> int:
    return stats.second
