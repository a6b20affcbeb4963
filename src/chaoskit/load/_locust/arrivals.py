"""The open model's schedule: one stream of intended task-run times per user class, shared by
every user of that class in a worker, and each user's hold on the run it took from it.

Pure Python with no locust import, so it is unit tested in the pytest process; ``pool``
drives it from the worker's greenlets.

**Arrivals.** A class's runs are intended ``interval`` apart, where ``interval`` is one
user's interval divided by the users of the class that locust started in this worker (each
``join`` adds one user's rate and respaces the runs not claimed yet): a ``rate=R`` load
expects about R runs in every second, not one burst per interval as when each user keeps a
schedule of its own from the instant it started. Runs are counted by arithmetic, never one
by one (a stalled target leaves thousands unclaimed).

**Claims.** A free user claims the oldest run no one claimed (``PooledSchedule.wait``) and
sleeps until it is due. A run still unclaimed when it is due found every user busy: the
worker's dispatcher (``pool``) gives it to a new user of the pool, or, with the pool at its
cap, drops it (``Arrivals.drop_due``: expected, never sent, counted per second). So a
request is never sent late because "its" user was busy with an earlier run, unless the
pool is full; a run may go to any user of the class, not the one that ran the previous run
of the same slot sequence (k6's arrival-rate executors have the same rule).

**Behind.** A run also finds every user busy when the worker itself fell behind: paused
(a busy machine), so that its dispatcher woke more than ``BEHIND`` late. That is no user's
queue and no missing answer. With room in the pool, a free user claiming such a run then
takes it as one it woke late for (``PooledSchedule.claim_late``: the lateness is the
generator's, judged by the lag rules), and the dispatcher drops the rest as the worker's
loss: missing, in seconds marked invalid ("load generator fell behind"), not ``dropped``.
The worker stays behind for as long again as its dispatcher was late, at most 0.1 s
(``dispatcher_woke``): its users are still working off the runs the pause left them, and a
run due meanwhile that finds them all busy is its doing too (on a busy machine, 4-7 runs
5-7 ms after a 50 ms pause at 1,000 runs/s were otherwise dropped as the target's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from chaoskit.load._locust.recorder import (
    SecondRecorder,
    UserSchedule,
    _slots_before,
    slots_by_second,
)

# A run due this long and still unclaimed found every user busy. A free user claims its
# next run the moment it finishes one; the slack only spares a user made for a run that a
# user finishing in the same instant was about to claim (gevent's timers overshoot ~0.7 ms).
SLACK = 0.002
# A dispatcher this late for its wake-up was kept from its runs by its own worker, not the
# target: the runs due meanwhile are the worker's lateness.
BEHIND = 0.01
# The longest the worker is held to be catching up after such a wake: its users work off a
# pause's runs within milliseconds (those the target's drops were mistaken for came 5-7 ms
# after a 50 ms pause), and a longer excuse would hide a slow target's queue and drops.
CATCH_UP_LIMIT = 0.1
# How long a user whose schedule has ended waits before it looks again (its stop comes first).
STOPPING_NAP = 1.0
# How often users that ended are looked for.
PURGE_INTERVAL = 1.0
# How many users' runs ``mean_run_age`` looks at, at most, each time.
AGE_SAMPLE = 64


class Arrivals:
    """The intended times of one user class's task runs in a worker: slot ``j`` at
    ``origin + j * interval``; slots before ``next`` are claimed, dropped or missed."""

    def __init__(self, recorder: SecondRecorder, per_user_interval: float) -> None:
        self.per_user_interval = per_user_interval
        self._recorder = recorder
        self.members = 0  # users locust started, whose rates make the class's
        self.interval = math.inf
        self._origin: float | None = None
        self._next = 0
        self.closed = False
        # The users locust started, whose runs in progress tell how long the target holds
        # them (``mean_run_age``). Not the pool's users: each one it adds starts a run at
        # once, and their young runs would hide how long the target has held the others.
        # Looked at by the dispatcher, a sample at a time, never on a run's own path.
        self._locust_users: list[PooledSchedule] = []
        self._sample_from = 0
        # A user that ended (StopUser, or killed) never says so: it is left out when next
        # looked for, at most once a second.
        self._next_purge = -math.inf
        # Whether the worker's pool may still add a user, and when its dispatcher means to
        # wake next (``pool``; without one, never: no run is the worker's lateness).
        self.has_room: Callable[[], bool] = lambda: False
        self.dispatcher_wakes_at = math.inf
        self._catching_up_until = -math.inf
        recorder.track(self)

    def join(self, now: float, user: PooledSchedule) -> None:
        """One more user of the class (started by locust, not by the pool) runs from ``now``:
        the runs not claimed yet are respaced to the class's new rate."""
        if self.closed:
            return
        self.members += 1
        self._locust_users.append(user)
        interval = self.per_user_interval / self.members
        # The first user's first run is due at once; a later one brings the next run
        # forward when the faster rate makes it due sooner.
        due = now if self._origin is None else min(self.next_due(), now + interval)
        self.interval = interval
        self._origin = due - self._next * interval

    def next_due(self) -> float:
        """When the oldest unclaimed run is intended (infinity before any user joined)."""
        if self._origin is None:
            return math.inf
        return self._origin + self._next * self.interval

    def claim(self, now: float) -> float | None:
        """Take the oldest unclaimed run; its intended time (None when closed or empty)."""
        if self.closed or self._origin is None:
            return None
        if self._next == 0 and now > self._origin:
            # The first run waited for the users spawned with it to join: that is no
            # user's queue. The schedule starts now.
            self._origin = now
        due = self._origin + self._next * self.interval
        self._next += 1
        return due

    def mean_run_age(self, now: float) -> float:
        """How long, on average, the runs in progress on the users locust started have been
        running (0 with none), from a sample of at most ``AGE_SAMPLE`` of them."""
        users = self._locust_users
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL
            users[:] = [user for user in users if user.alive()]
        if len(users) > AGE_SAMPLE:
            start = self._sample_from % len(users)
            self._sample_from = end = start + AGE_SAMPLE
            users = users[start:end] + users[: max(0, end - len(users))]  # round the end
        ages = [age for user in users if (age := user.run_age(now)) is not None]
        return sum(ages) / len(ages) if ages else 0.0

    def dispatcher_woke(self, now: float) -> float:
        """The dispatcher woke at ``now``; returns how late. Woken more than ``BEHIND`` late,
        the worker is catching up for as long again, up to ``CATCH_UP_LIMIT``."""
        late = now - self.dispatcher_wakes_at
        if late > BEHIND:
            until = now + min(late, CATCH_UP_LIMIT)
            self._catching_up_until = max(self._catching_up_until, until)
        return late

    def worker_behind(self, now: float) -> bool:
        """Whether, at ``now``, the worker keeps its dispatcher from the runs it should see to
        (more than ``BEHIND`` late for its wake-up) or is still catching up after that, with
        room in the pool for them."""
        late = now - self.dispatcher_wakes_at > BEHIND or now < self._catching_up_until
        return late and self.has_room()

    def drop_due(self, now: float, *, behind: bool = False) -> int:
        """Drop every unclaimed run intended before ``now``: no user was free for it and the
        pool had no room (``dropped``), or ``behind``: the worker kept them from the pool
        (missing, in seconds marked invalid). Returns how many."""
        if self.closed or self._origin is None:
            return 0
        stop = _slots_before(self._origin, self.interval, now)
        return self._give_up(stop, now, behind=behind, count=self._recorder.dropped)

    def _give_up(
        self, stop: int, now: float, *, behind: bool, count: Callable[[int, int], None]
    ) -> int:
        """Give up the unclaimed runs before slot ``stop``: ``count`` them, or when the worker
        was ``behind``, count them missing as its loss. Returns how many."""
        assert self._origin is not None
        given_up = stop - self._next
        if given_up <= 0:
            return 0
        late = now - self.next_due()
        for second, runs in slots_by_second(self._origin, self.interval, self._next, stop):
            if behind:
                self._recorder.missed(second, runs)
                self._recorder.lag.runs_dropped(second, runs, late=late)
            else:
                count(second, runs)
        self._next = stop
        return given_up

    # -- what the recorder asks (``recorder.Pending``) ---------------------------------------

    def oldest(self, now: float) -> float | None:
        if self.closed:
            return None
        return min(self.next_due(), now)

    def overdue(self, now: float) -> Iterator[tuple[int, int]]:
        if self.closed or self._origin is None:
            return
        yield from slots_by_second(
            self._origin, self.interval, self._next, _slots_before(self._origin, self.interval, now)
        )

    def close(self, cutoff: float) -> None:
        """The load stops at ``cutoff``: unclaimed runs intended before it are missed, as the
        worker's when it was behind; those due within ``SLACK`` of it are not counted (the
        stop came before the pool could take them, as before a user woke for its run)."""
        if self.closed:
            return
        if self._origin is not None:
            behind = self.worker_behind(cutoff)
            stop = _slots_before(self._origin, self.interval, cutoff - SLACK)
            self._give_up(stop, cutoff, behind=behind, count=self._recorder.missed)
            self._next = max(self._next, _slots_before(self._origin, self.interval, cutoff))
        self.closed = True


class PooledSchedule(UserSchedule):
    """One user's part in an open-model class: the run it claimed from the class's
    ``Arrivals``, then the run in progress. Everything else (how a run's requests are
    intended, what counts as queued) is ``UserSchedule``'s."""

    def __init__(
        self, recorder: SecondRecorder, arrivals: Arrivals, *, alive: Callable[[], bool]
    ) -> None:
        super().__init__(recorder, arrivals.per_user_interval, alive=alive)
        self.arrivals = arrivals

    def wait(self, now: float) -> float:
        """The previous run is over: claim the oldest unclaimed run of the class; return how
        long to sleep until it is due."""
        self._run = None
        claimed = None if self._closed else self.arrivals.claim(now)
        if claimed is None:
            # The load is stopping: nothing more to run. Waiting, the user is stopped at once;
            # without a wait it would run task after task, off any schedule, until then.
            return STOPPING_NAP
        if claimed < now and self.arrivals.worker_behind(now):
            return self.claim_late(claimed)
        return self._claim(claimed, now)

    def claim_late(self, due: float) -> float:
        """Take the run intended at ``due``, overdue because the worker is behind, not the
        target (``Arrivals`` above). As for a user the worker woke late, the lateness is not
        latency; the lag rules judge it when the run starts."""
        self._claimed = self._ready = due
        self._claimed_late = False
        return 0.0

    @property
    def holds_a_run(self) -> bool:
        """Whether the user has claimed (or been handed) a run, or is in one."""
        return self._claimed is not None or self._run is not None

    def first_wait(self, now: float) -> float:
        """Before the user's first run (after its ``on_start``): claim a run unless it holds
        one already; return how long to sleep until it is due."""
        if self.holds_a_run:
            return 0.0
        return self.wait(now)

    def start(self, now: float) -> None:
        if self._run is not None:  # locust started a run without a wait in between
            self._run = None
        if self._claimed is None and not self._closed:
            self.wait(now)
        if self._claimed is None:
            return  # nothing left to run: the load is stopping
        super().start(now)

    def run_age(self, now: float) -> float | None:
        """How long the user's task run has been going at ``now``; None outside one (or
        with its schedule closed: the run ends with the load)."""
        if self._run is None or self._closed:
            return None
        return now - self._run_started

    def alive(self) -> bool:
        """Whether the user is still running."""
        return self._alive()

    def hand(self, due: float) -> None:
        """This user was added to the pool for the run intended at ``due``, which no user was
        free for. Making the user (and its ``on_start``) is the generator's doing, like a
        late wake-up: the run is shifted by it, and the lag rules judge it. The run is late
        by then (every user was busy with earlier runs): a stop before it starts misses it."""
        self._claimed = self._ready = due
        self._claimed_late = True
