"""The two shapes of an active fault: one the target keeps under a handle until
``remove_fault``, and one that ends by itself while the target restores its capacity; and how
a request that injects either is turned into the fault's error.

A target that records its faults (``RecordsFaults``: an FIS experiment per fault on AWS) is
asked inside ``recording(plan)``; what it started joins the injection's undo and details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chaoskit.errors import InjectionError, ProviderError, RevertError
from chaoskit.typing import FaultRecord, RecordsFaults, Target
from chaoskit.vocabulary import FaultPlan, JsonObject

_T = TypeVar("_T")


def _recorded(
    target: Target, plan: FaultPlan, act: Callable[[], _T]
) -> tuple[_T, FaultRecord | None]:
    if not isinstance(target, RecordsFaults):
        return act(), None
    with target.recording(plan) as record:
        return act(), record


def _merged(base: Mapping[str, Any], record: FaultRecord | None, part: str) -> dict[str, Any]:
    """``base`` with the record's undo or details over it: the record says, for instance,
    that the undo is stopping an FIS experiment rather than removing a handle."""
    extra = {} if record is None else (record.undo if part == "undo" else record.details)
    return {**base, **extra}


def add_fault(
    target: Target, plan: FaultPlan, add: Callable[[], str]
) -> tuple[str, FaultRecord | None]:
    """Call ``add`` (which returns the fault's handle); on failure leave nothing active.

    A failed request may still have taken effect (a timeout after the provider applied it):
    any fault that appeared since is removed, or the error says that one may be active.
    """
    before = set(target.active_faults())
    try:
        return _recorded(target, plan, add)
    except ProviderError as error:
        try:
            for handle in set(target.active_faults()) - before:
                target.remove_fault(handle)
        except ProviderError as cleanup_error:
            raise RevertError(
                f"{plan.fault} on {', '.join(plan.instance_ids)}: injecting failed ({error}) "
                f"and whether it took effect could not be checked ({cleanup_error}); it may be "
                f"active."
            ) from error
        raise _injection_error(plan, error) from error


def start_fault(target: Target, plan: FaultPlan, start: Callable[[], None]) -> FaultRecord | None:
    """Call ``start`` for a fault that ends by itself; its ProviderError is an InjectionError.

    If the request failed after it took effect there is nothing to undo: the revert's wait for
    capacity covers it either way.
    """
    try:
        return _recorded(target, plan, start)[1]
    except ProviderError as error:
        raise _injection_error(plan, error) from error


def _injection_error(plan: FaultPlan, error: ProviderError) -> InjectionError:
    return InjectionError(f"{plan.fault} on {', '.join(plan.instance_ids)}: {error}")


@dataclass(kw_only=True)
class RemovableInjection:
    """A fault that lasts until its handle is removed; reverting removes it once."""

    plan: FaultPlan
    target: Target
    handle: str
    record: FaultRecord | None = None
    _removed: bool = field(default=False, init=False)

    @property
    def undo(self) -> JsonObject:
        # The instances too: a provider reverting from the journal alone (chaoskit recover)
        # acts on them, e.g. starts again the instances a stop left stopped.
        base = {
            "op": "remove_fault",
            "target": self.plan.target,
            "handle": self.handle,
            "instance_ids": list(self.plan.instance_ids),
        }
        return _merged(base, self.record, "undo")

    @property
    def details(self) -> JsonObject:
        return _merged({}, self.record, "details")

    def revert(self) -> None:
        if self._removed:
            return
        try:
            self.target.remove_fault(self.handle)
        except ProviderError as error:
            raise RevertError(
                f"{self.plan.fault} ({self.handle}) is still active on "
                f"{', '.join(self.plan.instance_ids)} of target {self.plan.target!r}: {error}"
            ) from error
        self._removed = True


@dataclass(kw_only=True)
class AwaitsCapacity:
    """A fault that ends by itself (a terminated instance is replaced, a rebooted one comes
    back): reverting waits until the target is at healthy capacity again."""

    plan: FaultPlan
    target: Target
    timeout: float
    action: str  # what was done, for the error: "terminating", "rebooting"
    record: FaultRecord | None = None
    _restored: bool = field(default=False, init=False)
    # How long the target took to be healthy again, where its provider measures it.
    _self_heal: float | None = field(default=None, init=False)

    @property
    def details(self) -> JsonObject:
        healed = {} if self._self_heal is None else {"time_to_self_heal": round(self._self_heal, 3)}
        return _merged(healed, self.record, "details")

    @property
    def undo(self) -> JsonObject:
        return _merged({"op": "wait_healthy", "target": self.plan.target}, self.record, "undo")

    def revert(self) -> None:
        if self._restored:
            return
        try:
            self._self_heal = self.target.wait_healthy(self.timeout)
        except ProviderError as error:
            raise RevertError(
                f"target {self.plan.target!r} did not return to capacity within "
                f"{self.timeout:g}s after {self.action} {', '.join(self.plan.instance_ids)}: "
                f"{error}"
            ) from error
        self._restored = True
