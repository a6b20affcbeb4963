"""An action's effect applied to local instances, and what must be undone or waited for.

Each effect goes through the same calls as chaoskit's own faults (``add_fault`` leaves
nothing active when a request fails, ``start_fault`` turns the provider's error into an
InjectionError), so a rehearsed action fails, and cleans up, the way the fault would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chaoskit.errors import ChaoskitError, RevertError
from chaoskit.faults._removable import add_fault, start_fault
from chaoskit.faults.fis_rehearsal.actions import Recipe
from chaoskit.typing import Environment, Injection, Target
from chaoskit.vocabulary import FaultPlan


@dataclass(kw_only=True)
class Held:
    """An effect that lasts until removed (a stop, a latency, a mapped fault). Removing it
    is idempotent; a failure is a RevertError naming the action, and is tried again."""

    action: str
    remove_once: Callable[[], None]
    # The target to wait for once removed (a stopped instance starting again), or None.
    restores: Target | None = None
    _removed: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def remove(self) -> None:
        with self._lock:
            if self._removed:
                return
            try:
                self.remove_once()
            except ChaoskitError as error:
                raise RevertError(
                    f"action {self.action} of the rehearsal is still active: {error}"
                ) from error
            self._removed = True


@dataclass(frozen=True, kw_only=True)
class Applied:
    held: tuple[Held, ...] = ()
    # Targets that lost capacity and restore it on their own (terminated, rebooted):
    # reverting the rehearsal waits until they are back.
    restoring: tuple[Target, ...] = ()


def apply(
    recipe: Recipe,
    hits: Mapping[str, tuple[str, ...]],
    *,
    env: Environment,
    fault_plan: FaultPlan | None,
) -> Applied:
    """Apply ``recipe``'s effect to ``hits`` (local target -> instance ids); raises the
    fault's InjectionError (nothing left active) when a request fails."""
    if recipe.fault is not None:
        assert fault_plan is not None
        injection: Injection = recipe.fault.inject(fault_plan, env)
        return Applied(held=(Held(action=recipe.name, remove_once=injection.revert),))
    held: list[Held] = []
    restoring: list[Target] = []
    for name, ids in hits.items():
        target = env.target(name)
        plan = FaultPlan(
            fault=f"{recipe.name} ({recipe.action_id}): {recipe.shown}",
            target=name,
            instance_ids=ids,
        )
        try:
            found = _apply_one(recipe, target, plan)
        except BaseException:
            for earlier in held:  # an action is applied whole or not at all
                earlier.remove()
            raise
        if isinstance(found, Held):
            held.append(found)
        elif found is not None:
            restoring.append(found)
    return Applied(held=tuple(held), restoring=tuple(restoring))


def _apply_one(recipe: Recipe, target: Target, plan: FaultPlan) -> Held | Target | None:
    ids = plan.instance_ids
    effect = recipe.effect
    if effect == "terminate":
        start_fault(target, plan, lambda: target.terminate(ids))
        return target
    if effect == "reboot":
        start_fault(target, plan, lambda: target.reboot_instances(ids))
        return target
    if effect == "stop":
        handle, _ = add_fault(target, plan, lambda: target.stop_instances(ids))
        return _held(recipe, target, handle, restores=target)
    if effect == "network":
        network = recipe.network
        assert network is not None
        handle, _ = add_fault(target, plan, lambda: target.add_network_fault(ids, network))
        return _held(recipe, target, handle)
    if effect == "cpu":
        handle, _ = add_fault(target, plan, lambda: target.stress_cpu(ids, workers=recipe.workers))
        return _held(recipe, target, handle)
    return None  # wait, skip: nothing happens to any instance


def _held(recipe: Recipe, target: Target, handle: str, *, restores: Target | None = None) -> Held:
    return Held(
        action=f"{recipe.name} ({handle} on {target.name})",
        remove_once=lambda: target.remove_fault(handle),
        restores=restores,
    )
