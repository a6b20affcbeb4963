"""Objectives written as strings, in the spirit of k6 thresholds.

    p99<300ms            p95 <= 0.25s           errors<1%       availability>=99.9%
    rps>=200             rps >= 0.9*baseline    p99<300ms & errors<1%
    (p99<300ms | p90<100ms) & errors<=0.5%

``&`` binds tighter than ``|``; parentheses group. Every string parses into the same objects
``slo.latency``, ``slo.error_rate`` and ``slo.throughput`` build, and ``describe()`` of those
objects parses back to an equal objective.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.measurement import Objective
from chaoskit.slo.objectives import (
    AvailabilityObjective,
    ErrorRateObjective,
    LatencyObjective,
    ThroughputObjective,
)
from chaoskit.slo.units import parse_phases
from chaoskit.slo.window import PhaseKind

EXAMPLES = (
    "'p99<300ms', 'errors<1%', 'availability>=99.9%', 'rps>=0.9*baseline' "
    "or 'p99<300ms & errors<1%'"
)

_TOKEN = re.compile(
    r"\s*(?:(?P<metric>p\d+(?:\.\d+)?|errors|availability|rps)"
    r"|(?P<op><=|>=|<|>)"
    r"|(?P<amount>\d+(?:\.\d*)?(?:\s*\*\s*baseline|\s*%|\s*(?:ms|us|µs|s|m|h)\b)?|\.\d+)"
    r"|(?P<join>[&|])"
    r"|(?P<paren>[()]))"
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def parse_objective(text: str, *, phases: str | Iterable[str] = "all") -> Objective:
    """Parse ``text`` into an objective, or raise ConfigError showing where it went wrong."""
    if not isinstance(text, str):
        raise ConfigError(f"{text!r} is not an objective string; write for example {EXAMPLES}.")
    parser = _Parser(text, _tokens(text), parse_phases(phases))
    objective = parser.alternatives()
    parser.expect_end()
    return objective


def _tokens(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise _error(text, start, f"unexpected {text[start:].split()[0]!r}")
        kind = next(k for k, v in match.groupdict().items() if v is not None)
        start = match.start(kind)
        tokens.append(_Token(kind, match.group(kind), start))
        position = match.end()
    return tokens


# Deeper than anyone writes by hand, and far short of Python's recursion limit, which each
# level of parentheses costs the parser three frames of.
MAX_NESTING = 32


class _Parser:
    def __init__(self, text: str, tokens: list[_Token], phases: frozenset[PhaseKind]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.phases = phases
        self.depth = 0

    def alternatives(self) -> Objective:
        objective = self.conjunction()
        while self._peek("join", "|"):
            self.index += 1
            objective = objective | self.conjunction()
        return objective

    def conjunction(self) -> Objective:
        objective = self.term()
        while self._peek("join", "&"):
            self.index += 1
            objective = objective & self.term()
        return objective

    def term(self) -> Objective:
        if self._peek("paren", "("):
            if self.depth == MAX_NESTING:
                raise _error(
                    self.text,
                    self.tokens[self.index].at,
                    f"nested more than {MAX_NESTING} parentheses deep; write it flatter",
                )
            self.index += 1
            self.depth += 1
            inner = self.alternatives()
            self.depth -= 1
            if not self._peek("paren", ")"):
                raise _error(self.text, self._position(), "missing ')'")
            self.index += 1
            return inner
        metric = self._take("metric", "a metric: p<N>, errors, availability or rps")
        op = self._take("op", "a comparison: <, <=, > or >=")
        amount = self._take("amount", "a value such as 300ms, 1% or 0.9*baseline")
        return self._objective(metric, op, amount)

    def expect_end(self) -> None:
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            raise _error(
                self.text, token.at, f"unexpected {token.text!r}; join objectives with & or |"
            )

    def _objective(self, metric: _Token, op: _Token, amount: _Token) -> Objective:
        phases = self.phases
        value = amount.text.replace(" ", "")
        if metric.text.startswith("p"):
            self._direction(op, "<", "latency is bounded from above, e.g. p99<300ms")
            percentile = float(metric.text[1:])
            if not 0 < percentile < 100:
                raise _error(self.text, metric.at, "a percentile lies between 0 and 100")
            if "%" in value or "baseline" in value or re.fullmatch(r"[\d.]+", value):
                # A bare number is refused: k6 reads it as milliseconds, Python as seconds.
                raise _error(
                    self.text, amount.at, "a latency is a duration with a unit, e.g. 300ms"
                )
            try:
                seconds = parse_duration(value, field="latency", allow_zero=False)
            except ConfigError:
                raise _error(self.text, amount.at, "a latency is above zero, e.g. 300ms") from None
            return LatencyObjective(
                percentile=percentile, below=seconds, inclusive=op.text == "<=", phases=phases
            )
        if metric.text == "errors":
            self._direction(op, "<", "an error rate is bounded from above, e.g. errors<1%")
            if not value.endswith("%"):
                raise _error(self.text, amount.at, "an error rate is a percentage, e.g. 1%")
            ratio = float(Decimal(value[:-1]) / 100)  # exact: "0.7%" is 0.007, not 0.00699…
            if not 0 < ratio <= 1:
                raise _error(self.text, amount.at, "an error rate lies above 0% and at most 100%")
            return ErrorRateObjective(below=ratio, inclusive=op.text == "<=", phases=phases)
        if metric.text == "availability":
            self._direction(op, ">", "availability is bounded from below, e.g. availability>=99.9%")
            if not value.endswith("%"):
                raise _error(self.text, amount.at, "an availability is a percentage, e.g. 99.9%")
            share = float(Decimal(value[:-1]) / 100)
            if not 0 < share <= 1:
                raise _error(self.text, amount.at, "an availability lies above 0% and at most 100%")
            return AvailabilityObjective(at_least=share, inclusive=op.text == ">=", phases=phases)
        self._direction(op, ">", "throughput is bounded from below, e.g. rps>=200")
        if value.endswith("*baseline"):
            fraction = float(value[: -len("*baseline")])
            if not fraction > 0:
                raise _error(self.text, amount.at, "a share of the baseline is above 0")
            return ThroughputObjective(
                of_baseline=fraction, inclusive=op.text == ">=", phases=phases
            )
        if not re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", value) or not float(value) > 0:
            raise _error(self.text, amount.at, "throughput is requests per second, e.g. 200")
        return ThroughputObjective(at_least=float(value), inclusive=op.text == ">=", phases=phases)

    def _direction(self, op: _Token, wanted: str, hint: str) -> None:
        if not op.text.startswith(wanted):
            raise _error(self.text, op.at, hint)

    def _peek(self, kind: str, text: str) -> bool:
        return (
            self.index < len(self.tokens)
            and self.tokens[self.index].kind == kind
            and self.tokens[self.index].text == text
        )

    def _take(self, kind: str, wanted: str) -> _Token:
        if self.index >= len(self.tokens) or self.tokens[self.index].kind != kind:
            raise _error(self.text, self._position(), f"expected {wanted}")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _position(self) -> int:
        return self.tokens[self.index].at if self.index < len(self.tokens) else len(self.text)


def _error(text: str, at: int, why: str) -> ConfigError:
    return ConfigError(
        f"cannot read objective {text!r}: {why} (at character {at + 1})\n"
        f"    {text}\n    {' ' * at}^\n"
        f"write for example {EXAMPLES}."
    )
