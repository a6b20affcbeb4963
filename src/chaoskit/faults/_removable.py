"""The two shapes of an active fault: one the target keeps under a handle until
``remove_fault``, and one that ends by itself while the target restores its capacity; and how
a request that injects either is turned into the fault's error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoskit.errors import InjectionError, ProviderError, RevertError
from chaoskit.typing import Target
from chaoskit.vocabulary import FaultPlan


def add_fault(target: Target, plan: FaultPlan, add: Callable[[], str]) -> str:
    """Call ``add`` (which returns the fault's handle); on failure leave nothing active.

    A failed request may still have taken effect (a timeout after the provider applied it):
    any fault that appeared since is removed, or the error says that one may be active.
    """
    before = set(target.active_faults())
    try:
        return add()
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


def start_fault(plan: FaultPlan, start: Callable[[], None]) -> None:
    """Call ``start`` for a fault that ends by itself; its ProviderError is an InjectionError.

    If the request failed after it took effect there is nothing to undo: the revert's wait for
    capacity covers it either way.
    """
    try:
        start()
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
    _removed: bool = field(default=False, init=False)

    @property
    def undo(self) -> Mapping[str, Any]:
        # The instances too: a provider reverting from the journal alone (chaoskit recover)
        # acts on them, e.g. starts again the instances a stop left stopped.
        return {
            "op": "remove_fault",
            "target": self.plan.target,
            "handle": self.handle,
            "instance_ids": list(self.plan.instance_ids),
        }

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
    _restored: bool = field(default=False, init=False)
    # How long the target took to be healthy again, where its provider measures it.
    _self_heal: float | None = field(default=None, init=False)

    @property
    def details(self) -> Mapping[str, Any]:
        if self._self_heal is None:
            return {}
        return {"time_to_self_heal": round(self._self_heal, 3)}

    @property
    def undo(self) -> Mapping[str, Any]:
        return {"op": "wait_healthy", "target": self.plan.target}

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
