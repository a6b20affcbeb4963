"""The injection ledger: every fault of one experiment, from intent to revert, journaled.

The safety model's bookkeeping lives here: the intent reaches the disk before the fault is
injected, the injection and its undo after, the revert (or its failure) when it happens, and
``revert_all`` settles whatever is still active, whatever else went wrong. A revert that fails
becomes a ``RevertFailure`` record: the ``RevertError`` raised carries it, and so does the
experiment's result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from chaoskit.errors import ChaoskitError, InjectionError, RevertError, RevertFailure
from chaoskit.experiment.events import (
    FaultInjected,
    FaultIntent,
    FaultNotInjected,
    FaultReverted,
    FaultRevertFailed,
)
from chaoskit.experiment.journal import JournalWriter
from chaoskit.experiment.protocol import Notify
from chaoskit.experiment.result import InjectionRecord, InjectionStatus, Phase, Recovery
from chaoskit.slo.measurement import Objective
from chaoskit.typing import (
    Clock,
    Environment,
    Fault,
    Guarded,
    Halting,
    Injection,
    ReportsDetails,
)
from chaoskit.vocabulary import FaultPlan


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
    # ``ended_on_their_own`` asked it once it was reverted (once is enough: it has ended).
    asked_how_it_ended: bool = False
    detected_after: float | None = None
    recovered_after: float | None = None

    @property
    def status(self) -> InjectionStatus:
        if self.maybe_active:
            return "revert failed"
        if self.injection is None:
            return "not injected"
        if self.reverted_at is not None:
            return "reverted"
        if self.error:
            return "revert failed"
        return "active"

    def record(self) -> InjectionRecord:
        return InjectionRecord(
            injection_id=self.injection_id,
            fault=self.plan.fault,
            target=self.plan.target,
            instance_ids=self.plan.instance_ids,
            injected_at=self.injected_at,
            reverted_at=self.reverted_at,
            status=self.status,
            error=self.error,
            detected_after=self.detected_after,
            recovered_after=self.recovered_after,
            severity=self.plan.severity,
            details=dict(self.injection.details)
            if isinstance(self.injection, ReportsDetails)
            else {},
        )

    def failure(self, error: BaseException) -> RevertFailure:
        return RevertFailure(
            injection_id=self.injection_id,
            fault=self.plan.fault,
            instance_ids=self.plan.instance_ids,
            error=str(error),
            error_names_fault=isinstance(error, RevertError),
        )


class ActiveFault:
    """What ``Experiment.inject`` returns; as a context manager it reverts on exit."""

    def __init__(self, ledger: InjectionLedger, active: _Active) -> None:
        self._ledger = ledger
        self._active = active

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return self._active.plan.instance_ids

    @property
    def injected_at(self) -> float:
        assert self._active.injected_at is not None  # handles exist for injected faults only
        return self._active.injected_at

    @property
    def stop_condition(self) -> Callable[[], str | None] | None:
        """What says whether the fault was ended by something other than chaoskit (an FIS
        stop alarm), for the hold to watch; None for faults only chaoskit ends."""
        injection = self._active.injection
        return injection.halt_reason if isinstance(injection, Halting) else None

    @property
    def stop_objectives(self) -> Mapping[str, Objective]:
        """The fault's own stop conditions judged on the load (a rehearsed FIS template's
        alarms), by name, for the hold's guardrail; empty for other faults."""
        injection = self._active.injection
        return injection.stop_objectives if isinstance(injection, Guarded) else {}

    def halted(self, reason: str) -> None:
        """The hold was halted: a fault that keeps a state of its own (a rehearsed FIS
        experiment) records it as stopped, with ``reason``, before it is reverted."""
        injection = self._active.injection
        if isinstance(injection, Guarded):
            injection.stop(reason)

    def revert(self) -> None:
        self._ledger.revert(self._active)

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
            self._ledger.revert_keeping(self._active, exc)


class InjectionLedger:
    """The faults of one experiment, in the order they were planned."""

    def __init__(
        self,
        *,
        experiment: str,
        env: Environment,
        journal: JournalWriter,
        clock: Clock,
        notify: Notify,
    ) -> None:
        self._experiment = experiment
        self._env = env
        self._journal = journal
        self._clock = clock
        self._notify = notify
        self._faults: list[_Active] = []
        self._failures: dict[str, RevertFailure] = {}  # by injection id

    def inject(self, fault: Fault, plan: FaultPlan) -> ActiveFault:
        """Journal the intent durably, then inject; a failure is journaled and raised."""
        active = _Active(injection_id=uuid.uuid4().hex[:12], plan=plan)
        self._faults.append(active)
        self._journal.append(
            FaultIntent(
                injection_id=active.injection_id,
                experiment=self._experiment,
                env=self._env.name,
                fault=plan.fault,
                target=plan.target,
                instance_ids=plan.instance_ids,
            )
        )
        self._notify(f"inject {plan.fault} -> {', '.join(plan.instance_ids)}")
        try:
            injection = fault.inject(plan, self._env)
        except RevertError as error:
            # The fault could not say whether it took effect: the intent stays open.
            failure = active.failure(error)
            active.error, active.maybe_active = failure.error, True
            self._failures[active.injection_id] = failure
            self._journal.append(
                FaultRevertFailed(injection_id=active.injection_id, error=failure.error)
            )
            raise RevertError(failure.message, failures=(failure,)) from error
        except Exception as error:
            active.error = str(error)
            self._journal.append(
                FaultNotInjected(injection_id=active.injection_id, error=str(error))
            )
            if isinstance(error, ChaoskitError):
                raise
            raise InjectionError(f"{plan.fault}: {error}") from error
        except BaseException as interrupted:
            # Ctrl-C or SIGTERM mid-call: whether the fault took effect is unknown, so the
            # intent stays open for revert_all to report and `chaoskit recover` to settle.
            failure = active.failure(
                RevertError(
                    f"{plan.fault} on {', '.join(plan.instance_ids) or plan.target} may be "
                    f"active: injecting it was interrupted before it said whether it took "
                    f"effect. Check it, or run `chaoskit recover`."
                )
            )
            active.error, active.maybe_active = failure.error, True
            self._failures[active.injection_id] = failure
            self._journal.append(
                FaultRevertFailed(injection_id=active.injection_id, error=failure.error)
            )
            interrupted.add_note(f"chaoskit: {failure.message}")
            raise
        active.injection = injection
        active.injected_at = self._clock.now()
        self._journal.append(
            FaultInjected(
                injection_id=active.injection_id, at=active.injected_at, undo=dict(injection.undo)
            )
        )
        return ActiveFault(self, active)

    def revert(self, active: _Active) -> None:
        """Revert ``active`` (again: a no-op); RevertError, journaled, when it fails."""
        if active.injection is None or active.reverted_at is not None:
            return
        try:
            active.injection.revert()
        except Exception as error:
            failure = active.failure(error)
            active.error = failure.error
            self._failures[active.injection_id] = failure
            self._journal.append(
                FaultRevertFailed(injection_id=active.injection_id, error=failure.error)
            )
            # Also over the fault's own RevertError (whose text the message keeps): the record
            # says what may still be active to whoever must act on it.
            raise RevertError(failure.message, failures=(failure,)) from error
        active.reverted_at = self._clock.now()
        self._failures.pop(active.injection_id, None)
        self._journal.append(FaultReverted(injection_id=active.injection_id, at=active.reverted_at))
        injection = active.injection
        healed = (
            injection.details.get("time_to_self_heal")
            if isinstance(injection, ReportsDetails)
            else None
        )
        self._notify(
            f"reverted {active.plan.fault}"
            + ("" if healed is None else f"; healthy capacity again {healed}s after the injection")
        )

    def revert_keeping(self, active: _Active, in_flight: BaseException) -> None:
        """Revert while ``in_flight`` propagates; a revert failure is noted on it, not raised,
        so a Ctrl-C stays a Ctrl-C (the failure is in the journal and reported again later)."""
        try:
            self.revert(active)
        except RevertError as error:
            in_flight.add_note(f"chaoskit: {error}")

    def revert_all(self) -> tuple[RevertFailure, ...]:
        """Revert everything still active, newest first; what could not be reverted."""
        failures = []
        for active in reversed(self._faults):
            if active.maybe_active:
                failures.append(self._failures[active.injection_id])
                continue
            try:
                self.revert(active)
            except RevertError:
                failures.append(self._failures[active.injection_id])
        return tuple(failures)

    def ended_on_their_own(self) -> str | None:
        """Why a reverted fault that something other than chaoskit can end had ended before
        its revert (FIS failed the experiment after the hold's last look), or None."""
        for active in self.injected():
            injection = active.injection
            if active.reverted_at is None or active.asked_how_it_ended:
                continue
            active.asked_how_it_ended = True
            if isinstance(injection, Halting):
                reason = injection.halt_reason()
                if reason is not None:
                    return reason
        return None

    def injected(self) -> list[_Active]:
        """The faults that took effect, in order."""
        return [active for active in self._faults if active.injected_at is not None]

    def fault_phases(self, now: float) -> list[Phase]:
        """A ``fault N`` phase per fault that took effect, until its revert (or ``now``)."""
        phases = []
        for index, active in enumerate(self.injected(), start=1):
            assert active.injected_at is not None
            end = active.reverted_at or now
            phases.append(
                Phase(name=f"fault {index}", kind="fault", start=active.injected_at, end=end)
            )
        return phases

    def note_recoveries(self, recoveries: Sequence[Recovery]) -> None:
        """Keep the verdict's time to detect and to recover, one per fault that took effect
        (none when they could not be timed)."""
        if not recoveries:
            return
        for active, recovery in zip(self.injected(), recoveries, strict=True):
            active.detected_after = recovery.detected_after
            active.recovered_after = recovery.recovered_after

    def records(self) -> tuple[InjectionRecord, ...]:
        return tuple(active.record() for active in self._faults)
