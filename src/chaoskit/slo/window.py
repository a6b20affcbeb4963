"""A window: the whole seconds of one phase (baseline, a fault, recovery), merged once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from chaoskit.slo.seconds import SecondStats, merge_seconds

PhaseKind = Literal["baseline", "fault", "recovery"]


@dataclass(frozen=True, kw_only=True)
class Window:
    """``seconds`` are the whole seconds inside the phase, silent ones included (empty stats),
    so that a target that stops answering shows as seconds with nothing in them."""

    name: str
    kind: PhaseKind
    seconds: Sequence[SecondStats]
    baseline: Window | None = field(default=None, repr=False)
    # The phase's wall-clock bounds (epoch seconds), for SLIs read from elsewhere over the
    # same span (a Prometheus range query); the whole seconds above lie inside them.
    start: float = 0.0
    end: float = 0.0

    @cached_property
    def merged(self) -> SecondStats:
        return merge_seconds(self.seconds)

    @property
    def duration(self) -> int:
        """Seconds in the window."""
        return len(self.seconds)
