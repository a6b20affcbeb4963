"""ISO 8601 durations as FIS templates write them (``PT10M``, ``PT1M30S``, ``PT0.5S``,
``P1DT2H``), read and written: one formatter for the templates chaoskit generates and for
what a rehearsal shows. FIS itself accepts minutes to hours; a rehearsal reads any of them,
and the scale it runs them at is a separate choice (``time_scale``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, DecimalException

from chaoskit.errors import ConfigError

# Years and months have no fixed length, and no FIS action takes them: they are refused.
_PATTERN = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def parse_iso_duration(text: object, *, field: str) -> float:
    """``text`` in seconds, or ConfigError naming ``field``, the value and how to write it."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    # "P" and "PT" alone match the pattern with every part empty: no duration at all.
    if match is None or not any(match.groupdict().values()) or str(text).endswith("T"):
        raise ConfigError(
            f"{field}={text!r} is not an ISO 8601 duration; FIS writes durations such as "
            f"'PT10M' (10 minutes), 'PT1M30S' or 'PT2H'."
        )
    try:
        total = float(
            sum(
                (
                    Decimal(value) * _SECONDS[name]
                    for name, value in match.groupdict().items()
                    if value
                ),
                Decimal(0),
            )
        )
    except DecimalException:  # digits past decimal arithmetic's range: no duration either
        total = math.inf
    if not math.isfinite(total):
        raise ConfigError(f"{field}={text!r} is longer than any duration FIS can run for.")
    return total


def format_iso_duration(seconds: float) -> str:
    """The ISO 8601 form of ``seconds`` (at least 0): ``PT5M``, ``PT1H30M``, ``PT0.25S``."""
    if seconds < 0:
        raise ConfigError(f"a duration cannot be negative ({seconds!r} s).")
    whole = int(seconds)
    fraction = Decimal(repr(seconds)) - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if secs or fraction or text == "PT":
        amount = f"{Decimal(secs) + fraction:f}"
        if "." in amount:
            amount = amount.rstrip("0").rstrip(".")
        text += f"{amount}S"
    return text
