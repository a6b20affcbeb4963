"""The live guardrail: watches every second of a fault's hold and ends it early.

A second breaches the guardrail when one of its objectives fails on that second alone, or when
every request that came back failed. ``halt_after`` breaching seconds in a row end the hold;
the lifecycle then reverts the fault, injects nothing more and marks the experiment halted.
A fault that something else can end (an FIS experiment stopped by its stop alarm) is looked
at every ``STOP_CONDITION_POLL`` seconds of the hold too, and ends it the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    ) -> str | None:
        """Hold a fault injected at ``injected_at`` for ``seconds``; returns why the guardrail
        (or the fault's own ``stop_condition``) halted it, or None when the hold ran its full
        length.

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
        if not self.objectives and stop_condition is None:
            clock.sleep(seconds)
            return None
        deadline = injected_at + seconds
        checked_up_to = math.ceil(injected_at)
        streak: list[str] = []
        next_look = injected_at + STOP_CONDITION_POLL
        while clock.now() < deadline:
            clock.sleep(min(GUARDRAIL_POLL, deadline - clock.now()))
            if stop_condition is not None and clock.now() >= next_look:
                next_look = clock.now() + STOP_CONDITION_POLL
                ended = stop_condition()
                if ended is not None:
                    return f"halted: {ended}"
            if not self.objectives:
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
                    breach = self._breach(second, baseline) if second.in_flight else None
                    if breach is None:
                        if clock.now() - (second.second + 1) < GUARDRAIL_SILENCE:
                            break  # nothing decided yet: wait for it, the seconds after it too
                        breach = f"nothing came back within {GUARDRAIL_SILENCE:g}s"
                else:
                    breach = self._breach(second, baseline)
                checked_up_to = second.second + 1
                streak = [] if breach is None else [*streak, breach]
                if len(streak) >= self.halt_after:
                    return (
                        f"halted by the guardrail after {len(streak)} breaching seconds in a "
                        f"row ({streak[-1]})"
                    )
        return None

    def _breach(self, second: SecondStats, baseline: Window | None) -> str | None:
        """Why ``second`` breaches the guardrail, or None when it does not (yet)."""
        if second.ok == 0 and second.failures:
            return "every request failed"
        # Requests in flight count as successes at the age they have reached: that makes
        # latency no worse than it will be, and errors, availability and throughput no
        # worse either, so whatever breaches now breaches on the complete second too.
        window = Window(
            name=f"second {second.second}",
            kind="fault",
            seconds=[second.at_least()],
            baseline=baseline,
        )
        for objective in self.objectives:
            measured = objective.evaluate(window)
            if measured.status == "fail":
                return f"{measured.objective}: {measured.shown}"
        return None


def _second_of(stats: SecondStats) -> int:
    return stats.second
