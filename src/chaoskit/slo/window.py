"""A window: the whole seconds of one phase (baseline, a fault, recovery), merged once.

Seconds in which the load generator itself fell behind its schedule are *invalid*: they say
more about the generator than about the target, so the window's figures leave them out. When
more than ``MAX_INVALID_SHARE`` of a window is invalid, a pass is not trusted (see
``objectives.judge``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from chaoskit.slo.seconds import SecondStats, merge_seconds

PhaseKind = Literal["baseline", "fault", "recovery"]
MAX_INVALID_SHARE = 0.25


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
        """The valid seconds, merged."""
        return merge_seconds(s for s in self.seconds if s.valid)

    @property
    def duration(self) -> int:
        """Valid seconds in the window."""
        return sum(1 for s in self.seconds if s.valid)

    @property
    def invalid(self) -> list[SecondStats]:
        return [s for s in self.seconds if not s.valid]

    @property
    def too_invalid(self) -> bool:
        return len(self.invalid) > MAX_INVALID_SHARE * len(self.seconds)
