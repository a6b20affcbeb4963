"""The live guardrail: watches every second of a hold and ends it early.

A second breaches the guardrail when one of its objectives fails on that second alone, or when
every request that came back failed. ``halt_after`` breaching seconds in a row end the hold;
the lifecycle then reverts the fault, injects nothing more and marks the experiment halted.
A fault that something else can end (an FIS experiment stopped by its stop alarm) is looked
at every ``STOP_CONDITION_POLL`` seconds of the hold too, and ends it the same way. A fault
with stop conditions of its own judged on the load (a rehearsed FIS template's alarms, mapped
onto objectives) has them judged with the guardrail's, second by second.

A second is judged as soon as it is decided: breaching as soon as what has come back of it
proves it (``chaoskit.slo.live``: workers report the seconds still in flight four times a
second, with their outstanding requests), passing only once it is complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from chaoskit.slo import live
from chaoskit.slo.measurement import Objective
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window
from chaoskit.typing import Clock, LoadDriver

GUARDRAIL_POLL = 0.25  # seconds between looks at the load's latest seconds during a hold
# A load generator that has reported nothing at all (no complete second, no live one) for
# this long is stuck or gone: every second over and not decided yet breaches.
GUARDRAIL_SILENCE = 5.0
# Seconds between looks at a fault's own stop condition: each look is an API call (FIS
# GetExperiment), and FIS itself evaluates its alarms about once a minute at best.
STOP_CONDITION_POLL = 2.0
GUARDRAIL = "the guardrail"

# How a second was decided: it breached (who judged it so, and why), it passed, or it is left
# out of streaks (the load generator lagged in it: a lag can only grow, so a live second
# marked so stays so).
Breach = tuple[str, str]
PASSED: Final = "passed"
LEFT_OUT: Final = "left out"
Decision = Breach | Literal["passed", "left out"]


@dataclass(frozen=True, kw_only=True)
class Guardrail:
    """Judged on every single second of a hold; see ``hold``."""

    objectives: tuple[Objective, ...]
    halt_after: int
    load: LoadDriver
    clock: Clock

    def hold(
        self,
        *,
        injected_at: float,
        seconds: float,
        baseline: Window | None,
        stop_condition: Callable[[], str | None] | None = None,
        stop_objectives: Mapping[str, Objective] | None = None,
    ) -> str | None:
        """Hold a fault injected at ``injected_at`` for ``seconds``; returns why the guardrail
        (or the fault's own ``stop_condition``) halted it, or None when the hold ran its full
        length. ``stop_objectives`` (stop condition name -> objective) are the fault's own,
        judged with the guardrail's objectives; the reason names the one that breached.

        Looks four times a second at the seconds of the hold that are over, from the first
        whole one. A second breaches as soon as what has come back of it proves it (its
        complete judgement can only agree: ``chaoskit.slo.live``), and passes once complete:
        on a slow or stalled target a breach is seen a threshold's length after the second
        ended, not when its requests come back. ``halt_after`` breaching seconds in a row
        halt the hold; a second not decided yet neither breaks nor extends a run, so later
        seconds can still make one. A load generator silent for ``GUARDRAIL_SILENCE`` (no
        complete or live second at all) makes every second over and undecided breach.
        """
        clock = self.clock
        judged: list[tuple[str | None, Objective]] = [(None, o) for o in self.objectives]
        judged += [(name, objective) for name, objective in (stop_objectives or {}).items()]
        if not judged and stop_condition is None:
            clock.sleep(seconds)
            return None
        deadline = injected_at + seconds
        first = math.ceil(injected_at)
        decided: dict[int, Decision] = {}
        next_look = injected_at + STOP_CONDITION_POLL
        while clock.now() < deadline:
            clock.sleep(min(GUARDRAIL_POLL, deadline - clock.now()))
            if stop_condition is not None and clock.now() >= next_look:
                next_look = clock.now() + STOP_CONDITION_POLL
                ended = stop_condition()
                if ended is not None:
                    return f"halted: {ended}"
            if not judged:
                continue
            over = math.floor(clock.now())  # seconds before it are over
            self._decide(first, over, decided, baseline, judged)
            halted = self._streak(first, over, decided)
            if halted is not None:
                return halted
        return None

    def _decide(
        self,
        first: int,
        over: int,
        decided: dict[int, Decision],
        baseline: Window | None,
        judged: list[tuple[str | None, Objective]],
    ) -> None:
        """Decide what can be of the seconds in ``[first, over)`` not decided yet."""
        undecided = [second for second in range(first, over) if second not in decided]
        if not undecided:
            return
        progress = self.load.progress()
        for stats in self.load.peek(undecided[0], over):
            if stats.second < first or stats.second in decided:
                continue
            complete = not stats.in_flight and stats.second + 1 <= progress.complete_until
            decision = self._judge(stats, complete=complete, baseline=baseline, judged=judged)
            if decision is not None:
                decided[stats.second] = decision
        if self.clock.now() - progress.reported_at >= GUARDRAIL_SILENCE:
            why = f"the load generators reported nothing for {GUARDRAIL_SILENCE:g}s"
            for second in undecided:
                decided.setdefault(second, (GUARDRAIL, why))

    def _streak(self, first: int, over: int, decided: dict[int, Decision]) -> str | None:
        """The halt reason when ``halt_after`` seconds in a row breached, else None."""
        streak: list[Breach] = []
        for second in range(first, over):
            decision = decided.get(second)
            if decision == LEFT_OUT:
                continue  # generator lag: neither extends nor breaks a streak
            if decision is None or decision == PASSED:
                streak = []
                continue
            assert isinstance(decision, tuple)
            streak.append(decision)
            if len(streak) >= self.halt_after:
                by, why = streak[-1]
                return f"halted by {by} after {len(streak)} breaching seconds in a row ({why})"
        return None

    def _judge(
        self,
        second: SecondStats,
        *,
        complete: bool,
        baseline: Window | None,
        judged: list[tuple[str | None, Objective]],
    ) -> Decision | None:
        """How ``second`` is decided, or None while it cannot be yet."""
        if not second.valid:
            return LEFT_OUT
        if complete and second.ok == 0 and second.failures:
            return GUARDRAIL, "every request failed"
        for name, objective in judged:
            measured = live.breach(objective, second, complete=complete, baseline=baseline)
            if measured is not None:
                by = GUARDRAIL if name is None else f"stop condition {name}"
                return by, f"{measured.objective}: {measured.shown}"
        return PASSED if complete else None
