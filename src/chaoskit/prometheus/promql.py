"""What chaoskit reads from a PromQL expression without asking a server: its longest range.

A point of ``rate(x[5s])`` looks back 5 s; an objective judging a phase puts no point of
its range query less than that after the phase's start, so none reaches into the phase
before.
"""

from __future__ import annotations

import re

_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*(?::[^\]]*)?\]")
_RANGE_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_RANGE_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def longest_range(promql: str) -> float:
    """The longest range selector or subquery range in ``promql`` (``[5s]``, ``[1m30s:1s]``),
    in seconds; 0 when it has none."""
    return max(
        (
            sum(int(n) * _RANGE_UNIT_SECONDS[unit] for n, unit in _RANGE_PART.findall(text))
            for text in _RANGE.findall(promql)
        ),
        default=0.0,
    )
