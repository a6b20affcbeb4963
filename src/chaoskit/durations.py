"""Durations as users write them (``"300ms"``, ``2.5``, ``timedelta``), normalised once."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal

from chaoskit.errors import ConfigError

# Decimal, so that "51ms" is exactly 0.051 seconds (51 * 1e-3 is 0.051000000000000004).
_UNITS = {
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "min": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|min|m|h|d|w)?\s*$")

Duration = str | int | float | timedelta

# The longest duration anything accepts: a year (an error budget's period is 30 days). Past
# it nothing is meant, and far past it a deadline overflows the clock (1e308 seconds).
MAX_DURATION = 366 * 86400
# The longest phase of an experiment (a baseline, a hold, a recovery, an RTO): a day.
MAX_PHASE = 86400


def parse_duration(
    value: object, *, field: str, allow_zero: bool = True, maximum: float = MAX_DURATION
) -> float:
    """Return ``value`` in seconds, or raise ConfigError naming ``field``.

    A bare number is seconds. Negative, infinite and NaN durations are refused, and zero
    too with ``allow_zero=False``, and anything longer than ``maximum``.
    """
    if isinstance(value, bool):  # bool is an int subclass; True seconds is never meant
        raise ConfigError(_message(field, value, allow_zero))
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int past float's range is past any maximum too
            raise ConfigError(_too_long(field, value, maximum)) from None
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ConfigError(_message(field, value, allow_zero))
        seconds = float(Decimal(match.group(1)) * _UNITS[match.group(2) or "s"])
    else:
        raise ConfigError(_message(field, value, allow_zero))
    if seconds == 0 and not allow_zero:
        raise ConfigError(
            f"{name_value(field, value)} must be above zero; write a positive number of seconds "
            f"or a string such as '300ms', '10s' or '2m'."
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(_message(field, value, allow_zero))
    if seconds > maximum:
        raise ConfigError(_too_long(field, value, maximum))
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form: ``0.2`` -> ``"200ms"``, ``90`` -> ``"90s"``, whole hours
    -> ``"6h"``, whole days -> ``"30d"``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds:g}s"


def name_value(field: str, value: object) -> str:
    """``("chaos(baseline)", "x")`` -> ``"chaos(baseline='x')"``; ``("hold", 1)`` -> ``hold=1``."""
    if field.endswith(")"):
        return f"{field[:-1]}={value!r})"
    return f"{field}={value!r}"


def _too_long(field: str, value: object, maximum: float) -> str:
    return (
        f"{name_value(field, value)} is longer than {format_duration(maximum)}, the longest it "
        f"may be; write a shorter duration, e.g. '10s', '5m' or '1h'."
    )


def _message(field: str, value: object, allow_zero: bool) -> str:
    number = "non-negative" if allow_zero else "positive"
    return (
        f"{name_value(field, value)} is not a duration; write a {number} number of seconds "
        f"or a string such as '300ms', '10s' or '2m'."
    )
