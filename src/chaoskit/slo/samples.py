"""The samples a window can give an objective, and what to do when they are too few.

An objective such as a p99 needs a number of samples (``LatencyObjective.min_samples``:
1,000 successful requests) from the whole seconds of its window. A phase ``D`` seconds long
starts and ends inside a second, and its edge seconds mix two phases, so it holds ``D - 1``
whole seconds in practice (``whole_seconds``), fewer counted when the load generator lagged
in some (``Window.invalid``). From the rate the load reached, this module says what a window
that came out short needed (a longer window, or more load, with numbers) and, before
anything is injected, which planned windows cannot reach their objectives' needs at the
baseline's rate (``plan_shortfalls``).

The fixes it proposes leave ``HEADROOM_PCT``: a window with exactly what it needs is decided by
luck. A request belongs to the second of its intended send time, which moves by the
generator's lateness when a free user woke late, so on a busy machine a second of a
100 requests/s load holds 99 or 101; two such seconds then have 199 samples for a need of
200, and the objective is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import PhaseKind, Window

# Seconds left out are described by their reasons; this many, and "N more".
_REASONS_SHOWN = 2
RAISE_LOAD = "more users, or load.Locust(rate=...)"
# How many more samples than it needs (in per cent) a proposed fix gives a window.
HEADROOM_PCT = 10


@dataclass(frozen=True, kw_only=True)
class SampleNeed:
    """What an objective counts in a second (``count``, called ``noun``) and how many of
    them it needs in a window (``needed``); ``requirement`` says so in words."""

    needed: int
    noun: str  # "successful requests"
    requirement: str  # "p99 needs 1000"
    count: Callable[[SecondStats], int] = field(compare=False)
    # A comparison with the baseline needs as many in the baseline too.
    against_baseline: bool = False


def whole_seconds(length: float) -> int:
    """The whole seconds a phase ``length`` seconds long holds when it starts inside a second,
    as phases started by the clock do."""
    return max(0, math.floor(length) - 1)


def too_few(window: Window, need: SampleNeed) -> str:
    """Why ``window`` cannot decide, for an objective that needs ``need``: the seconds it had,
    those left out and why, the samples that left, and the fix at the rate it saw."""
    have = sum(need.count(second) for second in window.seconds if _counted(window, second))
    total, counted, left_out = len(window.seconds), window.duration, window.invalid
    if left_out:
        where = f"{counted} of {total} whole seconds ({len(left_out)} left out: {why(left_out)})"
    else:
        where = f"{total} whole second{'s' if total != 1 else ''}"
    text = f"{have} {need.noun} in {where}; {need.requirement}"
    rate = have / counted if counted and have else _rate(window.baseline, need)
    if not rate:
        return text
    planned = _with_headroom(need.needed)
    longer = math.ceil(planned / rate) + len(left_out) + 1
    fix = f"{_lengthen(window.kind, window.name, longer)} at this load ({_per_second(rate, need)})"
    usable = total - len(left_out)
    more = f" to {math.ceil(planned / usable)} {need.noun}/s" if usable else ""
    return f"{text}: {fix}, or raise the load{more} ({RAISE_LOAD})"


def plan_shortfalls(
    needs: Iterable[tuple[str, SampleNeed]],
    baseline: Window,
    *,
    kind: PhaseKind,
    name: str,
    length: float,
) -> list[str]:
    """For each ``(objective, need)`` judged in a phase ``name`` of ``length`` seconds, why
    that phase cannot reach the need at the baseline's rate; empty when every one can."""
    problems = []
    whole = whole_seconds(length)
    for objective, need in needs:
        if need.against_baseline and need.count(baseline.merged) < need.needed:
            problems.append(f"{objective}: the baseline: {too_few(baseline, need)}")
            continue
        rate = _rate(baseline, need)
        if rate is None or rate * whole >= need.needed:
            continue
        planned = _with_headroom(need.needed)
        longer = math.ceil(planned / rate) + 1
        more = f" to {math.ceil(planned / whole)} {need.noun}/s" if whole else ""
        problems.append(
            f"{objective} in {name}: {length:g}s hold{'s' if whole != 1 else ''} {whole} whole "
            f"second{'s' if whole != 1 else ''}, about {rate * whole:.0f} {need.noun} at the "
            f"baseline's {_per_second(rate, need)}; {need.requirement}: "
            f"{_lengthen(kind, name, longer)}, or raise the load{more} ({RAISE_LOAD})"
        )
    return problems


def why(seconds: Sequence[SecondStats]) -> str:
    """The distinct reasons ``seconds`` were left out, the first few of them."""
    reasons: list[str] = []
    for second in seconds:
        for reason in second.invalid.split("; "):
            if reason and reason not in reasons:
                reasons.append(reason)
    shown = "; ".join(reasons[:_REASONS_SHOWN])
    hidden = len(reasons) - _REASONS_SHOWN
    return shown + (f"; {hidden} more" if hidden > 0 else "")


def _counted(window: Window, second: SecondStats) -> bool:
    return second.valid or second.second in window.counted


def _rate(window: Window | None, need: SampleNeed) -> float | None:
    """Samples a second over the later half of ``window``'s counted seconds: the load's rate
    once its users are all started (a ramp-up at the start does not count against it)."""
    if window is None:
        return None
    seconds = [second for second in window.seconds if _counted(window, second)]
    later = seconds[len(seconds) // 2 :]
    if not later:
        return None
    return sum(need.count(second) for second in later) / len(later) or None


def _with_headroom(needed: int) -> int:
    # In integers: 1000 * 1.1 is 1100.0000000000002 in floats, and its ceiling one more.
    return (needed * (100 + HEADROOM_PCT) + 99) // 100


def _per_second(rate: float, need: SampleNeed) -> str:
    return f"{rate:.3g} {need.noun}/s" if rate < 100 else f"{rate:.0f} {need.noun}/s"


def _lengthen(kind: PhaseKind, name: str, seconds: int) -> str:
    if kind == "fault":
        return f"hold {name} at least {seconds}s (inject(..., hold=...))"
    return f"make {name} at least {seconds}s"


@runtime_checkable
class Sampled(Protocol):
    """An objective that needs a number of samples in its window to be judged at all."""

    @property
    def phases(self) -> frozenset[PhaseKind]: ...

    def describe(self) -> str: ...

    def sample_need(self) -> SampleNeed: ...


def needs_in(objectives: Iterable[object], kind: PhaseKind) -> list[tuple[str, SampleNeed]]:
    """The sample needs of the ``objectives`` judged in phases of ``kind``."""
    return [
        (objective.describe(), objective.sample_need())
        for objective in objectives
        if isinstance(objective, Sampled) and kind in objective.phases
    ]
