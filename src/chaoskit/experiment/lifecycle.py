"""One experiment: baseline -> inject -> hold -> revert -> recovery -> verdict.

The lifecycle is plain library code: the pytest plugin calls ``start`` before the test body,
the body calls ``inject``, and the plugin calls ``finish`` (or ``abort`` when the body raised).
``run`` does all of it for callers without pytest. Clock, environment and load driver are
injected, so the whole lifecycle runs against ``chaoskit.testing`` fakes in unit tests.

``Experiment`` conducts: it keeps the phase sequence and tells the user what happens. What it
holds judges and keeps the books: the ``InjectionLedger`` (``injections.py``) journals every
fault from intent to revert, the ``Guardrail`` (``guardrail.py``) watches each hold, and the
``Verdict`` (``verdict.py``) turns phases and seconds into judgements and an outcome.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from chaoskit.clock import SystemClock
from chaoskit.durations import MAX_PHASE, format_duration, parse_duration
from chaoskit.errors import (
    ChaoskitError,
    ConfigError,
    Halted,
    InjectionError,
    RevertFailure,
    SteadyStateBroken,
)
from chaoskit.experiment.events import ExperimentStarted
from chaoskit.experiment.guardrail import Guardrail
from chaoskit.experiment.injections import ActiveFault, InjectionLedger
from chaoskit.experiment.journal import JournalWriter
from chaoskit.experiment.protocol import Notify
from chaoskit.experiment.result import ExperimentResult, Phase
from chaoskit.experiment.verdict import NOTHING_INJECTED, Conclusion, Verdict
from chaoskit.experiment.written import MAX_FAULTS, AsWritten, fault_as_written
from chaoskit.slo.budget import ErrorBudget
from chaoskit.slo.instances import InstanceTraffic, busiest
from chaoskit.slo.measurement import STATUS_LABELS, Measurement, Objective
from chaoskit.slo.samples import needs_in, plan_shortfalls
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import PhaseKind, Window
from chaoskit.typing import Clock, Environment, Fault, LoadDriver, ReportsInstances


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
    # fault early (see Guardrail.hold).
    guardrail: tuple[Objective, ...] = ()
    halt_after: int = 3
    # The test's source, its arguments, load and targets, for the report (written.py).
    written: AsWritten = field(default_factory=AsWritten)
    # The target the load goes to: what each of its instances served is read at the end,
    # where its provider counts it (ReportsInstances). "": not read.
    load_target: str = ""


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
    _measurements: list[Measurement] = field(default_factory=list, init=False)
    _started: float = field(default=0.0, init=False)
    # The steady state before, as measured: what the guardrail and the verdict compare with.
    _baseline: Window | None = field(default=None, init=False)
    _load_running: bool = field(default=False, init=False)
    _halted: str | None = field(default=None, init=False)  # the guardrail's reason
    # Where the experiment is, for a person told that it was interrupted there.
    _stage: str = field(default="its set-up", init=False)
    _faults_written: list[str] = field(default_factory=list, init=False)  # for the report
    result: ExperimentResult | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self._ledger = InjectionLedger(
            experiment=settings.name,
            env=self.env,
            journal=self.journal,
            clock=self.clock,
            notify=self._tell,
        )
        self._guardrail = Guardrail(
            objectives=settings.guardrail,
            halt_after=settings.halt_after,
            load=self.load,
            clock=self.clock,
        )
        self._verdict = Verdict(
            objectives=settings.objectives,
            allow_inconclusive=settings.allow_inconclusive,
            rto=settings.rto,
            error_budget=settings.error_budget,
        )

    # -- the phases -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the load, measure the baseline, and check the steady state holds before.

        Raises SteadyStateBroken (after recording it) when it does not: nothing is injected.
        """
        settings = self.settings
        self._started = self.clock.now()
        self.journal.append(
            ExperimentStarted(name=settings.name, env=self.env.name, at=self._started)
        )
        self.notify(f"baseline {format_duration(settings.baseline)}: starting load")
        self.load.start()
        self._load_running = True
        self._stage = "the baseline"
        begin = self.clock.now()
        self.clock.sleep(settings.baseline)
        baseline = Phase(name="baseline", kind="baseline", start=begin, end=self.clock.now())
        self._phases.append(baseline)
        seconds = self.load.collect(baseline.start, baseline.end)
        before = self._verdict.steady_state_before(baseline, seconds)
        self._baseline = before.window
        self._measurements.extend(before.measurements)
        self.notify(f"steady state before: {_summary(before.measurements)}")
        if before.window.load:
            self.notify(f"baseline load: {before.window.load}")
        queueing = before.window.queueing
        if queueing:  # before any fault: a slower target will only make it worse
            self.notify(f"warning: the load is short of users: {queueing}")
        dropping = before.window.dropping
        if dropping:
            self.notify(f"warning: the load ran out of users: {dropping}")
        if before.broken is not None:
            self._conclude(before.broken, end=self.clock.now(), seconds=seconds)
            raise SteadyStateBroken(before.broken.reason)
        self._check_plan("recovery", "recovery", settings.recovery, seconds=lambda end: seconds)
        self._stage = "the body"

    def inject(self, fault: Fault, *, hold: object = None) -> ActiveFault:
        """Inject ``fault``. With ``hold``, hold it that long and revert before returning;
        without, it stays active until reverted (context manager exit, or the end of the body).
        """
        hold_seconds = (
            None if hold is None else parse_duration(hold, field="inject(hold)", maximum=MAX_PHASE)
        )
        if self._halted is not None:
            # The guardrail judged the system broken: injecting more would make it worse.
            raise InjectionError(
                f"{fault.describe()} was not injected: the experiment was {self._halted}"
            )
        if hold_seconds is not None:
            name = f"fault {len(self._ledger.injected()) + 1}"
            self._check_plan("fault", name, hold_seconds, seconds=self._measured_so_far)
        if len(self._faults_written) < MAX_FAULTS:
            self._faults_written.append(fault_as_written(fault, hold))
        plan = replace(fault.plan(self.env, self.rng), hold=hold_seconds)
        try:
            handle = self._ledger.inject(fault, plan)
        except Halted as error:
            # A stop condition ended the fault as it started: halted, like the guardrail.
            self._halted = f"halted: {error}"
            self.notify(self._halted)
            raise
        if hold_seconds is not None:
            self.notify(f"hold {format_duration(hold_seconds)}")
            # Reverts after the hold; on a Ctrl-C in it too, which stays a Ctrl-C.
            with handle:
                self._hold(handle, hold_seconds)
            self._note_ended_on_its_own()
        return handle

    def finish(self) -> ExperimentResult:
        """After the body: revert what is still active, measure recovery, decide the verdict."""
        failures = self._ledger.revert_all()
        if failures:
            return self._conclude(
                self._verdict.unreverted(failures), end=self.clock.now(), failures=failures
            )
        self._note_ended_on_its_own()
        injected = self._ledger.injected()
        if not injected:
            return self._conclude(NOTHING_INJECTED, end=self.clock.now())
        recovery_start = max(a.reverted_at or 0.0 for a in injected)
        self._stage = "the recovery window"
        self.notify(f"recovery {format_duration(self.settings.recovery)}")
        self.clock.sleep(max(0.0, recovery_start + self.settings.recovery - self.clock.now()))
        end = self.clock.now()
        self._phases += self._ledger.fault_phases(end)
        self._phases.append(Phase(name="recovery", kind="recovery", start=recovery_start, end=end))
        seconds = self.load.collect(self._started, end)
        self._stop_load()
        judged = self._verdict.after(
            self._phases[1:], seconds, baseline=self._baseline, end=end, halted=self._halted
        )
        self._ledger.note_recoveries(judged.recoveries)
        self._measurements.extend(judged.measurements)
        for index, recovery in enumerate(judged.recoveries, start=1):
            self.notify(f"fault {index}: {recovery.describe()}")
        if judged.budget is not None:
            self.notify(f"error budget: {judged.budget.shown}")
        for window in judged.windows:
            in_phase = [m for m in judged.measurements if m.window == window.name]
            self.notify(f"{window.name}: {_summary(in_phase)}")
            if window.load:
                self.notify(f"{window.name}: load: {window.load}")
            if window.queueing:
                self.notify(f"{window.name}: note: {window.queueing}")
            if window.dropping:
                self.notify(f"{window.name}: note: {window.dropping}")
        return self._conclude(judged.conclusion, end=end, seconds=seconds)

    def abort(
        self, error: BaseException, *, during: Literal["setup", "body"] = "body"
    ) -> ExperimentResult:
        """Something raised: revert at once, keep what was measured, stop the load, record why.

        No verdict is drawn. A failure in the body fails the experiment; one while setting it
        up (or tearing it down) means it did not run as declared: an error.
        """
        failures = self._ledger.revert_all()
        end = self.clock.now()
        self._phases += self._ledger.fault_phases(end)
        if isinstance(error, KeyboardInterrupt):
            conclusion = self._verdict.interrupted(error, stage=self._stage, failures=failures)
        else:
            conclusion = self._verdict.aborted(
                error, during=during, failures=failures, halted=self._halted
            )
        return self._conclude(
            conclusion, end=end, seconds=self._measured_so_far(end), failures=failures
        )

    def skip(self, reason: str) -> ExperimentResult:
        """The body skipped itself: revert at once, keep what was measured, draw no verdict."""
        failures = self._ledger.revert_all()
        end = self.clock.now()
        self._phases += self._ledger.fault_phases(end)
        return self._conclude(
            self._verdict.skipped(reason, failures=failures),
            end=end,
            seconds=self._measured_so_far(end),
            failures=failures,
        )

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
                return self.result or self.abort(error)
            try:
                return self.finish()
            except Exception as error:
                return self.result or self.abort(error, during="setup")
        finally:
            self._stop_load()

    def summary(self) -> str:
        if self.result is None:
            return f"{self.settings.name}: no verdict yet"
        return f"verdict: {self.result.outcome}: {self.result.reason}"

    # -- helpers --------------------------------------------------------------------------

    def _hold(self, handle: ActiveFault, seconds: float) -> None:
        """Hold the fault for ``seconds``; the guardrail may end it early (and the experiment:
        no further fault is injected once it halted)."""
        halted = self._guardrail.hold(
            injected_at=handle.injected_at,
            seconds=seconds,
            baseline=self._baseline,
            stop_condition=handle.stop_condition,
            stop_objectives=handle.stop_objectives,
        )
        if halted is not None:
            handle.halted(halted)
            self._halted = halted
            self.notify(halted)

    def _note_ended_on_its_own(self) -> None:
        """A fault whose revert found it ended by something else (FIS failed the experiment
        after the hold's last look) halts the experiment as a stop condition in the hold does."""
        if self._halted is not None:
            return
        reason = self._ledger.ended_on_their_own()
        if reason is not None:
            self._halted = f"halted: {reason}"
            self.notify(self._halted)

    def _check_plan(
        self,
        kind: PhaseKind,
        name: str,
        length: float,
        *,
        seconds: Callable[[float], Sequence[SecondStats]],
    ) -> None:
        """Refuse a phase too short for its objectives' samples at the baseline's rate, before
        anything more is injected: it could only end inconclusive. An error, like a broken
        steady state; with ``allow_inconclusive`` a warning."""
        if self._baseline is None:
            return
        needs = needs_in(self.settings.objectives, kind)
        problems = plan_shortfalls(needs, self._baseline, kind=kind, name=name, length=length)
        if not problems:
            return
        if self.settings.allow_inconclusive:
            self.notify("warning: " + "; ".join(problems))
            return
        reason = "the plan cannot be judged, nothing more was injected: " + "; ".join(problems)
        end = self.clock.now()
        self._conclude(
            Conclusion(outcome="error", cause="setup_failed", reason=reason),
            end=end,
            seconds=seconds(end),
        )
        raise ConfigError(reason)

    def _tell(self, message: str) -> None:
        # Read at each message: callers may replace ``notify`` after construction.
        self.notify(message)

    def _measured_so_far(self, end: float) -> Sequence[SecondStats]:
        """What the load saw up to ``end``, for the report of an experiment that was cut short."""
        if not self._load_running:
            return ()
        try:
            return self.load.collect(self._started, end)
        except ChaoskitError:
            return ()

    def _instance_traffic(self, end: float) -> tuple[InstanceTraffic, ...]:
        """What each instance of the load's target served, where its provider knows (one
        call). Never fatal: the verdict stands without it, and a failure to read it is told."""
        name = self.settings.load_target
        if not name or not self._started:
            return ()
        try:
            target = self.env.target(name)
            if not isinstance(target, ReportsInstances):
                return ()
            return busiest(target.instance_traffic(self._started, end))
        except (ChaoskitError, OSError, ValueError) as error:
            self.notify(f"note: what each instance of {name!r} served could not be read: {error}")
            return ()

    def _stop_load(self) -> None:
        if self._load_running:
            self._load_running = False
            self.load.stop()

    def _conclude(
        self,
        conclusion: Conclusion,
        *,
        end: float,
        seconds: Sequence[SecondStats] = (),
        failures: Sequence[RevertFailure] = (),
    ) -> ExperimentResult:
        try:
            self._stop_load()
        except ChaoskitError as error:
            # The load died (a killed worker): what is concluded is recorded all the same,
            # rather than lost to the failure of stopping what is already gone.
            self.notify(f"warning: the load could not be stopped: {error}")
        result = ExperimentResult(
            name=self.settings.name,
            env=self.env.name,
            outcome=conclusion.outcome,
            reason=conclusion.reason,
            cause=conclusion.cause,
            started=self._started,
            finished=end,
            objectives=tuple(o.describe() for o in self.settings.objectives),
            phases=tuple(self._phases),
            injections=self._ledger.records(),
            measurements=tuple(self._measurements),
            # Judging decoded the histograms of many seconds; the result keeps them encoded.
            seconds=tuple(second.compacted() for second in seconds),
            revert_failures=tuple(failures),
            written=replace(self.settings.written, faults=tuple(self._faults_written)),
            instances=self._instance_traffic(end),
        )
        # From here on only the recorded result is seen: its credentials are redacted.
        self.result = self.journal.finished(result)
        self.notify(f"verdict: {conclusion.outcome}: {conclusion.reason}")
        return self.result


def _summary(measurements: Sequence[Measurement]) -> str:
    return ", ".join(f"{m.objective} {m.shown} {STATUS_LABELS[m.status]}" for m in measurements)
