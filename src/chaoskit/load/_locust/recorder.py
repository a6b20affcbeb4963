"""What a load worker records: requests into per-second ``SecondStats``, user schedules,
generator lag, and a watermark.

One concern, about 600 lines: the per-request recording path. The recorder and the user
schedule call each other for every request and task run (a run's intended time decides the
second a request is counted in, and the watermark waits on the schedules), and this is the
worker's hot path, tuned as one piece.

Pure Python with no locust import, so it is unit tested in the pytest process; the worker
process feeds it from locust's request event, its wrapped HTTP clients and task runner, and a
lag probe, and ships what ``drain`` returns. Times are passed in by the caller: epoch seconds
read from a monotonic clock (so a clock step does not burst or drop slots).

**Intended time.** A user with a schedule (``UserSchedule``) runs its tasks at fixed intended
times, ``interval`` apart, that never slip when the user falls behind (wrk2-style): a user
held up by a slow response runs its late tasks back to back until it is on time again. A
run is intended at its slot plus however late the worker woke the user for it (its sleep
overshooting, other users running first): that is the generator's, judged by the lag rules
below, while the time a user spent on earlier runs is the target's. A task run is shifted as
a whole by how late it started: a request sent ``d`` seconds after the run started is
intended at the run's intended time plus ``d``, so work the task does before its first
request (think time, preparing data) is not latency. A request of a user without
a schedule, or sent outside a task (``on_start``), is intended when it was actually sent.
Every request belongs to the second of its intended time, and its latency runs from the
intended time to its complete response.

**Counters.** A request sent counts as ``expected`` and ``sent`` in its intended second,
once (the client wrapper counts it; the request event only adds its outcome). A scheduled
task run that is never sent counts as one ``expected`` request: when the user is more than
``grace`` behind (the slots are given up, so a dead target cannot build an endless backlog)
and when the load stops before it was sent because its user was busy with earlier runs. A
run its user was free for, and a request sent after the stop and killed unanswered by it,
are the generator's and not counted (``UserSchedule.close``, ``SecondRecorder._withdraw``).

**Generator lag** (``lag`` has the rules): a second is marked invalid, with the reason,
when the generator itself fell behind, not the target. The recorder holds a
``GeneratorLag`` (its ``lag`` attribute) that the lag probe and the schedules report to, and
charges each second it hands out with the lag periods that could have delayed its requests.

**Endpoints.** A stamped request's locust ``name`` (the request event leaves it on the stamp)
is tallied per second beside the second's own tally, and both reach the second at
``drain``; ``endpoint_name`` bounds the names (``slo.endpoints``).

**Watermark.** A whole epoch second W such that every request intended before W has been
recorded and handed out by ``drain``: seconds below W are complete. It is bounded by the
oldest request still in flight (``send`` opens a bracket for a request without a
schedule, ``flush`` closes it when the request is back), by
each scheduled user's oldest intended time not yet done, by the lag probe, and by the last
probe wake-up for seconds whose requests completed after it (their lag is not known yet),
so it lags "now" only as long as requests do, and never more than ``grace``.

A request the brackets did not see (a user's own client firing the request event) can
complete behind the watermark. It is still recorded and shipped as a late addition to its
second (the receiver merges by addition), and from then on the recorder stops trusting the
brackets: the watermark becomes "now minus ``grace``", the longest a request can take.

Why one module of ~640 lines: ``SecondRecorder`` and ``UserSchedule`` are one measurement
model seen from two ends. A schedule counts its requests and missed slots into the
recorder's open seconds, and the recorder's watermark asks every schedule for its oldest
intended time; both run once per request, so neither reaches the other through more than
an attribute. The lag rules, which only report periods and charge seconds, live in ``lag``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Protocol

from chaoskit.load._locust.lag import GeneratorLag
from chaoskit.slo.endpoints import MAX_ENDPOINTS, OTHER
from chaoskit.slo.seconds import SecondStats

HTTP_ERROR_STATUS: Final = 400


@dataclass(slots=True)
class Stamp:
    """One request sent by a client chaoskit wraps: its intended and actual send times, and
    what came back. It travels in the request's own locust ``context``, so nested requests
    and ``catch_response`` blocks each keep theirs. The request event fills in the outcome
    (``answered``, ``failure``) while the call runs; the wrapper sets ``done`` when the call
    returns to the user's code (later than locust's ``response_time``, which stops before
    the event's listeners run), and hands the stamp to ``SecondRecorder.finished``."""

    intended: float
    sent: float
    token: int | None = None  # the recorder's bracket, for a request without a schedule
    answered: bool = False
    failure: str | None = None  # the failure's reason; None for a success
    done: float | None = None
    settled: bool = False  # seen by ``flush`` (recorded, if it was answered)
    # Killed unanswered by a stop (``SecondRecorder._withdraw``).
    withdrawn: bool = False
    name: object = None  # the request's locust ``name``, from its request event


@dataclass(frozen=True, kw_only=True)
class Batch:
    """Seconds ready to ship (sorted, each with something recorded) and the watermark; and
    ``partial``: copies of seconds that are over but not complete (requests of them still in
    flight), with what completed so far, for a guardrail that cannot wait. A later batch's
    partial seconds replace an earlier one's; the complete second replaces them all."""

    watermark: float
    seconds: tuple[SecondStats, ...]
    partial: tuple[SecondStats, ...] = ()


class Pending(Protocol):
    """What holds scheduled runs not done yet: a user's ``UserSchedule``, or the shared
    arrivals of an open-model user class (``arrivals``). The watermark waits for its oldest
    intended time, a partial second counts its overdue runs, and a stop closes it."""

    def oldest(self, now: float) -> float | None: ...

    def overdue(self, now: float) -> Iterator[tuple[int, int]]: ...

    def close(self, cutoff: float) -> None: ...


class SecondRecorder:
    def __init__(self, *, grace: float) -> None:
        self.grace = grace
        self._open: dict[int, SecondStats] = {}
        # Per open second: when its last request completed, and its task runs.
        self._done: dict[int, float] = {}
        self._in_flight: dict[int, float] = {}
        self._tokens = itertools.count()
        self._shipped_until = -math.inf
        self._brackets_trusted = True
        self._schedules: list[Pending] = []
        self._stopped_at = math.inf  # when the load was told to stop (``stop_schedules``)
        self.lag = GeneratorLag()
        # Requests whose calls returned, recorded by ``flush``: the request's caller may be
        # timing the call, and an append is all the recording it should see.
        self.finished: list[Stamp] = []
        self._latencies: dict[int, dict[int, int]] = {}  # per second: microseconds -> count
        # The same per endpoint (a request's locust ``name``): per second, per name.
        self._named: dict[int, dict[object, dict[int, int]]] = {}
        self._names: set[str] = set()  # the endpoints admitted, at most MAX_ENDPOINTS

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

    def track(self, pending: Pending) -> None:
        """Hold the watermark for ``pending``'s runs too (an open-model class's arrivals)."""
        self._schedules.append(pending)

    def send(self, now: float) -> Stamp:
        """A request without a schedule is being sent ``now``: count it, and hold its
        second open until ``flush`` sees its stamp back."""
        # One call per request (``sent``'s work inlined): this is the worker's hot path.
        if now < self._shipped_until:
            self._brackets_trusted = False
        second = math.floor(now)
        stats = self._open.get(second) or self._slot(second)
        stats.expected += 1
        stats.sent += 1
        token = next(self._tokens)
        self._in_flight[token] = now
        return Stamp(now, now, token)

    def sent(self, intended: float) -> None:
        """A request intended at ``intended`` is being sent."""
        if intended < self._shipped_until:
            self._brackets_trusted = False
        second = math.floor(intended)
        stats = self._open.get(second) or self._slot(second)
        stats.expected += 1
        stats.sent += 1

    def _withdraw(self, intended: float) -> None:
        """A request sent after the load was told to stop, and killed unanswered by that
        stop: locust kills a waiting user at once, and the kill can land after its sleep
        ended, as it sends. The target never had it: counted, it would be missing, an
        outage that was not. (One sent before the stop and killed later stays missing: the
        target held it.) Taken back from ``expected`` and ``sent``, unless its second has
        shipped already, as no count may go below zero."""
        if intended < self._shipped_until:
            return
        stats = self._slot(math.floor(intended))
        stats.expected -= 1
        stats.sent -= 1

    def queued(self, intended: float, *, waited: float) -> None:
        """The request intended at ``intended`` was sent late: its task run waited
        ``waited`` seconds for its user to finish earlier runs."""
        stats = self._second(intended)
        stats.queued += 1
        stats.queued_max_ms = max(stats.queued_max_ms, waited * 1000)

    def missed(self, intended: float, count: int = 1) -> None:
        """``count`` scheduled task runs intended at ``intended`` (or in that second) will
        never be sent."""
        self._second(intended).expected += count

    def dropped(self, second: int, count: int = 1) -> None:
        """``count`` task runs intended in ``second`` found no free user and no room to add
        one: expected, never sent."""
        stats = self._second(second)
        stats.expected += count
        stats.dropped += count

    def note_users(self, now: float, count: int) -> None:
        """``count`` users are running ``now``: the second keeps the most it saw."""
        second = math.floor(now)
        if count <= 0 or second < self._shipped_until:
            return
        stats = self._slot(second)
        if count > stats.users:
            stats.users = count

    def answer(self, stamp: Stamp, failure: str | None, *, response_time: float) -> None:
        """Locust's request event for ``stamp``: a success, or a failure for the reason
        given, that took ``response_time`` seconds by locust's count. Fired while the call
        runs, it only fills the stamp in. Fired after the call returned (a
        ``catch_response`` block ending), the response came when locust says, not when the
        user's checks on it were done; the stamp goes back to ``finished`` if it was
        already flushed."""
        stamp.answered, stamp.failure = True, failure
        if stamp.done is not None:
            stamp.done = stamp.sent + response_time
            if stamp.settled:
                stamp.settled = False
                self.finished.append(stamp)

    def flush(self) -> None:
        """Count the requests in ``finished`` (``drain`` does this first). A success's
        latency is tallied by value and goes into its histogram at ``drain``: a second holds
        far fewer distinct microsecond values than requests, and a histogram update costs
        ten times a tally."""
        # Runs once per request in the worker: locals and no helper calls on purpose.
        latencies, done_by, in_flight = self._latencies, self._done, self._in_flight
        named_tallies = self._named
        for stamp in self.finished:
            stamp.settled = True
            if stamp.token is not None:
                in_flight.pop(stamp.token, None)
            done = stamp.done
            # Not answered: the call raised before locust's request event, or its
            # catch_response block is still open (the event will hand the stamp back).
            if not stamp.answered or done is None:
                if stamp.withdrawn and not stamp.answered and stamp.sent >= self._stopped_at:
                    self._withdraw(stamp.intended)
                continue
            intended = stamp.intended
            second = math.floor(intended)
            if stamp.failure is None:
                if intended < self._shipped_until:
                    self._brackets_trusted = False
                tally = latencies.get(second)
                if tally is None:
                    tally = latencies[second] = {}
                latency_us = round((done - intended) * 1_000_000)
                tally[latency_us] = tally.get(latency_us, 0) + 1
                named = stamp.name
                if named is not None:
                    by_name = named_tallies.get(second)
                    if by_name is None:
                        by_name = named_tallies[second] = {}
                    tally = by_name.get(named)
                    if tally is None:
                        tally = by_name.setdefault(self.endpoint_name(named), {})
                    tally[latency_us] = tally.get(latency_us, 0) + 1
            else:
                self._second(intended).record_failure(stamp.failure)
                if stamp.name is not None:
                    self._failed_endpoint(intended, stamp.name, stamp.failure)
            latest = done_by.get(second)
            if latest is None or done > latest:
                done_by[second] = done
        # Cleared in place: callers hold ``finished.append``. Nothing above yields.
        self.finished.clear()

    def _record_tallies(self) -> None:
        for second, tally in self._latencies.items():
            self._slot(second).record_tally(tally)
        self._latencies.clear()
        for second, by_name in self._named.items():
            stats = self._slot(second)
            for name, tally in by_name.items():
                stats.endpoint(str(name)).record_tally(tally)
        self._named.clear()

    def endpoint_name(self, name: object) -> str:
        """The endpoint a request's locust ``name`` counts under: itself among the first
        ``MAX_ENDPOINTS`` names seen, ``OTHER`` after them (memory stays bounded whatever
        the locustfile names its requests by)."""
        text = name if isinstance(name, str) else str(name)
        if text in self._names:
            return text
        if len(self._names) < MAX_ENDPOINTS:
            self._names.add(text)
            return text
        return OTHER

    def _failed_endpoint(self, intended: float, name: object, reason: str) -> None:
        self._second(intended).endpoint(self.endpoint_name(name)).record_failure(reason)

    def record_ok(self, *, start_time: float, latency_ms: float, name: object = None) -> None:
        """A success no client wrapper stamped (a user's own client firing locust's request
        event): sent at ``start_time``, answered ``latency_ms`` later, and counted as sent
        now; ``name`` is its locust ``name``."""
        self.sent(start_time)
        self._second(start_time).record_ok(latency_ms * 1000)
        if name is not None:
            endpoint = self._second(start_time).endpoint(self.endpoint_name(name))
            endpoint.record_tally({round(latency_ms * 1000): 1})
        self._completed(start_time, start_time + latency_ms / 1000.0)

    def record_failure(
        self, *, start_time: float, reason: str, latency_ms: float = 0.0, name: object = None
    ) -> None:
        """A failure no client wrapper stamped; see ``record_ok``."""
        self.sent(start_time)
        self._second(start_time).record_failure(reason)
        if name is not None:
            self._failed_endpoint(start_time, name, reason)
        self._completed(start_time, start_time + latency_ms / 1000.0)

    def run_raised(self, schedule: UserSchedule | None, reason: str, *, now: float) -> None:
        """A task run raised ``now`` (its locustfile's code, not a request): one failed
        request for ``reason``, in its run's intended second (``now`` without a schedule), so
        that a locustfile failing every run shows as failures and not as silence."""
        intended = schedule.running(now) if schedule is not None else now
        self.record_failure(start_time=intended, reason=reason, latency_ms=(now - intended) * 1e3)

    def _completed(self, intended: float, done: float) -> None:
        second = math.floor(intended)
        self._done[second] = max(done, self._done.get(second, done))

    # -- generator lag --------------------------------------------------------------------

    def _charge_lag(self, second: int, stats: SecondStats, *, final: bool = True) -> None:
        done = self._done.pop(second, None) if final else self._done.get(second)
        until = max(second + 1.0, done if done is not None else second + 1.0)
        self.lag.charge(second, stats, until=until)

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
            if self.lag.probe_due is not None:
                bound = min(bound, self.lag.probe_due)
            # Past the grace, a request has timed out and a schedule has given its slots up.
            bound = max(bound, now - self.grace)
        else:
            bound = now - self.grace
        probe_woke_at = self.lag.probe_woke_at
        if probe_woke_at is not None:
            # A second whose requests completed after the probe last woke may yet be charged
            # a lag the probe has not reported.
            unjudged = [s for s, done in self._done.items() if done > probe_woke_at]
            if unjudged:
                bound = min(bound, min(unjudged))
        # Never move backwards: the receiver has been told everything before it is complete.
        return max(float(math.floor(bound)), self._shipped_until)

    def drain(self, now: float) -> Batch:
        """Hand out every second below the watermark (and late additions to them)."""
        self.flush()
        self._record_tallies()
        watermark = self.watermark(now)
        ready = sorted(second for second in self._open if second < watermark)
        self._shipped_until = watermark
        seconds = []
        for second in ready:
            stats = self._open.pop(second)
            self._charge_lag(second, stats)
            seconds.append(stats)
        oldest = min(self._open, default=watermark)
        self.lag.forget_before(oldest)
        return Batch(watermark=watermark, seconds=tuple(seconds), partial=self._partial(now))

    def live(self, now: float) -> tuple[SecondStats, ...]:
        """Snapshots of the seconds that are over and not complete, as ``drain`` hands them
        out in ``Batch.partial``, without handing out any second: for a guardrail that
        cannot wait, between batches. Counting them costs nothing per request: a snapshot's
        outstanding requests are its counters' difference plus the schedules' overdue runs,
        each at least as old as the time since its second ended."""
        self.flush()
        self._record_tallies()
        return self._partial(now)

    def _partial(self, now: float) -> tuple[SecondStats, ...]:
        overdue: dict[int, int] = {}
        for schedule in self._schedules:
            for second, count in schedule.overdue(now):
                overdue[second] = overdue.get(second, 0) + count
        partial = []
        for second in sorted(self._open.keys() | overdue.keys()):
            if second + 1 > now:
                continue
            stats = self._open.get(second) or SecondStats(second=second)
            # Sent and not back, or due and not sent (the user is busy with earlier ones).
            in_flight = max(0, stats.sent - stats.completed) + overdue.get(second, 0)
            if not stats.completed and not in_flight:
                continue
            snapshot = SecondStats(second=second)
            snapshot.merge(stats)
            snapshot.in_flight = in_flight
            snapshot.in_flight_age_us = (now - (second + 1)) * 1_000_000
            # The lag known so far: a stalled generator must not pass for a slow target.
            self._charge_lag(second, snapshot, final=False)
            partial.append(snapshot)
        return tuple(partial)

    def restore(self, seconds: Iterable[SecondStats]) -> None:
        """Take back seconds that could not be shipped; the next ``drain`` hands them out."""
        for stats in seconds:
            self._slot(stats.second).merge(stats)

    def stop_schedules(self, cutoff: float) -> None:
        """The load stopped at ``cutoff``: runs intended before it and not sent are missed."""
        self._stopped_at = min(self._stopped_at, cutoff)
        for schedule in self._schedules:
            schedule.close(cutoff)

    def start_schedules(self) -> None:
        """A new load starts: until its stop, every request is the target's to answer."""
        self._stopped_at = math.inf

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
    never slipping. Driven by the user's ``wait_time`` (``wait``), its task runner
    (``start``) and its clients (``request``).

    Slot ``j`` is intended at ``origin + j * interval``. Slots are counted by arithmetic,
    never one by one: a user far behind a fast schedule (a stalled target, a rate above
    what the target can serve) has thousands of them."""

    def __init__(
        self, recorder: SecondRecorder, interval: float, *, alive: Callable[[], bool]
    ) -> None:
        self.interval = interval
        self._recorder = recorder
        self._lag = recorder.lag
        self._alive = alive
        self._origin: float | None = None  # intended time of the first run
        self._next = 0  # index of the first slot not yet claimed
        self._claimed: float | None = None  # claimed by wait(), not started
        # The claimed run was due before its user was free for it: the target's doing.
        self._claimed_late = False
        self._ready = 0.0  # when the wait for the claimed run ends
        self._run: float | None = None  # intended time of the run in progress
        self._run_started = 0.0  # when the run in progress started
        self._run_queued = 0.0  # how long it waited for its user, busy with earlier runs
        self._closed = False

    def wait(self, now: float) -> float:
        """The previous run is over: claim the next slot; return how long to sleep."""
        self._run = None
        if self._closed:
            return 0.0
        origin = self._begin(now)
        # A user this far behind gives its oldest slots up (they count as missed): a target
        # that never answers would otherwise build an endless backlog.
        self._miss_until(now - self._recorder.grace)
        self._next += 1
        return self._claim(origin + (self._next - 1) * self.interval, now)

    def _claim(self, claimed: float, now: float) -> float:
        """The user, free ``now``, takes the run intended at ``claimed``: how long it sleeps
        until the run is due (none if it is late already)."""
        self._claimed = claimed
        self._ready = max(claimed, now)
        self._claimed_late = now > claimed
        return self._ready - now

    def start(self, now: float) -> None:
        """A task run starts now: the slot its wait claimed, or else the next one (the
        first run, or one locust reran without a wait), at once."""
        if self._closed:
            return
        if self._claimed is None:
            self.wait(now)
        claimed = self._claimed
        assert claimed is not None
        # Time the user spent on earlier runs is the target's doing and counts.
        self._run_queued = self._ready - claimed
        if now < claimed:  # locust started it before its slot (no wait in between)
            self._run = now
        else:
            # How late the worker woke the user is the generator's (gevent's timers alone
            # overshoot by about 0.7 ms): it is not latency. The lag probe's lateness shows it
            # in each second's lag_ms, and the lag rules judge it.
            late = max(0.0, now - self._ready)
            self._lag.run_started_late(claimed, late=late)
            self._run = claimed + late
        self._claimed, self._run_started = None, now

    def request(self, now: float) -> float:
        """A request is being sent now; returns its intended time and counts it."""
        if self._run is None and self._claimed is not None and not self._closed:
            # A client the task runner did not announce (a test, a custom runner).
            self.start(now)
        # Outside a task run (on_start, after the stop) a request is intended when sent.
        if self._run is None:
            self._recorder.sent(now)
            return now
        intended = self._run + (now - self._run_started)
        self._recorder.sent(intended)
        if self._run_queued > 0:
            self._recorder.queued(intended, waited=self._run_queued)
        return intended

    def running(self, now: float) -> float:
        """The intended time of the task run in progress (``now`` outside one)."""
        return self._run if self._run is not None else now

    def close(self, cutoff: float) -> None:
        """No run is expected from ``cutoff`` on; slots before it not yet sent are missed."""
        if self._closed:
            return
        self._closed = True
        # A run claimed late (its user was busy with earlier runs: the target's doing) is
        # missed. One claimed on time only waited for the worker's loop to wake its user.
        if self._claimed is not None and self._claimed < cutoff and self._claimed_late:
            self._recorder.missed(self._claimed)
        self._claimed = None
        if self._origin is not None:
            self._miss_until(cutoff)

    def oldest(self, now: float) -> float | None:
        """The oldest intended time whose requests may still be recorded; None once the
        schedule is closed and its user gone."""
        if self._closed and not self._alive():
            return None
        if self._run is not None:
            return self._run
        if self._closed:
            return now
        if self._claimed is not None:
            return min(self._claimed, now)
        if self._origin is None:
            return now
        return min(self._origin + self._next * self.interval, now)

    def overdue(self, now: float) -> Iterator[tuple[int, int]]:
        """Per second, how many runs should have started by ``now`` and have not."""
        if self._closed:
            return
        if self._claimed is not None and self._claimed < now:
            yield math.floor(self._claimed), 1
        if self._origin is None:
            return  # no slots of its own (an open-model user claims the class's)
        yield from slots_by_second(
            self._origin, self.interval, self._next, _slots_before(self._origin, self.interval, now)
        )

    def _begin(self, now: float) -> float:
        if self._origin is None:
            self._origin = now
        return self._origin

    def _miss_until(self, cutoff: float) -> None:
        """Give up the unclaimed slots intended before ``cutoff``."""
        assert self._origin is not None
        if self._origin + self._next * self.interval >= cutoff:
            return  # the usual case, on every wait: no slot is that old
        stop = _slots_before(self._origin, self.interval, cutoff)
        if stop > self._next:
            for second, count in slots_by_second(self._origin, self.interval, self._next, stop):
                self._recorder.missed(second, count)
            self._next = stop


def _slots_before(origin: float, interval: float, cutoff: float) -> int:
    """How many slots of a schedule are intended before ``cutoff``."""
    count = max(0, math.ceil((cutoff - origin) / interval))
    # The division may round across a slot that lies within a float step of the cutoff:
    # settle it by the slot's own time.
    while count > 0 and origin + (count - 1) * interval >= cutoff:
        count -= 1
    while origin + count * interval < cutoff:
        count += 1
    return count


def slots_by_second(
    origin: float, interval: float, first: int, stop: int
) -> Iterator[tuple[int, int]]:
    """Slots ``first`` to ``stop - 1`` of a schedule, counted per second of their intended
    time (``origin + j * interval``), in order."""
    j = first
    while j < stop:
        second = math.floor(origin + j * interval)
        # A slot lies in the second exactly when it is intended before the second's end.
        after = min(stop, max(j + 1, _slots_before(origin, interval, second + 1)))
        yield second, after - j
        j = after


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
