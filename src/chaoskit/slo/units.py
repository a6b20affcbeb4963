"""The units objectives are written and shown in: phases, ratios, latencies.

Users write ``phases="during"``, ``below="1%"`` or ``0.01``; reports show ``212ms`` and
``0.40%``. Each is read once, at definition, into plain numbers and phase sets, and every
objective (built-in, statistical, Prometheus-backed) shares these readers and writers so the
same value reads the same everywhere. Durations have their own module, ``chaoskit.durations``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal

from chaoskit.durations import name_value
from chaoskit.errors import ConfigError
from chaoskit.slo.window import PhaseKind

ALL_PHASES: frozenset[PhaseKind] = frozenset({"baseline", "fault", "recovery"})
PHASE_WORDS: dict[str, frozenset[PhaseKind]] = {
    "all": ALL_PHASES,
    "before": frozenset({"baseline"}),
    "baseline": frozenset({"baseline"}),
    "during": frozenset({"fault"}),
    "fault": frozenset({"fault"}),
    "after": frozenset({"recovery"}),
    "recovery": frozenset({"recovery"}),
}

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def parse_phases(phases: str | Iterable[str]) -> frozenset[PhaseKind]:
    """``"all"``, ``"during"``, ``["during", "after"]`` -> the phase kinds to judge in."""
    if isinstance(phases, str):
        words: list[object] = [phases]
    elif isinstance(phases, Iterable) and not isinstance(phases, bytes | bytearray):
        words = list(phases)
    else:
        raise ConfigError(
            f"phases={phases!r} is not a phase or a list of phases; use 'all', 'before', "
            f"'during' and/or 'after' (or baseline, fault, recovery)."
        )
    chosen: set[PhaseKind] = set()
    for word in words:
        if not isinstance(word, str) or word not in PHASE_WORDS:
            raise ConfigError(
                f"phases={phases!r}: {word!r} is not a phase; use 'all', 'before', 'during' "
                f"and/or 'after' (or baseline, fault, recovery)."
            )
        chosen |= PHASE_WORDS[word]
    if not chosen:
        raise ConfigError(
            f"phases={phases!r} names no phase; use 'all' or e.g. ['during', 'after']."
        )
    return frozenset(chosen)


def parse_ratio(value: object, *, field: str, allow_above_one: bool = False) -> float:
    """``"1%"`` or ``0.01`` -> 0.01; a ratio must lie in (0, 1] (or above 1 where allowed)."""
    ratio: float | None = None
    if isinstance(value, str):
        match = _PERCENT.match(value)
        ratio = float(Decimal(match.group(1)) / 100) if match else None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ratio = float(value)
    ceiling_ok = ratio is not None and (allow_above_one or ratio <= 1)
    if ratio is None or not math.isfinite(ratio) or not ratio > 0 or not ceiling_ok:
        most = "" if allow_above_one else ", at most 1"
        raise ConfigError(
            f"{name_value(field, value)} is not a ratio; write a percentage such as '1%' or a "
            f"fraction such as 0.01 (greater than 0{most})."
        )
    return ratio


def format_latency(seconds: float) -> str:
    """A measured latency, to three significant digits: ``"212ms"``, ``"1.5s"``."""
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    return f"{seconds:.3g}s"


def format_ratio(ratio: float) -> str:
    """A measured share: two decimals below 10 % (``"0.40%"``), one above (``"12.5%"``)."""
    return f"{ratio * 100:.2f}%" if ratio < 0.1 else f"{ratio * 100:.1f}%"


def format_percent(ratio: float) -> str:
    """A threshold as written: ``0.001`` -> ``"0.1%"``, shortest form."""
    return f"{ratio * 100:g}%"
