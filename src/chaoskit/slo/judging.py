"""Judging an objective on a window whose load generator lagged in some seconds.

A lagging second is left out of a window (``Window.invalid``) unless its lag cannot have
moved the objective's verdict; this module decides which, objective by objective, and says so
in the measurement's reason.
"""

from __future__ import annotations

from dataclasses import replace

from chaoskit.durations import format_duration
from chaoskit.slo.measurement import Measurement, Objective
from chaoskit.slo.objectives import ErrorRateObjective, LatencyObjective
from chaoskit.slo.samples import why
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.units import format_latency
from chaoskit.slo.window import Window


def judge(objective: Objective, window: Window) -> Measurement:
    """``objective`` on ``window``'s seconds, the lagging ones only where they cannot matter.

    A latency objective counts the seconds the load generator lagged in when the lateness it
    reported (``lag_ms``, the worst of them) is smaller than the margin between the value
    measured with them and the threshold: a generator that late can have moved each of its
    latencies, and so the percentile, by no more than that, which cannot cross the threshold.
    An error-rate objective counts them when none of their failures is a timeout: lateness
    delays requests, and a timeout is the only failure a late generator can cause.
    Otherwise, and for every other objective, those seconds are left out: a breach the valid
    seconds prove stands (a lagging generator does not cause an HTTP 503 or a slow response
    it measured on time); a pass is only trusted when at most a quarter of the window was
    left out, otherwise those seconds could hide the breach: inconclusive.
    """
    lagging = window.lagging
    if lagging and isinstance(objective, LatencyObjective):
        decided = _lag_cannot_matter(objective, window, lagging)
        if decided is not None:
            return decided
    if lagging and isinstance(objective, ErrorRateObjective):
        decided = _lag_caused_no_failures(objective, window, lagging)
        if decided is not None:
            return decided
    measured = objective.evaluate(window)
    if not window.too_invalid or measured.status == "fail":
        return measured
    return replace(
        measured,
        status="inconclusive",
        reason=f"{len(window.invalid)} of {len(window.seconds)} seconds are invalid, the load "
        f"generator fell behind ({why(window.invalid)}), too many to call it a pass; add workers "
        f"or lower the rate",
    )


def _lag_cannot_matter(
    objective: LatencyObjective, window: Window, lagging: list[SecondStats]
) -> Measurement | None:
    """``objective`` judged on every second of ``window``, when the generator's lateness in
    the ``lagging`` seconds is smaller than the margin to the threshold; None otherwise."""
    # A second marked invalid without its lateness (older journals) could hide any amount.
    if any(second.lag_ms <= 0 for second in lagging):
        return None
    late = max(second.lag_ms for second in lagging) / 1000
    whole = replace(window, counted=frozenset(second.second for second in lagging))
    measured = objective.evaluate(whole)
    if measured.value is None or abs(measured.value - objective.below) <= late:
        return None
    note = (
        f"counts {len(lagging)} second{'s' if len(lagging) != 1 else ''} the load generator "
        f"lagged in ({late * 1000:.1f} ms late at worst): the "
        f"{format_latency(abs(measured.value - objective.below))} margin to "
        f"{format_duration(objective.below)} is larger"
    )
    return replace(measured, reason=f"{measured.reason}; {note}" if measured.reason else note)


def _lag_caused_no_failures(
    objective: ErrorRateObjective, window: Window, lagging: list[SecondStats]
) -> Measurement | None:
    """``objective`` judged on every second of ``window``, when no failure of the ``lagging``
    seconds is a timeout; None otherwise."""
    if any("timeout" in reason.lower() for second in lagging for reason in second.failed):
        return None
    whole = replace(window, counted=frozenset(second.second for second in lagging))
    measured = objective.evaluate(whole)
    note = (
        f"counts {len(lagging)} second{'s' if len(lagging) != 1 else ''} the load generator "
        f"lagged in: none of their failures is a timeout, the only kind lateness can cause"
    )
    return replace(measured, reason=f"{measured.reason}; {note}" if measured.reason else note)
