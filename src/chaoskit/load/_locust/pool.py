"""The open model's pool of users in a load worker: a dispatcher greenlet per user class that
gives each run no user was free for to a new user, up to the worker's cap, or drops it.

Runs in a load worker process (imports locust and gevent). ``arrivals`` has the schedule
and the rules; this module adds users and drops runs on time.

The pool grows only when the target, not the worker, keeps every user busy (``growth`` has
the rule): at most ``ADD_BATCH`` users every ``DROP_NAP``, or at once batch after batch
while the target holds the users. A rate above what the worker can send keeps every user
busy too, but on the worker's CPU, and more users would make each request dearer: runs due
then are dropped, and the lag rules mark their seconds. Runs due while the worker kept the
dispatcher from waking on time (``Arrivals.worker_behind``: paused by a busy machine) are
the worker's loss, not the target's: missing, in seconds marked invalid.

Why a dispatcher and not a queue of tickets: free users claim their next run themselves
(``PooledSchedule.wait``, arithmetic and one sleep, as a closed schedule costs), so the
per-run path is no dearer than before. The dispatcher only wakes when the oldest unclaimed
run is due: while users are free that is once per user interval, when they claim ahead of
it; when every user is busy, it is at each run's time, to add a user for it.

Pool users are kept in a gevent ``Group`` of their own, not locust's: locust's runner counts
its own users when the master reshares them and when it reports them, and the pool is
chaoskit's. They stop with the load (``stop``), finishing their runs as locust's do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Final

import gevent
import locust
from gevent.pool import Group
from locust.env import Environment
from locust.user.task import LOCUST_STATE_STOPPING

from chaoskit.load._locust.arrivals import SLACK, Arrivals, PooledSchedule
from chaoskit.load._locust.growth import PoolGrowth
from chaoskit.load._locust.timebase import clock

# With the pool at its cap, the dispatcher drops overdue runs this often, not at each run's
# time: at a rate far above what the target serves that would be a busy loop.
DROP_NAP: Final = 0.005
# How often a dispatcher looks again while its class has no user yet.
IDLE_NAP: Final = 0.05
# Users added at one wake of a dispatcher before it lets them (and everything else) run.
ADD_BATCH: Final = 10


class UserPool:
    """The users open-model classes added in this worker, and their dispatchers.

    ``locust_users`` counts the users locust's runner started; the pool grows while they
    and the pool's users together are fewer than ``cap`` (this worker's share of the load's
    ``max_users``; never below its own users).
    """

    def __init__(
        self,
        *,
        environment: Environment,
        make_schedule: Callable[[locust.User, Arrivals], PooledSchedule],
        locust_users: Callable[[], int],
        keeping_time: Callable[[], bool] = lambda: True,
    ) -> None:
        self._make_schedule = make_schedule
        self._locust_users = locust_users
        self._keeping_time = keeping_time
        self.environment = environment
        self.cap = 0
        self.users = Group()
        self._dispatchers = Group()

    @property
    def size(self) -> int:
        """Users running now: locust's and the pool's."""
        return self._locust_users() + len(self.users)

    def watch(self, arrivals: Arrivals, user_class: type[locust.User]) -> None:
        """Dispatch ``arrivals``'s runs that no user of ``user_class`` is free for."""
        arrivals.has_room = self.has_room
        self._dispatchers.spawn(self._dispatch, arrivals, user_class)

    def has_room(self) -> bool:
        """Whether the pool may add a user (it adds one only when the target holds them)."""
        return self.size < self.cap

    def stop(self, timeout: float) -> None:
        """Stop the dispatchers and the pool's users: a user waiting for its next run stops
        at once, one in a run finishes it (up to ``timeout``) as locust's own users do."""
        self._dispatchers.kill()
        for user in list(self._running()):
            if user._state != LOCUST_STATE_STOPPING:  # stopping it again raises
                with contextlib.suppress(Exception):
                    user.stop(force=False)
        if not self.users.join(timeout=timeout):
            self.users.kill(block=True)

    def _running(self) -> list[locust.User]:
        running = []
        for greenlet in self.users:
            args = greenlet.args  # locust's own way to its users (emptied once dead)
            if args and isinstance(args[0], locust.User):
                running.append(args[0])
        return running

    def _dispatch(self, arrivals: Arrivals, user_class: type[locust.User]) -> None:
        growth = PoolGrowth()

        def nap(now: float, wake: float) -> None:
            # When it means to wake is also how the users tell that the worker is behind.
            arrivals.dispatcher_wakes_at = wake
            gevent.sleep(wake - now)

        arrivals.dispatcher_wakes_at = clock()
        while not arrivals.closed:
            now = clock()
            late = arrivals.dispatcher_woke(now)
            growth.observe(now, late=late, age=arrivals.mean_run_age(now))
            behind = arrivals.worker_behind(now)
            due = arrivals.next_due() + SLACK
            if due > now:
                nap(now, min(due, now + IDLE_NAP))
                continue
            # Every user of the class is busy: a new user for each run due, while there is room.
            added = 0
            held = growth.held(now)
            may_grow = growth.allows(now, keeping_time=self._keeping_time())
            while (
                may_grow
                and added < ADD_BATCH
                and arrivals.next_due() + SLACK <= now
                and self.has_room()
            ):
                self._add(user_class, arrivals)
                added += 1
            if added == ADD_BATCH:
                # More are due: let the new users start before adding more. While the target
                # holds the users that is all; otherwise the lag probe also gets a nap's
                # time to see how the worker copes.
                nap(now, now + (0.0 if held else DROP_NAP))
            elif arrivals.next_due() + SLACK <= now:
                arrivals.drop_due(now - SLACK, behind=behind)
                nap(now, now + DROP_NAP)
            else:
                arrivals.dispatcher_wakes_at = now

    def _add(self, user_class: type[locust.User], arrivals: Arrivals) -> None:
        due = arrivals.claim(clock())
        if due is None:
            return
        user = user_class(self.environment)
        self._make_schedule(user, arrivals).hand(due)
        user.start(self.users)
