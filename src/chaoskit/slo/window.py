"""A window: the whole seconds of one phase (baseline, a fault, recovery), merged once.

Seconds in which the load generator itself fell behind its schedule are *invalid*: they may
say more about the generator than about the target. Whether they count is decided per
objective (``objectives.judge``), by what their lag could change:

- a latency objective counts them when the generator's lateness in them (``lag_ms``, the
  worst of them) is smaller than the margin between the percentile measured with them and
  the threshold: that late, the generator can have moved each latency, and so the
  percentile, by less than the margin, so the verdict is the same either way. ``counted``
  holds them for that objective, and its measurement says so, with the lateness;
- otherwise (a margin the lag could cross, a lateness not recorded, any other objective)
  they are left out, and when more than ``MAX_INVALID_SHARE`` of a window is left out a pass
  is not trusted: inconclusive.

A window too short for an objective's samples says what it had and how to fix it
(``slo.samples``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from chaoskit.slo.seconds import SecondStats, merge_seconds

PhaseKind = Literal["baseline", "fault", "recovery"]
MAX_INVALID_SHARE = 0.25
# Requests that waited for their own user, as a share of the requests expected, above
# which a window's latency says as much about the load's user count as about the target.
MAX_QUEUED_SHARE = 0.01


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
    # Invalid seconds (by ``second``) counted all the same, for one objective whose verdict
    # their generator's lag cannot move (``objectives.judge``).
    counted: frozenset[int] = frozenset()

    @cached_property
    def merged(self) -> SecondStats:
        """The counted seconds (valid, or invalid but ``counted``), merged."""
        return merge_seconds(s for s in self.seconds if s.valid or s.second in self.counted)

    @property
    def duration(self) -> int:
        """Counted seconds in the window."""
        return sum(1 for s in self.seconds if s.valid or s.second in self.counted)

    @property
    def invalid(self) -> list[SecondStats]:
        """The seconds left out: invalid, and not ``counted``."""
        return [s for s in self.seconds if not s.valid and s.second not in self.counted]

    @property
    def lagging(self) -> list[SecondStats]:
        """Every second in which the load generator lagged, counted or not."""
        return [s for s in self.seconds if not s.valid]

    @property
    def too_invalid(self) -> bool:
        return len(self.invalid) > MAX_INVALID_SHARE * len(self.seconds)

    @property
    def load(self) -> str:
        """The load this window saw, for the terminal: requests a second expected and how
        many users ran (the open model's pool as it grew); "" without any request."""
        demand = sum(s.demand for s in self.seconds)
        if not demand:
            return ""
        rate = demand / len(self.seconds)
        dropped = sum(s.dropped for s in self.seconds)
        users = [s.users for s in self.seconds if s.users]
        shown = f"{rate:.0f} requests/s expected"
        if users:
            low, high = min(users), max(users)
            shown += f", {high} users" if low == high else f", {low}-{high} users"
        if dropped:
            shown += f", {dropped} runs dropped"
        return shown

    @property
    def dropping(self) -> str:
        """What runs dropped for want of a free user did to this window; "" when none were."""
        dropped = sum(s.dropped for s in self.seconds)
        if not dropped:
            return ""
        demand = sum(s.demand for s in self.seconds)
        peak = max(s.users for s in self.seconds)
        return (
            f"{dropped} task runs ({100 * dropped / demand:.1f}% of those "
            f"expected) found every user busy and the pool at its cap ({peak} users) and were "
            f"dropped: they count as missing requests; raise max_users in load.Locust(...) to "
            f"send them"
        )

    @property
    def queueing(self) -> str:
        """What the load's users queueing behind their own earlier runs did to this window,
        when it was more than ``MAX_QUEUED_SHARE`` of it; "" otherwise."""
        merged = self.merged
        demand = merged.demand
        if not demand or merged.queued <= MAX_QUEUED_SHARE * demand:
            return ""
        # Little's law: to be free for every run, a load needs users >= its rate x the time
        # each request holds a user. Not from this window's latency: the queue inflates it.
        advice = "more users would send every request on time"
        if self.duration:
            advice += f" (at least {demand / self.duration:.0f}/s x the longest response time)"
        return (
            f"{100 * merged.queued / demand:.0f}% of requests waited for their user to finish "
            f"an earlier task run (up to {merged.queued_max_ms:.0f} ms) and were sent late, one "
            f"after another: their latency includes that queue, which separate real users "
            f"would not have formed; {advice}"
        )
