"""Error budgets: what an experiment cost an SLO such as "99.9 % of requests succeed over 30 days".

The period's budget is ``(1 - target)`` of the requests the period would see at the baseline's
rate. An experiment *consumes* the requests that did not succeed during its fault and recovery
phases — failed, or expected by the load's schedule and never answered — as a share of that
budget.

The burn rate of a stretch of time is its failure ratio over ``1 - target``: at 1x the budget
lasts exactly the period. The Google SRE Workbook alerts on two windows at once, a long one and
a short one (1/12 of it), for a 30-day SLO:

    page    14.4x over 1 h and 5 min      6x over 6 h and 30 min
    ticket     3x over 1 d and 2 h        1x over 3 d and 6 h

An experiment lasts minutes, not days, so the windows are scaled to it: the long window is
as long as the fault was held (the whole fault-and-recovery span when not given), the short
one 1/12 of that (at least one second). As an alerting rule would, both windows trail the
same instant, and that instant moves second by second over the fault and recovery span. A
tier "would have triggered" when, at some instant, both windows reached its burn rate — had
the fault lasted as long as the tier's own window at that rate, it would have paged (or
opened a ticket); a spike that is over by the end of the long window's time does not count
twice. The rates are those of a 30-day period; other periods scale them by period / 30 days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.durations import format_duration, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.measurement import Measurement, objective_key
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.units import format_ratio, parse_ratio

THIRTY_DAYS = 30 * 86400.0
SHORT_WINDOW_SHARE = 12  # the workbook's short window is 1/12 of its long one
# (severity, burn rate for a 30-day period), most urgent first
TIERS: tuple[tuple[str, float], ...] = (
    ("page (fast burn)", 14.4),
    ("page (slow burn)", 6.0),
    ("ticket (fast burn)", 3.0),
    ("ticket (slow burn)", 1.0),
)


@dataclass(frozen=True, kw_only=True)
class ErrorBudget:
    target: float  # the share of requests that must succeed, e.g. 0.999
    period: float  # seconds
    max_budget: float | None = None  # the share of the period's budget one experiment may use

    @property
    def key(self) -> str:
        """The budget's identity, as an objective's (``Objective.key``)."""
        return objective_key("budget", self)

    def describe(self) -> str:
        gate = f", at most {self.max_budget * 100:g}% per experiment" if self.max_budget else ""
        return f"budget {self.target * 100:g}% over {format_duration(self.period)}{gate}"


@dataclass(frozen=True, kw_only=True)
class BudgetUse:
    consumed: float  # share of the period's budget
    failed: int
    requests: int
    peak_burn: float  # the highest burn rate over a short window
    long_burn: float  # the highest burn rate over a long window
    tier: str | None  # the most urgent alert tier both windows reached, if any


def budget(
    *, target: str | float, period: str | float = "30d", max_budget: str | float | None = None
) -> ErrorBudget:
    """``slo.budget(target="99.9%", period="30d", max_budget="2%")``."""
    share = parse_ratio(target, field="slo.budget(target)")
    if share >= 1:
        raise ConfigError(
            f"slo.budget(target={target!r}) leaves no budget at all; a target is below 100%, "
            f"e.g. target='99.9%'."
        )
    return ErrorBudget(
        target=share,
        period=parse_duration(period, field="slo.budget(period)", allow_zero=False),
        max_budget=None
        if max_budget is None
        else parse_ratio(max_budget, field="slo.budget(max_budget)"),
    )


def assess(
    budget: ErrorBudget,
    span: Sequence[SecondStats],
    *,
    baseline_rps: float,
    long_window: int | None = None,
) -> BudgetUse:
    """What the seconds of ``span`` (fault and recovery, silent ones included) cost.

    ``long_window`` is the alerting rule's long window in seconds (default: the whole span).
    """
    allowed = 1 - budget.target
    # Bad events are the requests that did not succeed, answered with an error or never.
    failed = sum(s.demand - s.ok for s in span)
    period_budget = allowed * baseline_rps * budget.period
    consumed = failed / period_budget if period_budget > 0 else math.inf if failed else 0.0
    long = max(1, long_window if long_window is not None else len(span))
    short = max(1, long // SHORT_WINDOW_SHARE)
    # The (long, short) burn rates of the windows trailing each second of the span. Early on,
    # the long window reaches back before the fault, into seconds taken as the baseline's:
    # demand at its rate and (it passed its steady state) nothing failed.
    trailing = [
        (
            _burn(span[max(0, end - long) : end], allowed, before=(long - end) * baseline_rps),
            _burn(span[max(0, end - short) : end], allowed, before=(short - end) * baseline_rps),
        )
        for end in range(1, len(span) + 1)
    ] or [(0.0, 0.0)]
    # A hair of tolerance: 1 - 0.999 is 0.0010000000000000009 in floating point.
    scale = budget.period / THIRTY_DAYS * (1 - 1e-9)
    tier = next(
        (
            name
            for name, rate in TIERS
            if any(
                long_burn >= rate * scale and short_burn >= rate * scale
                for long_burn, short_burn in trailing
            )
        ),
        None,
    )
    return BudgetUse(
        consumed=consumed,
        failed=failed,
        requests=sum(s.demand for s in span),
        peak_burn=max(short_burn for _, short_burn in trailing),
        long_burn=max(long_burn for long_burn, _ in trailing),
        tier=tier,
    )


def budget_verdict(budget: ErrorBudget, use: BudgetUse, *, window: str) -> Measurement:
    passed = budget.max_budget is None or use.consumed <= budget.max_budget
    tier = use.tier or "no alert"
    shown = f"{format_ratio(use.consumed)} of the budget; peak burn {use.peak_burn:.3g}x; {tier}"
    return Measurement(
        objective=budget.describe(),
        objective_key=budget.key,
        kind="budget",
        limit=budget.max_budget,
        window=window,
        value=use.consumed,
        shown=shown,
        status="pass" if passed else "fail",
        samples=use.requests,
        reason=""
        if passed
        else f"{use.failed} unsuccessful requests used {format_ratio(use.consumed)} of the "
        f"{format_duration(budget.period)} budget, more than the "
        f"{format_ratio(budget.max_budget or 0)} allowed",
    )


def _burn(seconds: Sequence[SecondStats], allowed: float, *, before: float = 0.0) -> float:
    """The burn rate of ``seconds``, plus ``before`` requests that all succeeded (if > 0)."""
    demand = sum(s.demand for s in seconds) + max(0.0, before)
    bad = sum(s.demand - s.ok for s in seconds)
    if demand == 0:
        # A silent stretch burns the budget at the worst rate: nothing succeeded.
        return 1 / allowed if seconds else 0.0
    return (bad / demand) / allowed
