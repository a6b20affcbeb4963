"""Generator lag: when the load generator itself, not the target, fell behind.

Runs in a load worker process, held by its ``SecondRecorder`` (pure Python with no locust
import, unit tested in the pytest process). The worker's lag probe and its users' schedules
report here; the recorder asks which lag to charge each second it ships.

A second is marked invalid, with the reason, when the generator itself
fell behind, not the target. Lag is charged to the seconds whose requests it could have
delayed: a second is checked against every lag period between its start and the completion
of its last request, so the catch-up burst after a stall marks the stalled seconds whose
requests it sent, not the seconds it happened in. The lag periods:

- a task run started more than ``LAG_LIMIT`` after the user's wait should have ended (the
  worker's event loop kept the user waiting; charged to the seconds from its slot to when
  it started, where its requests are intended);
- the lag probe (a greenlet sleeping ``PROBE_INTERVAL``) waking more than ``LAG_LIMIT``
  late: the event loop stalled;
- over a probe window of about a second, the probe late by more than ``BUSY_MEAN_LIMIT`` on
  average (every step of every user waits that long for the worker), or the process using
  at least ``CPU_LIMIT`` of a core;

and, charged to their own second only, open-model runs the worker dropped while it was
behind (``Arrivals.drop_due``): the runs are missing, but the target never had them.

A target that stalls keeps users waiting on responses, which delays their next runs but
not the event loop, and leaves the process idle: it shows as latency and missing requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chaoskit.slo.seconds import SecondStats

# A generator this late has added queueing of its own to every latency it measured; a
# healthy worker's single sleep overshoots stay well below it (bench/load.py prints them).
LAG_LIMIT: Final = 0.1
# Mean probe lateness over a window. The probe wakes only after every other ready greenlet
# had its turn, so this is how long each step of a user (a send, a response) waits for the
# worker. bench/load.py prints it: about 1 ms on a healthy worker, several ms when the
# worker shares its core with another busy process (its overhead pairs).
BUSY_MEAN_LIMIT: Final = 0.003
# A gevent worker has one core; at 90% of it, requests queue inside the worker.
CPU_LIMIT: Final = 0.9
PROBE_INTERVAL: Final = 0.05
# How fast ``recent_late`` follows each probe wake's lateness.
RECENT_WEIGHT: Final = 0.3
# The probe judges lateness and CPU over windows this long.
PROBE_WINDOW: Final = 1.0
# Shorter windows (at the end of a run) are too short to judge.
_USAGE_MIN_WALL: Final = 0.5


@dataclass(frozen=True, kw_only=True)
class _Lag:
    """A period in which the generator lagged (``reason``), or a probe window that did not
    (empty ``reason``; it still gives its seconds their ``lag_ms``)."""

    start: float
    end: float
    lag_ms: float
    reason: str = ""
    late_start: bool = False  # a task run started late (these merge when they overlap)


@dataclass(kw_only=True)
class _Window:
    start: float
    cpu: float = 0.0
    wall: float = 0.0
    late: float = 0.0
    wakes: int = 0


class GeneratorLag:
    """The lag periods reported so far, and where the lag probe is.

    ``probe_due``: when the probe, asleep, should wake (None while it is awake);
    ``probe_woke_at``: when it last woke. Until it wakes, the seconds from ``probe_due`` on
    are not known to be free of lag, nor are the seconds whose requests completed after
    ``probe_woke_at``: the recorder's watermark waits for both.
    """

    def __init__(self) -> None:
        self.probe_due: float | None = None
        self.probe_woke_at: float | None = None
        self._window: _Window | None = None
        self._lags: list[_Lag] = []
        # Whether the worker is keeping time now: the probe's recent lateness (a moving
        # average over its last few wakes) and its last window's judgement. The open model's
        # pool grows only while it is (a busy worker's users wait on its CPU, not the target).
        self.recent_late = 0.0
        self.busy = False
        # Open-model runs dropped while the worker was behind, per second of their intended
        # time: how many, and how late the dispatcher was when it dropped them.
        self._dropped: dict[int, tuple[int, float]] = {}

    @property
    def keeping_time(self) -> bool:
        """The worker runs its users on time: its probe wakes on time lately, and its last
        window was neither busy nor CPU-bound."""
        return not self.busy and self.recent_late <= BUSY_MEAN_LIMIT

    def run_started_late(self, slot: float, *, late: float) -> None:
        """The task run of ``slot`` started ``late`` seconds after its user's wait ended (or
        should have): its requests are intended from ``slot + late`` on."""
        if late <= LAG_LIMIT:
            return
        start, end, worst = slot, slot + late, late
        last = self._lags[-1] if self._lags else None
        if last is not None and last.late_start and start <= last.end and last.start <= end:
            # A congested worker starts many runs late at once (an open-model pool adding
            # users in a stall): one period with the worst lateness, not a reason per run.
            self._lags.pop()
            start, end, worst = (
                min(start, last.start),
                max(end, last.end),
                max(worst, last.lag_ms / 1000),
            )
        self._lags.append(
            _Lag(
                start=start,
                end=end,
                lag_ms=worst * 1000,
                reason=f"load generator started a task {worst * 1000:.0f} ms late",
                late_start=True,
            )
        )

    def runs_dropped(self, second: int, count: int, *, late: float) -> None:
        """``count`` open-model runs intended in ``second`` were dropped ``late`` seconds
        after they were due: every user was busy, and the worker, behind, added none."""
        earlier, worst = self._dropped.get(second, (0, 0.0))
        self._dropped[second] = (earlier + count, max(worst, late))

    def probe_sleeping(self, due: float) -> None:
        """The lag probe sleeps until ``due``; until it wakes, the seconds from ``due`` on
        are not known to be free of lag."""
        self.probe_due = due

    def probe_woke(self, *, due: float, now: float, cpu_seconds: float, wall: float) -> None:
        """The probe meant to wake at ``due`` woke at ``now``; the process used
        ``cpu_seconds`` of CPU over the last ``wall`` seconds."""
        self.probe_due = None
        self.probe_woke_at = now
        late = max(0.0, now - due)
        self.recent_late += RECENT_WEIGHT * (late - self.recent_late)
        if late > LAG_LIMIT:
            self._lags.append(
                _Lag(
                    start=due,
                    end=now,
                    lag_ms=late * 1000,
                    reason=f"load generator event loop stalled {late * 1000:.0f} ms",
                )
            )
        window = self._window
        if window is None:
            window = self._window = _Window(start=now - wall)
        window.cpu += cpu_seconds
        window.wall += wall
        window.late += late
        window.wakes += 1
        if now - window.start >= PROBE_WINDOW:
            self._judge(window, end=now)
            self._window = _Window(start=now)

    def _judge(self, window: _Window, *, end: float) -> None:
        if window.wall < _USAGE_MIN_WALL or not window.wakes:
            return
        late_mean = window.late / window.wakes
        reasons = []
        if late_mean > BUSY_MEAN_LIMIT:
            reasons.append(
                f"load generator busy (its event loop ran {1000 * late_mean:.1f} ms late on "
                f"average, limit {1000 * BUSY_MEAN_LIMIT:.0f} ms)"
            )
        usage = window.cpu / window.wall
        if usage >= CPU_LIMIT:
            reasons.append(f"load generator CPU-bound ({100 * usage:.0f}% of a core)")
        self.busy = bool(reasons)
        self._lags.append(
            _Lag(
                start=window.start,
                end=end,
                lag_ms=1000 * late_mean,
                reason="; ".join(reasons),
            )
        )

    def charge(self, second: int, stats: SecondStats, *, until: float) -> None:
        """Charge ``stats`` (of ``second``) every lag period between the second's start and
        ``until``, when its last request completed."""
        for lag in self._lags:
            if lag.start < until and lag.end >= second:
                stats.lag_ms = max(stats.lag_ms, lag.lag_ms)
                if lag.reason:
                    stats.mark_invalid(lag.reason, lag_ms=lag.lag_ms)
        if second in self._dropped:
            # Only this second: a run never sent delayed no other second's requests.
            count, late = self._dropped[second]
            stats.lag_ms = max(stats.lag_ms, late * 1000)
            stats.mark_invalid(
                f"load generator fell behind: {count} task runs found no free user",
                lag_ms=late * 1000,
            )

    def forget_before(self, oldest: float) -> None:
        """Drop the lag periods that ended before ``oldest``: no second they touch is open."""
        self._lags = [lag for lag in self._lags if lag.end >= oldest]
        for second in [second for second in self._dropped if second + 1 <= oldest]:
            del self._dropped[second]
