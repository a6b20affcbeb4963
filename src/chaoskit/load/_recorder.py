"""What a load worker records: requests into per-second ``SecondStats``, user schedules,
generator lag, and a watermark.

Pure Python with no locust import, so it is unit tested in the pytest process; the worker
process feeds it from locust's request event, its wrapped HTTP clients and a lag probe, and
ships what ``drain`` returns. Times are epoch seconds passed in by the caller.

**Intended time.** A user with a schedule (``UserSchedule``) runs its tasks at fixed intended
times, ``interval`` apart, that never slip when the user falls behind (wrk2-style): a user
held up by a slow response runs its late tasks back to back until it is on time again. The
first request of a task run is intended at the run's intended time; a later request of the
same run at that time plus how long after the run's first request it was sent (the run is
shifted as a whole by how late it started). A request of a user without a schedule is
intended when it was actually sent. Every request belongs to the second of its intended
time, and its latency runs from the intended time to its complete response.

**Counters.** A request sent counts as ``expected`` and ``sent`` in its intended second. A
scheduled task run that is never sent counts as one ``expected`` request: when the user is
more than ``grace`` behind (the slots are given up, so a dead target cannot build an endless
backlog) and when the load stops before it was sent.

**Generator lag.** A second is marked invalid, with the reason, when the generator itself
fell behind, not the target: a task run sent more than ``LAG_LIMIT`` after the user was
ready for it (its intended time had come and its previous run had ended), the lag probe
(a greenlet sleeping ``PROBE_INTERVAL``) waking more than ``LAG_LIMIT`` late, or the worker
process using at least ``CPU_LIMIT`` of a core over the second. A target that stalls keeps
users waiting on responses, which delays their next runs but not their readiness, and
leaves the process idle: it shows as latency and missing requests, never as an invalid
second.

**Watermark.** A whole epoch second W such that every request intended before W has been
recorded and handed out by ``drain``: seconds below W are complete. It is bounded by the
oldest request still in flight (``begin``/``end`` bracket requests without a schedule), by
each scheduled user's oldest intended time not yet done, and by the lag probe, so it lags
"now" only as long as requests do, and never more than ``grace``.

A request the brackets did not see (a user's own client firing the request event) can
complete behind the watermark. It is still recorded and shipped as a late addition to its
second (the receiver merges by addition), and from then on the recorder stops trusting the
brackets: the watermark becomes "now minus ``grace``", the longest a request can take.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from chaoskit.slo.seconds import SecondStats

HTTP_ERROR_STATUS: Final = 400
# A generator this late has added queueing of its own to every latency it measured. Sleep
# overshoot and send delay of a healthy worker stay below about 10 ms (bench/load.py).
LAG_LIMIT: Final = 0.1
# A gevent worker has one core; at 90% of it, requests queue inside the worker.
CPU_LIMIT: Final = 0.9
PROBE_INTERVAL: Final = 0.05
# The probe wakes only after every other ready greenlet had its turn, so its mean lateness
# is how long each step of a user (a send, a response) waits for the worker. Steps at this
# fraction of a user's interval make the worker, not the target, the user's bottleneck:
# measured 0.05-0.08 at 1,500 rps and 0.35-0.5 past saturation near 7,000 rps (2 cores).
BUSY_FRACTION: Final = 0.2
# CPU use and lateness are only judged over enough of a second to mean something.
_USAGE_MIN_WALL: Final = 0.5


@dataclass(frozen=True, kw_only=True)
class Batch:
    """Seconds ready to ship (sorted, each with something recorded) and the watermark."""

    watermark: float
    seconds: tuple[SecondStats, ...]


class SecondRecorder:
    def __init__(self, *, grace: float) -> None:
        self.grace = grace
        self._open: dict[int, SecondStats] = {}
        self._in_flight: dict[int, float] = {}
        self._tokens = itertools.count()
        self._shipped_until = -math.inf
        self._brackets_trusted = True
        self._schedules: list[UserSchedule] = []
        self._probe_due: float | None = None
        # second -> [cpu seconds, wall seconds, probe lateness, probe wake-ups]
        self._usage: dict[int, list[float]] = {}

    @property
    def brackets_trusted(self) -> bool:
        """False once a request completed behind the watermark."""
        return self._brackets_trusted

    # -- users and requests ---------------------------------------------------------------

    def schedule(self, interval: float, *, alive: Callable[[], bool]) -> UserSchedule:
        """A schedule for one user: a task run every ``interval`` seconds. ``alive`` tells
        when the user is gone for good (its schedule then stops holding the watermark)."""
        schedule = UserSchedule(self, interval, alive=alive)
        self._schedules.append(schedule)
        return schedule

    def begin(self, now: float) -> int:
        """A request without a schedule is about to be sent; pass the token to ``end``."""
        token = next(self._tokens)
        self._in_flight[token] = now
        return token

    def end(self, token: int) -> None:
        self._in_flight.pop(token, None)

    def sent(self, intended: float, *, lag: float = 0.0) -> None:
        """A request intended at ``intended`` is being sent, ``lag`` after the user was
        ready for it."""
        stats = self._second(intended)
        stats.expected += 1
        stats.sent += 1
        stats.lag_ms = max(stats.lag_ms, lag * 1000)
        if lag > LAG_LIMIT:
            stats.mark_invalid(f"load generator sent {lag * 1000:.0f} ms late", lag_ms=lag * 1000)

    def missed(self, intended: float) -> None:
        """A scheduled task run intended at ``intended`` will never be sent."""
        self._second(intended).expected += 1

    def record_ok(
        self, *, start_time: float, latency_ms: float, intended: float | None = None
    ) -> None:
        """A success: sent at ``start_time``, answered ``latency_ms`` later. Without
        ``intended``, the request was not counted as sent (no bracket saw it): it is now."""
        if intended is None:
            intended = start_time
            self.sent(intended)
        latency_s = start_time + latency_ms / 1000.0 - intended
        self._second(intended).record_ok(latency_s * 1_000_000)

    def record_failure(
        self, *, start_time: float, reason: str, intended: float | None = None
    ) -> None:
        if intended is None:
            intended = start_time
            self.sent(intended)
        self._second(intended).record_failure(reason)

    # -- generator lag --------------------------------------------------------------------

    def probe_sleeping(self, due: float) -> None:
        """The lag probe sleeps until ``due``; until it wakes, the seconds from ``due`` on
        are not known to be free of lag."""
        self._probe_due = due

    def probe_woke(self, *, due: float, now: float, cpu_seconds: float, wall: float) -> None:
        """The probe meant to wake at ``due`` woke at ``now``; the process used
        ``cpu_seconds`` of CPU over the last ``wall`` seconds."""
        self._probe_due = None
        late = now - due
        current = self._open.get(math.floor(now))
        if current is not None:  # a second with load in it: keep its worst lag
            current.lag_ms = max(current.lag_ms, late * 1000)
        if late > LAG_LIMIT:
            for second in range(math.floor(due), math.floor(now) + 1):
                self._slot(second).mark_invalid(
                    f"load generator event loop stalled {late * 1000:.0f} ms",
                    lag_ms=late * 1000,
                )
        usage = self._usage.setdefault(math.floor(now), [0.0, 0.0, 0.0, 0])
        usage[0] += cpu_seconds
        usage[1] += wall
        usage[2] += max(0.0, late)
        usage[3] += 1
        for second in [s for s in self._usage if s < math.floor(now)]:
            cpu, covered, late_total, wakes = self._usage.pop(second)
            if covered < _USAGE_MIN_WALL:
                continue
            late_mean = late_total / wakes
            interval = min((s.interval for s in self._schedules), default=math.inf)
            if late_mean > BUSY_FRACTION * interval:
                self._slot(second).mark_invalid(
                    f"load generator busy (its event loop ran {1000 * late_mean:.1f} ms late "
                    f"on average, {100 * late_mean / interval:.0f}% of a user's "
                    f"{1000 * interval:.0f} ms between tasks)",
                    lag_ms=1000 * late_mean,
                )
            if cpu / covered >= CPU_LIMIT:
                self._slot(second).mark_invalid(
                    f"load generator CPU-bound ({100 * cpu / covered:.0f}% of a core)"
                )

    # -- shipping -------------------------------------------------------------------------

    def watermark(self, now: float) -> float:
        bound = now
        if self._brackets_trusted:
            bound = min(bound, *self._in_flight.values()) if self._in_flight else bound
            for schedule in list(self._schedules):
                oldest = schedule.oldest(now)
                if oldest is None:
                    self._schedules.remove(schedule)
                else:
                    bound = min(bound, oldest)
            if self._probe_due is not None:
                bound = min(bound, self._probe_due)
            # Past the grace, a request has timed out and a schedule has given its slots up.
            bound = max(bound, now - self.grace)
        else:
            bound = now - self.grace
        # Never move backwards: the receiver has been told everything before it is complete.
        return max(float(math.floor(bound)), self._shipped_until)

    def drain(self, now: float) -> Batch:
        """Hand out every second below the watermark (and late additions to them)."""
        watermark = self.watermark(now)
        ready = sorted(second for second in self._open if second < watermark)
        self._shipped_until = watermark
        return Batch(watermark=watermark, seconds=tuple(self._open.pop(s) for s in ready))

    def restore(self, seconds: Iterable[SecondStats]) -> None:
        """Take back seconds that could not be shipped; the next ``drain`` hands them out."""
        for stats in seconds:
            self._slot(stats.second).merge(stats)

    def stop_schedules(self, cutoff: float) -> None:
        """The load stopped at ``cutoff``: runs intended before it and not sent are missed."""
        for schedule in self._schedules:
            schedule.close(cutoff)

    def _second(self, intended: float) -> SecondStats:
        if intended < self._shipped_until:
            self._brackets_trusted = False
        return self._slot(math.floor(intended))

    def _slot(self, second: int) -> SecondStats:
        stats = self._open.get(second)
        if stats is None:
            stats = self._open[second] = SecondStats(second=second)
        return stats


class UserSchedule:
    """One user's fixed schedule: a task run every ``interval`` seconds from its first run,
    never slipping. Driven by the user's ``wait_time`` (``wait``) and its clients
    (``request``)."""

    def __init__(
        self, recorder: SecondRecorder, interval: float, *, alive: Callable[[], bool]
    ) -> None:
        self.interval = interval
        self._recorder = recorder
        self._alive = alive
        self._next: float | None = None  # intended time of the first run not yet claimed
        self._claimed: float | None = None  # claimed by wait(), not started
        self._ready = 0.0  # when the user was ready for the claimed run
        self._run: float | None = None  # intended time of the run in progress
        self._run_sent = 0.0  # when the run in progress sent its first request
        self._closed = False

    def wait(self, now: float) -> float:
        """The previous run is over: claim the next slot; return how long to sleep."""
        self._run = None
        if self._closed:
            return 0.0
        if self._next is None:
            self._next = now
        # A user this far behind gives its oldest slots up (they count as missed): a target
        # that never answers would otherwise build an endless backlog.
        while self._next < now - self._recorder.grace:
            self._recorder.missed(self._next)
            self._next += self.interval
        self._claimed = self._next
        self._next += self.interval
        self._ready = now
        return max(0.0, self._claimed - now)

    def request(self, now: float) -> float:
        """A request is being sent now; returns its intended time and counts it."""
        if self._closed and self._run is None:
            self._recorder.sent(now)
            return now
        if self._run is not None:
            intended = self._run + (now - self._run_sent)
            self._recorder.sent(intended)
            return intended
        if self._claimed is None:  # the first run starts at once, without a wait
            self.wait(now)
        assert self._claimed is not None
        self._run, self._claimed, self._run_sent = self._claimed, None, now
        self._recorder.sent(self._run, lag=now - max(self._run, self._ready))
        return self._run

    def close(self, cutoff: float) -> None:
        """No run is expected from ``cutoff`` on; slots before it not yet sent are missed."""
        if self._closed:
            return
        self._closed = True
        pending = [self._claimed] if self._claimed is not None else []
        slot = self._next
        while slot is not None and slot < cutoff:
            pending.append(slot)
            slot += self.interval
        for intended in pending:
            if intended < cutoff:
                self._recorder.missed(intended)
        self._claimed = None
        self._next = None

    def oldest(self, now: float) -> float | None:
        """The oldest intended time whose requests may still be recorded; None once the
        schedule is closed and its user gone."""
        if self._closed and not self._alive():
            return None
        if self._run is not None:
            return self._run
        if self._closed:
            return now
        pending = self._claimed if self._claimed is not None else self._next
        return now if pending is None else min(pending, now)


def failure_reason(exception: object, status_code: object) -> str:
    """A short, bounded label for a failed request: ``HTTP 503`` or an exception class name.

    Never the message: messages carry urls, ids and addresses, which would make every
    failure its own category.
    """
    if isinstance(status_code, int) and status_code >= HTTP_ERROR_STATUS:
        return f"HTTP {status_code}"
    # geventhttpclient wraps the real cause (a timeout, a refused connection) in
    # RetriesExceeded(original=...); the cause is what the report should show.
    original = getattr(exception, "original", None)
    if isinstance(original, BaseException):
        exception = original
    if isinstance(exception, BaseException):
        return type(exception).__name__
    return "Failure"
