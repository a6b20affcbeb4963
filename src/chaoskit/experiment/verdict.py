"""The verdict: from phases and measured seconds to windows, judgements and an outcome.

Pure: it reads no clock, waits for nothing, writes nothing and remembers nothing. The lifecycle
hands it the phases it ran, the seconds the load measured and the baseline window it got from
``steady_state_before``, and tells the user what it found.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chaoskit.durations import format_duration
from chaoskit.errors import RevertFailure
from chaoskit.experiment.result import Cause, Outcome, Phase, Recovery
from chaoskit.interrupts import describe as describe_interrupt
from chaoskit.slo.budget import ErrorBudget, assess, budget_verdict
from chaoskit.slo.judging import judge
from chaoskit.slo.measurement import Measurement, Objective, Status, objective_key
from chaoskit.slo.recovery import limits_from, time_to_detect, time_to_recover
from chaoskit.slo.seconds import SecondStats, merge_seconds
from chaoskit.slo.window import Window


@dataclass(frozen=True, kw_only=True)
class Conclusion:
    outcome: Outcome
    cause: Cause
    reason: str


PASSED = Conclusion(outcome="passed", cause="", reason="every objective held")
NOTHING_INJECTED = Conclusion(
    outcome="failed",
    cause="nothing_injected",
    reason="no fault was injected, so nothing was tested; call chaos.inject(...) in the body",
)


@dataclass(frozen=True, kw_only=True)
class SteadyStateBefore:
    """The baseline judged: the experiment goes on only when ``broken`` is None."""

    window: Window
    measurements: tuple[Measurement, ...]
    broken: Conclusion | None


@dataclass(frozen=True, kw_only=True)
class Judged:
    """Everything after the baseline judged, in the order it is reported."""

    windows: tuple[Window, ...]  # one per phase after the baseline
    # The objectives in each phase, then each fault's RTO, then the error budget.
    measurements: tuple[Measurement, ...]
    recoveries: tuple[Recovery, ...]  # one per fault that took effect, empty without baseline
    budget: Measurement | None
    conclusion: Conclusion


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """Judges one experiment: the baseline first, then the rest against it."""

    objectives: tuple[Objective, ...]
    allow_inconclusive: bool = False
    rto: float | None = None
    error_budget: ErrorBudget | None = None

    def steady_state_before(
        self, phase: Phase, seconds: Sequence[SecondStats]
    ) -> SteadyStateBefore:
        """The baseline judged; its ``window`` is the ``baseline`` of everything after."""
        window = self.window(phase, seconds, baseline=None)
        measurements = tuple(self._evaluate(phase, window))
        broken = [m for m in measurements if m.status == "fail"]
        unsure = [m for m in measurements if m.status == "inconclusive"]
        conclusion = None
        silent = no_success(window)
        if silent:
            # Neither more samples nor allow_inconclusive=True can make this a steady state.
            reason = f"steady state did not hold before any fault was injected: {silent}"
            conclusion = Conclusion(outcome="error", cause="steady_state_broken", reason=reason)
        elif broken or (unsure and not self.allow_inconclusive):
            if broken:
                reason = "steady state did not hold before any fault was injected: "
            else:
                # Each objective's reason says what the baseline lacked and how to fix it.
                reason = "steady state could not be verified before injection: "
            reason += "; ".join(f"{m.objective}: {m.reason}" for m in broken + unsure)
            conclusion = Conclusion(outcome="error", cause="steady_state_broken", reason=reason)
        return SteadyStateBefore(window=window, measurements=measurements, broken=conclusion)

    def after(
        self,
        phases: Sequence[Phase],
        seconds: Sequence[SecondStats],
        *,
        baseline: Window | None,
        end: float,
        halted: str | None,
    ) -> Judged:
        """Judge the fault and recovery ``phases`` (every fault reverted) on ``seconds``, up to
        ``end``, against ``baseline`` (without one: no recovery times, no error budget);
        ``halted`` is the guardrail's reason when it ended a hold."""
        windows = [self.window(phase, seconds, baseline=baseline) for phase in phases]
        measurements = [
            m
            for phase, window in zip(phases, windows, strict=True)
            for m in self._evaluate(phase, window)
        ]
        faults = [phase for phase in phases if phase.kind == "fault"]
        recoveries = self._recoveries(faults, seconds, end, baseline)
        if self.rto is not None and recoveries:
            measurements += [
                self._judge_rto(phase.name, recovery)
                for phase, recovery in zip(faults, recoveries, strict=True)
            ]
        elif self.rto is not None:
            measurements += [self._rto_untimed(phase.name) for phase in faults]
        budget = self._budget_use(faults, seconds, end, baseline)
        if budget is not None:
            measurements.append(budget)
        return Judged(
            windows=tuple(windows),
            measurements=tuple(measurements),
            recoveries=tuple(recoveries),
            budget=budget,
            conclusion=self._conclusion(measurements, halted, windows),
        )

    def aborted(
        self,
        error: BaseException,
        *,
        during: Literal["setup", "body"],
        failures: Sequence[RevertFailure],
        halted: str | None,
    ) -> Conclusion:
        """Something raised: no verdict is drawn, only why the experiment ended."""
        if during == "setup":
            reason = f"the experiment could not run to a verdict: {type(error).__name__}: {error}"
        else:
            reason = f"the experiment body raised {type(error).__name__}: {error}"
        if failures:
            return self.unreverted(failures, then=reason)
        if during == "setup":
            return Conclusion(outcome="error", cause="setup_failed", reason=reason)
        if halted is not None:
            return Conclusion(outcome="failed", cause="halted", reason=halted)
        return Conclusion(outcome="failed", cause="body_raised", reason=reason)

    @staticmethod
    def interrupted(
        error: KeyboardInterrupt, *, stage: str, failures: Sequence[RevertFailure]
    ) -> Conclusion:
        """Ctrl-C or SIGTERM: no verdict, and no failure of the system either."""
        reason = (
            f"interrupted by {describe_interrupt(error)} during {stage}; every fault was "
            "reverted, and no verdict was drawn"
        )
        if failures:
            return Verdict.unreverted(failures, then=reason.partition(";")[0])
        return Conclusion(outcome="error", cause="interrupted", reason=reason)

    @staticmethod
    def skipped(reason: str, *, failures: Sequence[RevertFailure]) -> Conclusion:
        """The body skipped itself (``pytest.skip``): not a failure of the system, and never
        counted in the score, unless a fault it injected may still be active."""
        reason = f"skipped in its body: {reason or 'no reason given'}"
        if failures:
            return Verdict.unreverted(failures, then=reason)
        return Conclusion(outcome="skipped", cause="skipped", reason=reason)

    @staticmethod
    def unreverted(failures: Sequence[RevertFailure], *, then: str = "") -> Conclusion:
        """A fault may still be active: an error, whatever else happened (``then``)."""
        reason = "; ".join([*(failure.message for failure in failures), *([then] if then else [])])
        return Conclusion(outcome="error", cause="revert_failed", reason=reason)

    @staticmethod
    def window(phase: Phase, seconds: Sequence[SecondStats], *, baseline: Window | None) -> Window:
        """``phase``'s window of ``seconds``; ``baseline`` is what it is compared with (None
        for the baseline itself)."""
        # Only whole seconds inside the phase count: the edge seconds mix two phases.
        first, last = math.ceil(phase.start), math.floor(phase.end)
        inside = {s.second: s for s in seconds if first <= s.second < last}
        return Window(
            name=phase.name,
            kind=phase.kind,
            seconds=[
                inside.get(second, SecondStats(second=second)) for second in range(first, last)
            ],
            baseline=None if phase.kind == "baseline" else baseline,
            start=phase.start,
            end=phase.end,
        )

    def _evaluate(self, phase: Phase, window: Window) -> list[Measurement]:
        return [
            judge(objective, window)
            for objective in self.objectives
            if phase.kind in objective.phases
        ]

    def _conclusion(
        self, measurements: Sequence[Measurement], halted: str | None, windows: Sequence[Window]
    ) -> Conclusion:
        breaches = [m for m in measurements if m.status == "fail"]
        unsure = [m for m in measurements if m.status == "inconclusive"]
        # An outage leaves every check short of samples; no option may pass it.
        silent = [reason for reason in map(no_success, windows) if reason]
        if silent and halted is None:
            reason = "SLO breached: " + "; ".join(
                silent + [f"{m.objective} in {m.window}: {m.reason}" for m in breaches]
            )
            return Conclusion(outcome="failed", cause="slo_breached", reason=reason)
        if halted is not None:
            reason = halted + "".join(
                f"; {m.objective} in {m.window}: {m.reason}" for m in breaches
            )
            return Conclusion(outcome="failed", cause="halted", reason=reason)
        if breaches:
            reason = "SLO breached: " + "; ".join(
                f"{m.objective} in {m.window}: {m.reason}" for m in breaches
            )
            return Conclusion(outcome="failed", cause="slo_breached", reason=reason)
        unsure_text = "; ".join(f"{m.objective} in {m.window}: {m.reason}" for m in unsure)
        if unsure and not self.allow_inconclusive:
            # The fixes each reason gives come first; accepting the doubt is the last resort.
            reason = (
                "inconclusive: "
                + unsure_text
                + "; to accept an inconclusive verdict instead, chaos(allow_inconclusive=True)"
            )
            return Conclusion(outcome="failed", cause="inconclusive", reason=reason)
        return _passed(held=len(measurements) - len(unsure), unsure=len(unsure), text=unsure_text)

    @staticmethod
    def _recoveries(
        faults: Sequence[Phase],
        seconds: Sequence[SecondStats],
        end: float,
        baseline: Window | None,
    ) -> list[Recovery]:
        """Time to detect and to recover for each fault (a phase from injection to revert);
        none at all when the baseline gives no band to time them against."""
        limits = limits_from(baseline) if baseline is not None else None
        if limits is None:
            return []
        recoveries = []
        for fault in faults:
            detected = time_to_detect(seconds, limits, injected_at=fault.start, until=end)
            # An effect never seen has no recovery to time.
            recovered = (
                None
                if detected is None
                else time_to_recover(seconds, limits, reverted_at=fault.end, until=end)
            )
            recoveries.append(Recovery(detected_after=detected, recovered_after=recovered))
        return recoveries

    def _budget_use(
        self,
        faults: Sequence[Phase],
        seconds: Sequence[SecondStats],
        end: float,
        baseline: Window | None,
    ) -> Measurement | None:
        """What the fault and recovery phases cost the declared error budget."""
        budget = self.error_budget
        if budget is None or baseline is None or baseline.duration == 0 or not faults:
            return None
        first = min(fault.start for fault in faults)
        span = self.window(
            Phase(name="span", kind="fault", start=first, end=end), seconds, baseline=baseline
        )
        # Valid seconds only: a lagging load generator is not the target's failure.
        valid = [second for second in span.seconds if second.valid]
        held = sum(fault.end - fault.start for fault in faults)
        use = assess(
            budget,
            valid,
            baseline_rps=baseline.merged.demand / baseline.duration,
            long_window=math.ceil(held),
        )
        return budget_verdict(budget, use, window="faults + recovery")

    def _rto_untimed(self, window: str) -> Measurement:
        """The RTO of a fault whose recovery could not be timed: no band to time it against."""
        return self._rto_measurement(
            window,
            value=None,
            shown="n/a",
            status="inconclusive",
            reason="no baseline band to time recovery against: no counted second of the "
            "baseline had a successful request",
        )

    def _judge_rto(self, window: str, recovery: Recovery) -> Measurement:
        rto = self.rto
        assert rto is not None
        recovered_after = recovery.recovered_after
        # No effect seen from the injection to the end: nothing to recover, trivially in time.
        unaffected = recovery.detected_after is None
        passed = unaffected or (recovered_after is not None and recovered_after <= rto)
        shown = "not recovered" if recovered_after is None else f"{recovered_after:.1f}s"
        return self._rto_measurement(
            window,
            value=recovered_after,
            shown="no effect seen" if unaffected else shown,
            status="pass" if passed else "fail",
            reason=""
            if passed
            else "slower than the RTO of "
            f"{format_duration(rto)}: "
            + (
                "not back in the baseline band within the recovery window"
                if recovered_after is None
                else f"took {recovered_after:.1f}s"
            ),
        )

    def _rto_measurement(
        self, window: str, *, value: float | None, shown: str, status: Status, reason: str
    ) -> Measurement:
        rto = self.rto
        assert rto is not None
        return Measurement(
            objective=f"recovery <= {format_duration(rto)}",
            # The RTO is its whole definition; float() so that 10 and "10s" are one objective.
            objective_key=objective_key("rto", float(rto)),
            kind="recovery",
            limit=rto,
            window=window,
            value=value,
            shown=shown,
            status=status,
            samples=0,
            reason=reason,
        )


def no_success(window: Window) -> str:
    """Why ``window`` can never pass when not one of its requests succeeded (its seconds the
    load generator lagged in included); "" when one did."""
    everything = merge_seconds(window.seconds)
    if everything.ok:
        return ""
    by_count = sorted(everything.failed.items(), key=lambda item: (-item[1], item[0]))
    failures = ", ".join(f"{reason} {count}" for reason, count in by_count)
    answered = f": {failures}" if failures else ", none answered"
    return (
        f"no request succeeded in {window.name} ({everything.demand} requests expected{answered})"
    )


def _passed(*, held: int, unsure: int, text: str) -> Conclusion:
    """A pass, worded for what was judged: ``held`` checks held, ``unsure`` (described by
    ``text``) had too few samples and were let through."""
    if not unsure:
        if held:
            return PASSED
        reason = (
            "nothing was judged during or after the fault: no objective applies to those "
            "phases (see each objective's phases=)"
        )
    elif not held:
        checks = "1 check" if unsure == 1 else f"{unsure} checks"
        reason = (
            f"nothing could be judged during or after the fault: {checks} had too few samples "
            f"(allowed by allow_inconclusive=True): {text}"
        )
    else:
        # A check let through by allow_inconclusive=True is not counted as held: "passed"
        # must not claim what was never measured.
        reason = (
            f"{held} of {held + unsure} checks held; {unsure} not judged (too few samples, "
            f"allowed by allow_inconclusive=True): {text}"
        )
    return Conclusion(outcome="passed", cause="", reason=reason)
