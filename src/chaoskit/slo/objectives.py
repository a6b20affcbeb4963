"""Steady-state objectives and their evaluation over a window of seconds.

An objective looks at one window (the merge of its seconds) and returns a ``Measurement``:
the value it saw, and pass / fail / inconclusive. Inconclusive means the window held too few
samples for the figure to mean anything; it is never reported as a pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from chaoskit.durations import format_duration, name_value, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.seconds import SecondStats

Status = Literal["pass", "fail", "inconclusive"]
STATUS_LABELS: dict[Status, str] = {
    "pass": "ok",
    "fail": "BREACHED",
    "inconclusive": "inconclusive",
}

# A tail percentile needs this many samples beyond it: p99 needs 1000 requests, p95 needs 200,
# p50 needs 20. Fewer, and one request decides the figure.
TAIL_SAMPLES = 10
# An error rate needs enough requests that the threshold is at least one request, and 100 at least.
MIN_REQUESTS_FOR_RATE = 100


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One objective evaluated on one window."""

    objective: str
    kind: Literal["latency", "error_rate"]
    limit: float  # the objective's threshold: seconds for latency, a fraction for rates
    window: str
    value: float | None
    shown: str  # the value as a reader sees it, e.g. "212ms" or "0.40%"
    status: Status
    samples: int
    reason: str = ""


class Objective(Protocol):
    def describe(self) -> str: ...

    def evaluate(self, window: SecondStats, *, window_name: str) -> Measurement: ...


@dataclass(frozen=True, kw_only=True)
class LatencyObjective:
    """The ``percentile`` of successful-request latency stays below ``below`` seconds."""

    percentile: float
    below: float
    kind: ClassVar[Literal["latency"]] = "latency"

    def describe(self) -> str:
        return f"p{self.percentile:g} < {format_duration(self.below)}"

    def min_samples(self) -> int:
        return math.ceil(TAIL_SAMPLES / (1 - self.percentile / 100))

    def evaluate(self, window: SecondStats, *, window_name: str) -> Measurement:
        needed = self.min_samples()
        if window.ok < needed:
            reason = f"{window.ok} successful requests; p{self.percentile:g} needs {needed}"
            return _inconclusive(self, window_name, samples=window.ok, reason=reason)
        seconds = window.latency_us.get_value_at_percentile(self.percentile) / 1e6
        return _judged(
            self,
            window_name,
            value=seconds,
            shown=_format_latency(seconds),
            samples=window.ok,
            breach=f"{_format_latency(seconds)} is not below {format_duration(self.below)}",
        )


@dataclass(frozen=True, kw_only=True)
class ErrorRateObjective:
    """Failed requests stay below ``below`` (a fraction) of completed requests."""

    below: float
    kind: ClassVar[Literal["error_rate"]] = "error_rate"

    def describe(self) -> str:
        return f"errors < {self.below * 100:g}%"

    def min_samples(self) -> int:
        return max(MIN_REQUESTS_FOR_RATE, math.ceil(1 / self.below))

    def evaluate(self, window: SecondStats, *, window_name: str) -> Measurement:
        completed = window.completed
        needed = self.min_samples()
        if completed < needed:
            reason = (
                f"{completed} completed requests; an error rate below "
                f"{_format_ratio(self.below)} needs {needed}"
            )
            return _inconclusive(self, window_name, samples=completed, reason=reason)
        rate = window.failures / completed
        return _judged(
            self,
            window_name,
            value=rate,
            shown=_format_ratio(rate),
            samples=completed,
            breach=f"{window.failures} of {completed} requests failed "
            f"({_format_ratio(rate)}): {_top_reasons(window)}",
        )


_Threshold = LatencyObjective | ErrorRateObjective


def _inconclusive(
    objective: _Threshold, window_name: str, *, samples: int, reason: str
) -> Measurement:
    return Measurement(
        objective=objective.describe(),
        kind=objective.kind,
        limit=objective.below,
        window=window_name,
        value=None,
        shown="n/a",
        status="inconclusive",
        samples=samples,
        reason=reason,
    )


def _judged(
    objective: _Threshold,
    window_name: str,
    *,
    value: float,
    shown: str,
    samples: int,
    breach: str,
) -> Measurement:
    """Pass when ``value`` is below the objective's threshold; ``breach`` says why not."""
    passed = value < objective.below
    return Measurement(
        objective=objective.describe(),
        kind=objective.kind,
        limit=objective.below,
        window=window_name,
        value=value,
        shown=shown,
        status="pass" if passed else "fail",
        samples=samples,
        reason="" if passed else breach,
    )


def latency(*, p: float, below: str | float) -> LatencyObjective:
    """``slo.latency(p=99, below="300ms")``: the p-th percentile stays below a duration."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 100:
        raise ConfigError(
            f"slo.latency(p={p!r}): p is a percentile between 0 and 100 exclusive; "
            f"write p=99 for the 99th percentile."
        )
    limit = parse_duration(below, field="slo.latency(below)", allow_zero=False)
    return LatencyObjective(percentile=float(p), below=limit)


def error_rate(*, below: str | float) -> ErrorRateObjective:
    """``slo.error_rate(below="1%")``: the share of failed requests stays below a ratio."""
    return ErrorRateObjective(below=parse_ratio(below, field="slo.error_rate(below)"))


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def parse_ratio(value: object, *, field: str) -> float:
    """``"1%"`` or ``0.01`` -> 0.01; a ratio must lie in (0, 1]."""
    ratio: float | None = None
    if isinstance(value, str):
        match = _PERCENT.match(value)
        ratio = float(match.group(1)) / 100 if match else None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ratio = float(value)
    if ratio is None or not math.isfinite(ratio) or not 0 < ratio <= 1:
        raise ConfigError(
            f"{name_value(field, value)} is not a ratio; write a percentage such as '1%' or a "
            f"fraction such as 0.01 (greater than 0, at most 1)."
        )
    return ratio


def _format_latency(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    return f"{seconds:.3g}s"


def _format_ratio(ratio: float) -> str:
    return f"{ratio * 100:.2f}%" if ratio < 0.1 else f"{ratio * 100:.1f}%"


def _top_reasons(window: SecondStats) -> str:
    ranked = sorted(window.failed.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{reason} x{count}" for reason, count in ranked)
