"""A rehearsal running: the template's actions as a graph of threads on the local system.

Every action has a thread that waits until each action of its ``startAfter`` has ended, as
FIS starts it then; actions without one start at once, in parallel. An action moves through
FIS's states (pending, initiating, running, completed; cancelled when the experiment ends
before it starts, stopped when it ends while it runs, failed when its effect cannot be
applied, skipped) and the experiment through its own. As in FIS, one failed action fails the
experiment and stops the rest, and a stop (a stop condition, or the revert at the end of the
hold) rolls back what is active.

Every wait is bounded: an action waits at most its scaled length, a thread for its
predecessors at most the plan's length and ``SLACK``, the revert for the threads and for
capacity at most ``REVERT_TIMEOUT`` and ``CAPACITY_TIMEOUT``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay

from chaoskit.clock import SystemClock
from chaoskit.errors import InjectionError, RevertError
from chaoskit.faults.fis_rehearsal.actions import Recipe
from chaoskit.faults.fis_rehearsal.effects import Applied, apply
from chaoskit.faults.fis_rehearsal.plan import RehearsalPlan, describe_scale
from chaoskit.slo.measurement import Objective
from chaoskit.typing import Clock, Environment, Target
from chaoskit.vocabulary import FaultPlan, JsonObject

ENDED = ("completed", "cancelled", "stopped", "failed", "skipped")
# States after which the actions that start after it may start.
_LETS_OTHERS_START = ("completed", "skipped")
# Longest nap between two looks at what an action waits for; a stop wakes it at once.
POLL = 0.05
# Beyond the plan's length: what requests to the system and a busy machine may add.
SLACK = 30.0
START_TIMEOUT = 30.0  # for the first actions to leave initiating
REVERT_TIMEOUT = 30.0  # for every action's thread to end once stopped
CAPACITY_TIMEOUT = 60.0  # for a target to be back at capacity after the rehearsal


@dataclass(kw_only=True)
class _Action:
    recipe: Recipe
    hits: Mapping[str, tuple[str, ...]]
    state: str = "pending"
    reason: str = ""
    started: float | None = None
    ended: float | None = None
    effect_started: float | None = None
    effect_ended: float | None = None
    applied: Applied | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def record(self, plan: RehearsalPlan) -> dict[str, Any]:
        recipe = self.recipe
        planned = plan.starts[recipe.name]
        return {
            "name": recipe.name,
            "action_id": recipe.action_id,
            "state": self.state,
            "reason": self.reason,
            "effect": recipe.shown,
            "note": recipe.note,
            "start_after": list(plan.after.get(recipe.name, ())),
            "instances": {name: list(ids) for name, ids in self.hits.items()},
            "planned_start": planned,
            "planned_end": planned + plan.scaled(recipe.length),
            "started": self.started,
            "ended": self.ended,
            "effect_started": self.effect_started,
            "effect_ended": self.effect_ended,
        }


class Rehearsal:
    """The running rehearsal: an ``Injection`` whose ``details`` are the timeline, which a
    stop condition (``Halting``, ``Guarded``) can end."""

    def __init__(
        self,
        *,
        plan: FaultPlan,
        rehearsal: RehearsalPlan,
        env: Environment,
        clock: Clock | None = None,
    ) -> None:
        self.plan = plan
        self.rehearsal = rehearsal
        self._env = env
        self._clock = clock or SystemClock()
        self._actions = {
            r.name: _Action(recipe=r, hits=rehearsal.instances_of(r)) for r in rehearsal.recipes
        }
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the states, the applied effects, the reasons
        self._applying = threading.Lock()  # one action's requests at a time
        self._applied: list[Applied] = []
        self._threads: list[threading.Thread] = []
        self._failure = ""
        self._halt = ""
        self._started: float | None = None
        self._ended: float | None = None
        self._reverted = False

    # -- Injection ------------------------------------------------------------------------

    @property
    def undo(self) -> JsonObject:
        return {
            "op": "fis_rehearsal",
            "template": self.rehearsal.label,
            "env": self._env.name,
            "note": "every effect is a fault of the local system, which ends with it",
        }

    def start(self) -> None:
        """Start every action's thread; return once the first ones run. InjectionError, with
        nothing left active, when the experiment fails as it starts."""
        label = self.rehearsal.label
        if self.rehearsal.failure:
            raise InjectionError(
                f"the rehearsal of {label} failed as it started: {self.rehearsal.failure}"
            )
        self._started = self._clock.now()
        for action in self._actions.values():
            thread = threading.Thread(
                target=self._perform, args=(action,), name=f"fis-{action.recipe.name}"
            )
            thread.daemon = True  # bounded anyway; never keeps a dying pytest alive
            self._threads.append(thread)
            thread.start()
        roots = [a for a in self._actions.values() if not self.rehearsal.after[a.recipe.name]]
        _wait(
            START_TIMEOUT,
            until=lambda: (
                bool(self._failure) or all(a.state not in ("pending", "initiating") for a in roots)
            ),
            wake=None,
        )
        if self._failure:
            failure = self._failure
            self.revert()
            raise InjectionError(f"the rehearsal of {label} failed: {failure}")

    def revert(self) -> None:
        """Stop what still runs (as StopExperiment would), remove every effect, wait until the
        targets are back at capacity. Idempotent; RevertError naming what may be active."""
        if self._reverted:
            return
        self._stopping.set()
        ended = _wait(
            REVERT_TIMEOUT, until=lambda: not any(t.is_alive() for t in self._threads), wake=None
        )
        problems = []
        if not ended:
            running = [a.recipe.name for a in self._actions.values() if not a.done.is_set()]
            problems.append(
                f"action(s) {', '.join(running)} did not end within {REVERT_TIMEOUT:g}s"
            )
        restoring: dict[str, Target] = {}
        for applied in list(self._applied):
            for held in applied.held:
                try:
                    held.remove()
                except RevertError as error:
                    problems.append(str(error))
                if held.restores is not None:
                    restoring[held.restores.name] = held.restores
            for target in applied.restoring:
                restoring[target.name] = target
        for name, target in restoring.items():
            try:
                target.wait_healthy(CAPACITY_TIMEOUT)
            except Exception as error:  # every problem is reported together
                problems.append(f"target {name!r} is not back at capacity: {error}")
        if problems:
            raise RevertError(
                f"the rehearsal of {self.rehearsal.label} may have left effects active: "
                + "; ".join(problems)
                + ". Revert again, or restart the local system: its faults end with it."
            )
        with self._lock:
            now = self._clock.now()
            self._ended = self._ended or now
            for action in self._actions.values():  # effects held until the end: removed now
                if action.effect_started is not None and action.effect_ended is None:
                    action.effect_ended = now
        self._reverted = True

    # -- Halting, Guarded, ReportsDetails ---------------------------------------------------

    def halt_reason(self) -> str | None:
        """Why the rehearsal ended early on its own: a failed action, as FIS fails an
        experiment (a stop condition's reason is the guardrail's to give)."""
        if self._failure:
            return f"the rehearsal of {self.rehearsal.label} failed: {self._failure}"
        return None

    @property
    def stop_objectives(self) -> Mapping[str, Objective]:
        return self.rehearsal.stop_objectives

    def stop(self, reason: str) -> None:
        with self._lock:
            self._halt = self._halt or reason
        self._stopping.set()

    @property
    def state(self) -> str:
        """The experiment's state as FIS would report it."""
        with self._lock:
            states = [a.state for a in self._actions.values()]
            if self._started is None:
                return "pending"
            if self._failure:
                return "failed"
            if all(s in ENDED for s in states):
                cut_short = any(s in ("stopped", "cancelled") for s in states)
                return "stopped" if cut_short else "completed"
            return "stopping" if self._stopping.is_set() else "running"

    @property
    def details(self) -> JsonObject:
        rehearsal = self.rehearsal
        with self._lock:
            actions = [a.record(rehearsal) for a in self._actions.values()]
            reason = self._failure or self._halt
        return {
            "kind": "fis_rehearsal",
            "template": rehearsal.label,
            "state": {"status": self.state, "reason": reason},
            "time_scale": rehearsal.settings.time_scale,
            "time_scale_shown": describe_scale(rehearsal.settings.time_scale),
            "started": self._started,
            "ended": self._ended,
            "actions": actions,
            "targets": {name: t.describe() for name, t in rehearsal.targets.items()},
            "stop_conditions": {n: o.describe() for n, o in rehearsal.stop_objectives.items()},
            "unwatched_alarms": list(rehearsal.unwatched_alarms),
        }

    # -- one action's thread --------------------------------------------------------------

    def _perform(self, action: _Action) -> None:
        try:
            self._run(action)
        except Exception as error:  # a thread's error must reach the state
            self._end(action, "failed", f"{type(error).__name__}: {error}")
            self._fail(f"action {action.recipe.name} failed: {error}")
        finally:
            if not action.done.is_set():
                self._end(action, "cancelled", "the experiment ended before it started")

    def _run(self, action: _Action) -> None:
        recipe, rehearsal = action.recipe, self.rehearsal
        before = [self._actions[name] for name in rehearsal.after[recipe.name]]
        _wait(
            rehearsal.length + SLACK,
            until=lambda: self._stopping.is_set() or all(b.done.is_set() for b in before),
            wake=self._stopping,
        )
        blocked = [b for b in before if b.state not in _LETS_OTHERS_START]
        if self._stopping.is_set() or blocked:
            why = (
                f"{blocked[0].recipe.name} ended {blocked[0].state}"
                if blocked
                else self._failure or self._halt or "the experiment was stopped"
            )
            self._end(action, "cancelled", why)
            return
        if recipe.effect == "skip":
            self._set(action, "initiating", started=True)
            self._end(action, "skipped", recipe.skipped)
            return
        self._set(action, "initiating", started=True)
        if recipe.delay == 0 and not self._apply(action):
            return
        self._set(action, "running")
        spent = 0.0
        if recipe.delay > 0:
            spent = recipe.delay
            if self._hold(rehearsal.scaled(recipe.delay)) or not self._apply(action):
                self._end_stopped(action)
                return
        if recipe.lasts is not None:
            spent += recipe.lasts
            interrupted = self._hold(rehearsal.scaled(recipe.lasts))
            self._remove(action)
            if interrupted:
                self._end_stopped(action)
                return
        if self._hold(rehearsal.scaled(max(0.0, recipe.length - spent))):
            self._end_stopped(action)
            return
        self._end(action, "completed", "")

    def _apply(self, action: _Action) -> bool:
        """Apply the action's effect; False (the action and the experiment failed) when not."""
        if self._stopping.is_set():
            return False
        try:
            with self._applying:
                applied = apply(
                    action.recipe,
                    action.hits,
                    env=self._env,
                    fault_plan=self.rehearsal.fault_plans.get(action.recipe.name),
                )
        except Exception as error:  # FIS reports the action failed
            self._end(action, "failed", str(error))
            self._fail(f"action {action.recipe.name} failed: {error}")
            return False
        with self._lock:
            self._applied.append(applied)
            action.effect_started = self._clock.now()
            if action.recipe.effect in ("terminate", "reboot"):  # over as soon as done
                action.effect_ended = action.effect_started
            action.applied = applied
        return True

    def _remove(self, action: _Action) -> None:
        if action.applied is None:
            return
        for held in action.applied.held:
            held.remove()  # a failure fails the action; the revert tries again
        with self._lock:
            action.effect_ended = self._clock.now()

    def _end_stopped(self, action: _Action) -> None:
        if action.done.is_set():
            return
        self._remove(action)
        self._end(action, "stopped", self._halt or "the experiment was stopped")

    def _hold(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the experiment stops first; True when it stopped."""
        if seconds > 0:
            # A stop wakes the nap at once: the looks can be far apart.
            _wait(seconds, until=self._stopping.is_set, wake=self._stopping, poll=1.0)
        return self._stopping.is_set()

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._failure = self._failure or reason
        self._stopping.set()

    def _set(self, action: _Action, state: str, *, started: bool = False) -> None:
        with self._lock:
            action.state = state
            if started:
                action.started = self._clock.now()

    def _end(self, action: _Action, state: str, reason: str) -> None:
        with self._lock:
            if action.done.is_set():
                return
            action.state, action.reason = state, reason
            action.ended = self._clock.now()
            held_to_here = action.recipe.lasts is not None
            if held_to_here and action.effect_started is not None and action.effect_ended is None:
                action.effect_ended = action.ended
            action.done.set()
            if all(a.done.is_set() for a in self._actions.values()):
                self._ended = action.ended


def _wait(
    seconds: float,
    *,
    until: Callable[[], bool],
    wake: threading.Event | None,
    poll: float = POLL,
) -> bool:
    """Look at ``until`` every ``poll`` seconds (at once when ``wake`` is set) for at most
    ``seconds``; whether it held."""
    deadline = time.monotonic() + seconds

    def nap(pause: float) -> None:
        if wake is not None:
            wake.wait(pause)
        else:
            time.sleep(pause)

    retrying = Retrying(
        stop=stop_after_delay(seconds),
        wait=lambda state: max(0.0, min(poll, deadline - time.monotonic())),
        sleep=nap,
        retry=retry_if_result(lambda held: not held),
    )
    try:
        return bool(retrying(until))
    except RetryError:
        return False
