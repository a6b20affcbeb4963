"""Durations as users write them (``"300ms"``, ``2.5``, ``timedelta``), normalised once."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from chaoskit.errors import ConfigError

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|min|m|h)?\s*$")

Duration = str | int | float | timedelta


def parse_duration(value: object, *, field: str, allow_zero: bool = True) -> float:
    """Return ``value`` in seconds, or raise ConfigError naming ``field``.

    A bare number is seconds. Negative, infinite and NaN durations are refused.
    """
    if isinstance(value, bool):  # bool is an int subclass; True seconds is never meant
        raise ConfigError(_message(field, value))
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ConfigError(_message(field, value))
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ConfigError(_message(field, value))
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(_message(field, value))
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form: ``0.2`` -> ``"200ms"``, ``90`` -> ``"90s"``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def name_value(field: str, value: object) -> str:
    """``("chaos(baseline)", "x")`` -> ``"chaos(baseline='x')"``; ``("hold", 1)`` -> ``hold=1``."""
    if field.endswith(")"):
        return f"{field[:-1]}={value!r})"
    return f"{field}={value!r}"


def _message(field: str, value: object) -> str:
    return (
        f"{name_value(field, value)} is not a duration; write a non-negative number of seconds "
        f"or a string such as '300ms', '10s' or '2m'."
    )
