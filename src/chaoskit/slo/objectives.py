"""The built-in objectives and their constructors.

Latency, error rate, throughput, availability and the user's own check (``slo.custom``).
What an objective is (``Objective``, ``Measurement``) is in ``chaoskit.slo.measurement``; the
units they are written in, in ``chaoskit.slo.units``; ``&`` and ``|``, in
``chaoskit.slo.composite``. Each objective applies to some phases: by default to all of them
(before, during and after the fault).
How one is judged on a window whose load generator lagged is in ``chaoskit.slo.judging``.

One concern, about 470 lines: the five built-in objectives, each a small frozen value with
its ``evaluate``, and beside each the constructor users call, so that an objective's
arguments, their checks and its judgement are read in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from chaoskit.durations import format_duration, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.composite import Composable
from chaoskit.slo.measurement import (
    Kind,
    Measurement,
)
from chaoskit.slo.samples import SampleNeed, too_few
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.tail import allowed_slow, samples_for, slow_successes
from chaoskit.slo.units import (
    ALL_PHASES,
    format_latency,
    format_percent,
    format_ratio,
    parse_phases,
    parse_ratio,
)
from chaoskit.slo.window import PhaseKind, Window

# An error rate needs enough requests that the threshold is at least one request, and 100 at least.
MIN_REQUESTS_FOR_RATE = 100


@dataclass(frozen=True, kw_only=True)
class LatencyObjective(Composable):
    """The ``percentile`` of successful-request latency stays below ``below`` seconds."""

    percentile: float
    below: float
    inclusive: bool = False  # "<=" instead of "<"
    phases: frozenset[PhaseKind] = ALL_PHASES
    kind: ClassVar[Kind] = "latency"

    def describe(self) -> str:
        op = "<=" if self.inclusive else "<"
        return f"p{self.percentile:g} {op} {format_duration(self.below)}"

    def min_samples(self) -> int:
        return samples_for(self.percentile)

    def sample_need(self) -> SampleNeed:
        needed = self.min_samples()
        return SampleNeed(
            needed=needed,
            noun="successful requests",
            requirement=f"p{self.percentile:g} needs {needed}",
            count=_successes,
        )

    def evaluate(self, window: Window) -> Measurement:
        stats = window.merged
        if stats.ok < self.min_samples():
            slow = (
                slow_successes(stats.latency_us, self.below, inclusive=self.inclusive)
                if stats.ok
                else 0
            )
            if slow > allowed_slow(self.percentile, self.min_samples()):
                # Too few to measure the percentile, enough to prove it over the threshold.
                op = "over" if self.inclusive else "or more"
                return _judged(
                    self,
                    self.below,
                    window,
                    passed=False,
                    value=None,
                    shown=f"{slow} of {stats.ok} took {format_duration(self.below)} {op}",
                    samples=stats.ok,
                    breach=f"{slow} of {stats.ok} successful requests took "
                    f"{format_duration(self.below)} {op}, more than p{self.percentile:g} allows "
                    f"even of {self.min_samples()}",
                )
            reason = too_few(window, self.sample_need())
            return _inconclusive(self, self.below, window, samples=stats.ok, reason=reason)
        seconds = stats.latency_us.get_value_at_percentile(self.percentile) / 1e6
        passed = seconds <= self.below if self.inclusive else seconds < self.below
        return _judged(
            self,
            self.below,
            window,
            passed=passed,
            value=seconds,
            shown=format_latency(seconds),
            samples=stats.ok,
            breach=f"{format_latency(seconds)} is not below {format_duration(self.below)}",
        )


@dataclass(frozen=True, kw_only=True)
class ErrorRateObjective(Composable):
    """Failed requests stay below ``below`` (a fraction) of completed requests."""

    below: float
    inclusive: bool = False
    phases: frozenset[PhaseKind] = ALL_PHASES
    kind: ClassVar[Kind] = "error_rate"

    def describe(self) -> str:
        return f"errors {'<=' if self.inclusive else '<'} {format_percent(self.below)}"

    def min_samples(self) -> int:
        return _requests_for_share(self.below)

    def sample_need(self) -> SampleNeed:
        needed = self.min_samples()
        return SampleNeed(
            needed=needed,
            noun="completed requests",
            requirement=f"an error rate below {format_percent(self.below)} needs {needed}",
            count=_completed,
        )

    def evaluate(self, window: Window) -> Measurement:
        stats = window.merged
        completed = stats.completed
        if completed < self.min_samples():
            reason = too_few(window, self.sample_need())
            return _inconclusive(self, self.below, window, samples=completed, reason=reason)
        rate = stats.failures / completed
        passed = rate <= self.below if self.inclusive else rate < self.below
        return _judged(
            self,
            self.below,
            window,
            passed=passed,
            value=rate,
            shown=format_ratio(rate),
            samples=completed,
            breach=f"{stats.failures} of {completed} requests failed "
            f"({format_ratio(rate)}): {_top_reasons(stats)}",
        )


@dataclass(frozen=True, kw_only=True)
class _ThroughputFields(Composable):
    """The fields of ``ThroughputObjective``, as its constructor settles them."""

    at_least: float | None
    of_baseline: float | None
    inclusive: bool
    phases: frozenset[PhaseKind]


class ThroughputObjective(_ThroughputFields):
    """Successful requests per second stay at or above a floor.

    The floor is absolute (``at_least`` req/s) or relative to the baseline window
    (``of_baseline``: 0.9 means 90 % of the baseline's rate). A relative floor does not apply
    to the baseline itself.

    The constructor checks the arguments and settles ``phases`` before the frozen fields are
    assigned, once, by the dataclass' own ``__init__`` (the pattern of ``chaoskit.faults``).
    """

    kind: ClassVar[Kind] = "throughput"

    def __init__(
        self,
        *,
        at_least: float | None = None,
        of_baseline: float | None = None,
        inclusive: bool = True,  # ">=" by default; ">" when False
        phases: frozenset[PhaseKind] = ALL_PHASES,
    ) -> None:
        if (at_least is None) == (of_baseline is None):
            raise ConfigError(
                "slo.throughput() takes exactly one of at_least= (requests per second) or "
                "of_baseline= (a fraction of the baseline's rate, e.g. 0.9)."
            )
        super().__init__(
            at_least=at_least,
            of_baseline=of_baseline,
            inclusive=inclusive,
            phases=phases if of_baseline is None else phases - {"baseline"},
        )

    def describe(self) -> str:
        op = ">=" if self.inclusive else ">"
        floor = (
            f"{self.of_baseline:g}*baseline"
            if self.of_baseline is not None
            else f"{self.at_least:g}"
        )
        return f"rps {op} {floor}"

    def evaluate(self, window: Window) -> Measurement:
        if window.duration == 0:
            return _inconclusive(self, self.at_least, window, samples=0, reason="no whole seconds")
        rps = window.merged.ok / window.duration
        floor = self.at_least
        if self.of_baseline is not None:
            base = window.baseline
            if base is None or base.duration == 0 or base.merged.ok == 0:
                return _inconclusive(
                    self,
                    None,
                    window,
                    samples=window.merged.ok,
                    reason="no baseline throughput to compare with",
                )
            floor = self.of_baseline * base.merged.ok / base.duration
        assert floor is not None
        passed = rps >= floor if self.inclusive else rps > floor
        return _judged(
            self,
            floor,
            window,
            passed=passed,
            value=rps,
            shown=f"{rps:.4g}/s",
            samples=window.merged.ok,
            breach=f"{rps:.4g} requests/s is under the floor of {floor:.4g}/s",
        )


CustomCheck = Callable[[Window], "bool | tuple[bool, str]"]


@dataclass(frozen=True, kw_only=True)
class CustomObjective(Composable):
    """The user's own check over a window: ``check(window)`` returns whether it held, or
    ``(held, what_to_show)``."""

    name: str
    check: CustomCheck = field(compare=False)
    phases: frozenset[PhaseKind] = ALL_PHASES
    kind: ClassVar[Kind] = "custom"

    def describe(self) -> str:
        return self.name

    def evaluate(self, window: Window) -> Measurement:
        answer = self.check(window)
        held, shown = answer if isinstance(answer, tuple) else (answer, "held" if answer else "no")
        return _judged(
            self,
            None,
            window,
            passed=bool(held),
            value=None,
            shown=str(shown),
            samples=window.merged.completed,
            breach=f"{self.name} did not hold ({shown})",
        )


@dataclass(frozen=True, kw_only=True)
class AvailabilityObjective(Composable):
    """Successful requests stay at or above ``at_least`` of the requests the load meant to send.

    Counting *expected* requests (the load's schedule), a target that stops answering shows as
    missing requests, not as a quiet second.
    """

    at_least: float
    inclusive: bool = True
    phases: frozenset[PhaseKind] = ALL_PHASES
    kind: ClassVar[Kind] = "availability"

    def describe(self) -> str:
        return f"availability {'>=' if self.inclusive else '>'} {format_percent(self.at_least)}"

    def min_samples(self) -> int:
        return _requests_for_share(1 - Decimal(str(self.at_least)))

    def sample_need(self) -> SampleNeed:
        needed = self.min_samples()
        return SampleNeed(
            needed=needed,
            noun="requests",
            requirement=f"an availability of {format_percent(self.at_least)} needs {needed}",
            count=_demand,
        )

    def evaluate(self, window: Window) -> Measurement:
        stats = window.merged
        demand = stats.demand
        if demand < self.min_samples():
            reason = too_few(window, self.sample_need())
            return _inconclusive(self, self.at_least, window, samples=demand, reason=reason)
        share = stats.ok / demand
        passed = share >= self.at_least if self.inclusive else share > self.at_least
        return _judged(
            self,
            self.at_least,
            window,
            passed=passed,
            value=share,
            shown=f"{share * 100:.3g}%",
            samples=demand,
            breach=f"{demand - stats.ok} of {demand} requests did not succeed "
            f"({stats.missing} never answered, {stats.failures} failed)",
        )


# -- constructors users write -------------------------------------------------------------


def availability(
    *, at_least: str | float, phases: str | Iterable[str] = "all"
) -> AvailabilityObjective:
    """``slo.availability(at_least="99.9%")``: successes over the requests meant to be sent."""
    return AvailabilityObjective(
        at_least=parse_ratio(at_least, field="slo.availability(at_least)"),
        phases=parse_phases(phases),
    )


def latency(
    *, p: float, below: str | float, phases: str | Iterable[str] = "all"
) -> LatencyObjective:
    """``slo.latency(p=99, below="300ms")``: the p-th percentile stays below a duration."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 100:
        raise ConfigError(
            f"slo.latency(p={p!r}): p is a percentile between 0 and 100 exclusive; "
            f"write p=99 for the 99th percentile."
        )
    limit = parse_duration(below, field="slo.latency(below)", allow_zero=False)
    return LatencyObjective(percentile=float(p), below=limit, phases=parse_phases(phases))


def error_rate(*, below: str | float, phases: str | Iterable[str] = "all") -> ErrorRateObjective:
    """``slo.error_rate(below="1%")``: the share of failed requests stays below a ratio."""
    return ErrorRateObjective(
        below=parse_ratio(below, field="slo.error_rate(below)"), phases=parse_phases(phases)
    )


def throughput(
    *,
    at_least: float | None = None,
    of_baseline: str | float | None = None,
    phases: str | Iterable[str] = "all",
) -> ThroughputObjective:
    """``slo.throughput(of_baseline="90%")`` or ``slo.throughput(at_least=200)`` (req/s)."""
    if at_least is not None and (
        isinstance(at_least, bool)
        or not isinstance(at_least, int | float)
        or not at_least > 0
        or not math.isfinite(at_least)
    ):
        raise ConfigError(
            f"slo.throughput(at_least={at_least!r}) is not a positive number of requests per "
            f"second; write at_least=200."
        )
    relative = (
        None
        if of_baseline is None
        else parse_ratio(of_baseline, field="slo.throughput(of_baseline)", allow_above_one=True)
    )
    return ThroughputObjective(
        at_least=None if at_least is None else float(at_least),
        of_baseline=relative,
        phases=parse_phases(phases),
    )


def custom(
    name: str, check: CustomCheck, *, phases: str | Iterable[str] = "all"
) -> CustomObjective:
    """``slo.custom("cart keeps its items", check)``: ``check(window)`` returns whether it held."""
    if not isinstance(name, str) or not name.strip() or not callable(check):
        raise ConfigError(
            f"slo.custom({name!r}, {check!r}): give a name and a callable taking the window, "
            f"e.g. slo.custom('no 503s', lambda w: 'HTTP 503' not in w.merged.failed)."
        )
    return CustomObjective(name=name, check=check, phases=parse_phases(phases))


# -- helpers ------------------------------------------------------------------------------


def _requests_for_share(share: float | Decimal) -> int:
    """Enough requests that ``share`` of them is at least one request, and 100 at least.

    Decimal: 1 / (1 - 0.9999) is 10000.000000000902 in floating point, not 10000.
    """
    exact = Decimal(str(share)) if isinstance(share, float) else share
    return max(MIN_REQUESTS_FOR_RATE, math.ceil(1 / exact) if exact > 0 else 0)


_BuiltIn = (
    LatencyObjective
    | ErrorRateObjective
    | ThroughputObjective
    | CustomObjective
    | AvailabilityObjective
)


def _inconclusive(
    objective: _BuiltIn, limit: float | None, window: Window, *, samples: int, reason: str
) -> Measurement:
    return Measurement(
        objective=objective.describe(),
        objective_key=objective.key,
        kind=objective.kind,
        limit=limit,
        window=window.name,
        value=None,
        shown="n/a",
        status="inconclusive",
        samples=samples,
        reason=reason,
    )


def _judged(
    objective: _BuiltIn,
    limit: float | None,
    window: Window,
    *,
    passed: bool,
    value: float | None,
    shown: str,
    samples: int,
    breach: str,
) -> Measurement:
    return Measurement(
        objective=objective.describe(),
        objective_key=objective.key,
        kind=objective.kind,
        limit=limit,
        window=window.name,
        value=value,
        shown=shown,
        status="pass" if passed else "fail",
        samples=samples,
        reason="" if passed else breach,
    )


def _successes(second: SecondStats) -> int:
    return second.ok


def _completed(second: SecondStats) -> int:
    return second.completed


def _demand(second: SecondStats) -> int:
    return second.demand


def _top_reasons(window: SecondStats) -> str:
    ranked = sorted(window.failed.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{reason} x{count}" for reason, count in ranked)
