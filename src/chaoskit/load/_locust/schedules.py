"""Which users of a load worker run on a fixed schedule, and the hooks that drive each
user's ``UserSchedule``: its ``wait_time``, a TaskSet's own ``wait_time``, its ``on_start``
(an open-model user waits there for its first run) and its ``stop``.

Runs in a load worker process (imports locust). A class's interval comes from the load's
rate (``Schedules.set_rate``, sent by the coordinator before each start) or else from its
own ``constant_throughput``/``constant_pacing`` (a TaskSet's included); users with another
``wait_time`` keep it (closed loop). The wrappers run once per task run: they look nothing
up unless some user may run on a schedule (``Schedules.active``).

Scheduled classes run the open model (``arrivals``, ``pool``): the users of a class share
one schedule, and the pool adds users when all are busy. With a ``LoadTestShape``, which
changes the number of users itself, each user keeps a schedule of its own (``open_model``
False).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Final, TypeVar

import gevent
import locust
from gevent import getcurrent
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_WAITING, TaskSet

from chaoskit.load._locust import runtime
from chaoskit.load._locust.arrivals import Arrivals, PooledSchedule
from chaoskit.load._locust.pool import UserPool
from chaoskit.load._locust.recorder import SecondRecorder, UserSchedule
from chaoskit.load._locust.timebase import clock

# An installed wrapper keeps, under this attribute, the function it wraps.
_ORIGINAL: Final = "_chaoskit_original"


class Schedules:
    """Which users run on a schedule, and each user's ``UserSchedule``.

    A class's interval comes from the load's rate (``set_rate``, sent by the coordinator
    before each start) or else from its own ``constant_throughput``/``constant_pacing``.
    """

    def __init__(self, recorder: SecondRecorder, *, open_model: bool = True) -> None:
        self.recorder = recorder
        self.open_model = open_model
        # Set by the worker once locust's environment exists; without it, no pool grows.
        self.pool: UserPool | None = None
        self._arrivals: dict[type[locust.User], Arrivals] = {}
        self._rate_per_user: float | None = None
        self._intervals: dict[type[locust.User], float | None] = {}
        # Whether any user may run on a schedule. Without, the wrappers that run for every
        # task run and request skip the schedule lookups: closed-loop users pay for none.
        self.active = False
        self._by_greenlet: weakref.WeakKeyDictionary[object, UserSchedule] = (
            weakref.WeakKeyDictionary()
        )

    def install(self, user_classes: Sequence[type[locust.User]]) -> None:
        """Route each class's ``wait_time`` through its users' schedules."""
        for user_class in user_classes:
            original = _own_wait_time(user_class)
            own_interval = runtime.schedule_interval(original)
            self._intervals[user_class] = own_interval or _tasksets_interval(user_class)
            if not _installed(vars(user_class).get("wait_time")):
                user_class.wait_time = self._scheduled_wait_time(original)
            if not _installed(user_class.on_start):
                _patch(user_class, "on_start", self._first_run_on_start(user_class.on_start))
            if not _installed(user_class.stop):
                _patch(user_class, "stop", self._closing_stop(user_class.stop))
            for taskset in _tasksets(user_class.tasks):
                own = vars(taskset).get("wait_time")
                if own is not None and not _installed(own):
                    # A TaskSet's own wait_time would bypass the user's: a scheduled user
                    # would silently run that TaskSet closed loop.
                    _patch(taskset, "wait_time", self._scheduled_taskset_wait_time(own))
        self._update_active()

    def set_rate(self, rate_per_user: float | None, max_users: int | None = None) -> None:
        """Run every user at ``rate_per_user`` task runs a second (None: keep each class's
        own ``wait_time``), and let the pool grow to ``max_users`` users in this worker
        (None: no growth). Between runs only: the coordinator sends it before each start,
        and users do not outlive a stop."""
        self._rate_per_user = rate_per_user
        self._arrivals = {}  # a new run, a new schedule: the last one closed at its stop
        self.recorder.start_schedules()
        if self.pool is not None:
            self.pool.cap = max_users or 0
        self._update_active()

    def _update_active(self) -> None:
        # A subclass found later takes an installed class's interval: this stays right.
        self.active = self._rate_per_user is not None or any(
            interval is not None for interval in self._intervals.values()
        )

    def of_user(self, user: locust.User) -> UserSchedule | None:
        """The user's schedule, made on first use; None when the user has none. Callers on
        the hot path check ``active`` first."""
        schedule: UserSchedule | None = user.__dict__.get("_chaoskit_schedule")
        if schedule is None:
            interval = self._interval(type(user))
            if interval is None:
                return None
            if self.open_model:
                arrivals = self._arrivals_of(type(user), interval)
                schedule = self.pooled(user, arrivals)
                # A user locust started (the pool hands its own users their first run).
                arrivals.join(clock(), schedule)
            else:
                schedule = self.recorder.schedule(interval, alive=functools.partial(_alive, user))
                user.__dict__["_chaoskit_schedule"] = schedule
        return schedule

    def pooled(self, user: locust.User, arrivals: Arrivals) -> PooledSchedule:
        """A new open-model schedule for ``user``, drawing its runs from ``arrivals``."""
        schedule = PooledSchedule(self.recorder, arrivals, alive=functools.partial(_alive, user))
        self.recorder.track(schedule)
        user.__dict__["_chaoskit_schedule"] = schedule
        return schedule

    def _arrivals_of(self, user_class: type[locust.User], interval: float) -> Arrivals:
        arrivals = self._arrivals.get(user_class)
        if arrivals is None:
            arrivals = self._arrivals[user_class] = Arrivals(self.recorder, interval)
            if self.pool is not None:
                self.pool.watch(arrivals, user_class)
        return arrivals

    def of_user_running_here(self, user: locust.User) -> UserSchedule | None:
        """``of_user`` for a user running in the current greenlet (its wait or task run),
        which ``of_current_greenlet`` then knows it by."""
        schedule = self.of_user(user)
        current = getcurrent()
        # A weak-key store is dear: once per greenlet.
        if schedule is not None and user.__dict__.get("_chaoskit_greenlet") is not current:
            self._by_greenlet[current] = schedule
            user.__dict__["_chaoskit_greenlet"] = current
        return schedule

    def of_current_greenlet(self) -> UserSchedule | None:
        """The schedule of the user running in this greenlet, for a request that names no
        user (``events.request.measure``); None before its first wait or task run."""
        return self._by_greenlet.get(getcurrent())

    def _interval(self, user_class: type[locust.User]) -> float | None:
        if self._rate_per_user is not None:
            return 1.0 / self._rate_per_user
        if user_class not in self._intervals:  # a subclass of an installed class
            self._intervals[user_class] = next(
                (self._intervals[k] for k in user_class.__mro__ if k in self._intervals), None
            )
        return self._intervals[user_class]

    def _scheduled_wait_time(self, original: Callable[..., float]) -> Callable[..., float]:
        flush = self.recorder.flush

        def wait_time(user: locust.User) -> float:
            flush()  # between runs: the users' requests are not timing it
            schedule = self.of_user_running_here(user) if self.active else None
            if schedule is None:
                return original(user)
            return schedule.wait(clock())

        return _installing(wait_time, original)

    def _scheduled_taskset_wait_time(self, original: Callable[..., float]) -> Callable[..., float]:
        flush = self.recorder.flush

        def wait_time(taskset: TaskSet) -> float:
            flush()
            schedule = self.of_user_running_here(taskset.user) if self.active else None
            if schedule is None:
                return original(taskset)
            return schedule.wait(clock())

        return _installing(wait_time, original)

    def _first_run_on_start(self, on_start: Callable[[locust.User], None]) -> Callable[..., None]:
        # Locust runs a user's first task right after its on_start, without a wait: an
        # open-model user waits for the run it claims instead, or all users of a class would
        # send their first requests in the same instant.
        @functools.wraps(on_start)
        def first_run_on_start(user: locust.User) -> None:
            # The user joins its class's schedule first (a new user's rate respaces the
            # runs no one has claimed yet), and claims its first run only once the users
            # spawned with it had their turn to join: claimed earlier, the runs would keep
            # the spacing of fewer users and bunch up at the start.
            schedule = self.of_user_running_here(user) if self.active else None
            on_start(user)
            if isinstance(schedule, PooledSchedule) and not schedule.holds_a_run:
                gevent.sleep(0)
                delay = schedule.first_wait(clock())
                if delay > 0:
                    # Waiting as locust's own wait does, so that a stop ends it at once.
                    user._state = LOCUST_STATE_WAITING
                    gevent.sleep(delay)
                    user._state = LOCUST_STATE_RUNNING

        return _installing(first_run_on_start, on_start)

    def _closing_stop(self, stop: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(stop)
        def closing_stop(user: locust.User, force: bool = False) -> bool:
            schedule: UserSchedule | None = user.__dict__.get("_chaoskit_schedule")
            if schedule is not None:
                schedule.close(clock())
            return stop(user, force)

        return _installing(closing_stop, stop)


def _own_wait_time(user_class: type[locust.User]) -> Callable[..., float]:
    """The class's wait_time as the locust file defined it (under an installed wrapper of a
    base class, when both are user classes)."""
    for klass in user_class.__mro__:
        if "wait_time" in vars(klass):
            found: Callable[..., float] = vars(klass)["wait_time"]
            return getattr(found, _ORIGINAL, found)
    return locust.constant(0)


def _tasksets_interval(user_class: type[locust.User]) -> float | None:
    """The schedule the user's TaskSets ask for with their own ``wait_time``, when the user
    asks for none itself: a locust file may pace its users there. Only when every TaskSet
    that sets one asks for the same interval (a user has one schedule)."""
    intervals = set()
    for taskset in _tasksets(user_class.tasks):
        own = vars(taskset).get("wait_time")
        if own is not None:
            intervals.add(runtime.schedule_interval(getattr(own, _ORIGINAL, own)))
    return intervals.pop() if len(intervals) == 1 else None


def _tasksets(
    tasks: Iterable[object], seen: set[type[TaskSet]] | None = None
) -> list[type[TaskSet]]:
    """The TaskSet classes among ``tasks``, and those nested in them."""
    seen = set() if seen is None else seen
    for task in tasks:
        if isinstance(task, type) and issubclass(task, TaskSet) and task not in seen:
            seen.add(task)
            _tasksets(task.tasks, seen)
    return list(seen)


_Wrapper = TypeVar("_Wrapper", bound=Callable[..., object])


def _installing(wrapper: _Wrapper, original: Callable[..., object]) -> _Wrapper:
    """``wrapper``, marked as an installed wrapper of ``original``."""
    vars(wrapper)[_ORIGINAL] = original
    return wrapper


def _installed(function: object) -> bool:
    return hasattr(function, _ORIGINAL)


def _alive(user: locust.User) -> bool:
    greenlet = getattr(user, "_greenlet", None)
    return greenlet is not None and not greenlet.dead


def _patch(owner: type, method: str, wrapper: Callable[..., object]) -> None:
    """Put ``wrapper`` in place of ``method`` of the locust file's own class (a User or a
    TaskSet). Done by name: assigning to a method is what mypy forbids, and patching the
    user's classes is the point here."""
    setattr(owner, method, wrapper)
