"""The live guardrail: watches every second of a fault's hold and ends it early.

A second breaches the guardrail when one of its objectives fails on that second alone, or when
every request that came back failed. ``halt_after`` breaching seconds in a row end the hold;
the lifecycle then reverts the fault, injects nothing more and marks the experiment halted.
A fault that something else can end (an FIS experiment stopped by its stop alarm) is looked
at every ``STOP_CONDITION_POLL`` seconds of the hold too, and ends it the same way. A fault
with stop conditions of its own judged on the load (a rehearsed FIS template's alarms, mapped
onto objectives) has them judged with the guardrail's, second by second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chaoskit.slo.measurement import Objective
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window
from chaoskit.typing import Clock, LoadDriver

GUARDRAIL_POLL = 0.25  # seconds between looks at the load's latest seconds during a hold
GUARDRAIL_GRACE = 0.75  # how long after a second ends the guardrail judges what arrived of it
# A second of which nothing came back this long after it ended breaches the guardrail.
GUARDRAIL_SILENCE = 5.0
# Seconds between looks at a fault's own stop condition: each look is an API call (FIS
# GetExperiment), and FIS itself evaluates its alarms about once a minute at best.
STOP_CONDITION_POLL = 2.0
GUARDRAIL = "the guardrail"


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
        clock = self.clock
        judged: list[tuple[str | None, Objective]] = [(None, o) for o in self.objectives]
        judged += [(name, objective) for name, objective in (stop_objectives or {}).items()]
        if not judged and stop_condition is None:
            clock.sleep(seconds)
            return None
        deadline = injected_at + seconds
        checked_up_to = math.ceil(injected_at)
        streak: list[tuple[str, str]] = []  # (who judged it breaching, why)
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
            complete = math.floor(clock.now() - GUARDRAIL_GRACE)
            if complete <= checked_up_to:
                continue
            for second in sorted(self.load.peek(checked_up_to, complete), key=_second_of):
                if second.second < checked_up_to:
                    continue
                if not second.valid:
                    checked_up_to = second.second + 1
                    continue  # generator lag: neither extends nor breaks a streak
                if second.completed == 0:
                    breach = self._breach(second, baseline, judged) if second.in_flight else None
                    if breach is None:
                        if clock.now() - (second.second + 1) < GUARDRAIL_SILENCE:
                            break  # nothing decided yet: wait for it, the seconds after it too
                        breach = (GUARDRAIL, f"nothing came back within {GUARDRAIL_SILENCE:g}s")
                else:
                    breach = self._breach(second, baseline, judged)
                checked_up_to = second.second + 1
                streak = [] if breach is None else [*streak, breach]
                if len(streak) >= self.halt_after:
                    by, why = streak[-1]
                    return f"halted by {by} after {len(streak)} breaching seconds in a row ({why})"
        return None

    def _breach(
        self,
        second: SecondStats,
        baseline: Window | None,
        judged: list[tuple[str | None, Objective]],
    ) -> tuple[str, str] | None:
        """Who judged ``second`` breaching (the guardrail, or a stop condition by name) and
        why, or None when it does not breach (yet)."""
        if second.ok == 0 and second.failures:
            return GUARDRAIL, "every request failed"
        # Requests in flight count as successes at the age they have reached: that makes
        # latency no worse than it will be, and errors, availability and throughput no
        # worse either, so whatever breaches now breaches on the complete second too.
        window = Window(
            name=f"second {second.second}",
            kind="fault",
            seconds=[second.at_least()],
            baseline=baseline,
        )
        for name, objective in judged:
            measured = objective.evaluate(window)
            if measured.status == "fail":
                by = GUARDRAIL if name is None else f"stop condition {name}"
                return by, f"{measured.objective}: {measured.shown}"
        return None


def _second_of(stats: SecondStats) -> int:
    return stats.second
