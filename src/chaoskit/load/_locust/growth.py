"""When an open-model pool may add users: only when the target, not the worker, keeps every
user busy.

Pure Python with no locust import, so it is unit tested in the pytest process; ``pool``'s
dispatcher feeds it what it sees at each wake.

Users that are all busy because the worker cannot run them fast enough (a rate above what
it can send) are not held by the target, and more users would only make each request
dearer (a third dearer at three times the users: ``bench/load.py``'s ``sched_rps_ratio``
fell from 0.91 to 0.76). Two measures tell the cases apart, each averaged over the
dispatcher's wakes:

- **lateness**: how late the dispatcher wakes, the worker's own congestion;
- **age**: how long the runs in progress on locust's users have been running
  (``Arrivals.mean_run_age``). A run that waits only on the worker takes a few turns of its
  event loop; one the target holds takes as long as the target does.

The pool grows while the worker keeps time and the runs are clearly older than its loop
explains, or, even with the worker running late, while the target holds the users far
longer than that (a stall), and for a moment after: once the target answers again it works
through what it held, and the runs due meanwhile need users too.
"""

from __future__ import annotations

from typing import Final

from chaoskit.load._locust.lag import BUSY_MEAN_LIMIT

# How fast the averages follow each wake's measure.
WEIGHT: Final = 0.2
# Runs in progress no older than this many times the loop's lateness, on average, keep
# their users busy on the worker itself.
WORKER_FACTOR: Final = 3.0
# Runs in progress this old on average, and this many times older than the worker's own
# lateness, are held by the target: the pool grows for them even while the worker runs
# late, as users made late are better than runs dropped. Also how long that holds after.
HELD_AGE: Final = 0.1
HELD_FACTOR: Final = 20.0


class PoolGrowth:
    """The dispatcher's averages and its verdict. Lateness starts at the busy limit: the
    worker is not trusted to keep time until it has woken on time a few times."""

    def __init__(self) -> None:
        self.lateness = BUSY_MEAN_LIMIT
        self.age = 0.0
        self._held_until = 0.0

    def observe(self, now: float, *, late: float, age: float) -> None:
        """One wake of the dispatcher at ``now``: ``late`` seconds after it planned to, with
        locust's users' runs in progress ``age`` seconds old on average."""
        self.lateness += WEIGHT * (max(0.0, late) - self.lateness)
        self.age += WEIGHT * (age - self.age)
        if self.age > max(HELD_AGE, HELD_FACTOR * self.lateness):
            self._held_until = now + HELD_AGE

    def held(self, now: float) -> bool:
        """Whether the target holds the users (or did a moment ago)."""
        return now < self._held_until

    def allows(self, now: float, *, keeping_time: bool) -> bool:
        """Whether the pool may add users now that every user is busy. ``keeping_time``:
        the lag probe's last window was not busy."""
        return self.held(now) or (
            self.age > WORKER_FACTOR * self.lateness
            and self.lateness <= BUSY_MEAN_LIMIT
            and keeping_time
        )
