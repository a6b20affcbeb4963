"""A load worker process: a locust worker that runs users on a schedule, records per-second
measurements and ships them.

Run as ``python -m chaoskit.load._locust.worker --master-host H --master-port P --locustfile F``
(``chaoskit worker`` does the same on another machine). It loads the locust file, connects
a locust worker runner to the coordinator's master, and runs the users the master gives it.

What is measured (``recorder`` has the rules): each user whose ``wait_time`` is locust's
``constant_throughput``/``constant_pacing``, or every user when the load was given a
``rate``, runs its tasks on a fixed schedule (a TaskSet's own ``wait_time`` included);
the wrapped task runner tells the schedule when each task run starts; the wrapped HTTP
clients count each request as sent and stamp it, in the request's ``context``, with its
intended and actual send times; locust's request event leaves the outcome on the stamp;
when the call returns to the user's code, the wrapper notes the time and hands the stamp
over, and the recorder records it between task runs: latency from the intended time to the
call's return, in the intended second. Users with another ``wait_time`` keep it and are
measured from their actual sends. A probe greenlet watches for generator lag. A greenlet
ships the complete seconds to the master about every half second, with the watermark.

Times come from ``clock``: the monotonic clock, shifted once to the epoch, so that the
schedules do not burst or skip when NTP steps the system clock.

The process exits when the master tells it to quit, or, when started with
``--exit-with-stdin`` (as the driver does), when stdin reaches its end (the driver closed
the pipe or died).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import gevent
import locust
from gevent import getcurrent
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.event import EventHook
from locust.runners import WorkerRunner
from locust.user.task import DefaultTaskSet, TaskSet

from chaoskit.load import _wire
from chaoskit.load._locust import runtime
from chaoskit.load._locust.recorder import (
    PROBE_INTERVAL,
    Batch,
    SecondRecorder,
    Stamp,
    UserSchedule,
    failure_reason,
)

SHIP_INTERVAL: Final = 0.5
EXIT_ERROR: Final = 2
# The key of a request's stamp in its locust ``context``.
STAMP_KEY: Final = "chaoskit_stamp"
_EPOCH_OFFSET: Final = time.time() - time.monotonic()

logger = logging.getLogger("chaoskit.load.worker")


def clock() -> float:
    """Epoch seconds that never step: the monotonic clock, aligned to the epoch once."""
    return time.monotonic() + _EPOCH_OFFSET


class Schedules:
    """Which users run on a schedule, and each user's ``UserSchedule``.

    A class's interval comes from the load's rate (``set_rate``, sent by the coordinator
    before each start) or else from its own ``constant_throughput``/``constant_pacing``.
    """

    def __init__(self, recorder: SecondRecorder) -> None:
        self.recorder = recorder
        self._rate_per_user: float | None = None
        self._intervals: dict[type[Any], float | None] = {}
        # Whether any user may run on a schedule. Without, the wrappers that run for every
        # task run and request skip the schedule lookups: closed-loop users pay for none.
        self.active = False
        self._by_greenlet: weakref.WeakKeyDictionary[Any, UserSchedule] = (
            weakref.WeakKeyDictionary()
        )

    def install(self, user_classes: Sequence[type[locust.User]]) -> None:
        """Route each class's ``wait_time`` through its users' schedules."""
        for user_class in user_classes:
            original = _own_wait_time(user_class)
            self._intervals[user_class] = runtime.schedule_interval(original) or _tasksets_interval(
                user_class
            )
            if not _installed(vars(user_class).get("wait_time")):
                user_class.wait_time = self._scheduled_wait_time(original)
            if not _installed(user_class.stop):
                user_class.stop = self._closing_stop(user_class.stop)  # type: ignore[method-assign]
            for taskset in _tasksets(user_class.tasks):
                own = vars(taskset).get("wait_time")
                if own is not None and not _installed(own):
                    # A TaskSet's own wait_time would bypass the user's: a scheduled user
                    # would silently run that TaskSet closed loop.
                    taskset.wait_time = self._scheduled_taskset_wait_time(own)
        self._update_active()

    def set_rate(self, rate_per_user: float | None) -> None:
        """Run every user at ``rate_per_user`` task runs a second (None: keep each class's
        own ``wait_time``). Between runs only: the coordinator sends it before each start,
        and users do not outlive a stop."""
        self._rate_per_user = rate_per_user
        self._update_active()

    def _update_active(self) -> None:
        # A subclass found later takes an installed class's interval: this stays right.
        self.active = self._rate_per_user is not None or any(
            interval is not None for interval in self._intervals.values()
        )

    def of_user(self, user: Any) -> UserSchedule | None:
        """The user's schedule, made on first use; None when the user has none. Callers on
        the hot path check ``active`` first."""
        schedule: UserSchedule | None = user.__dict__.get("_chaoskit_schedule")
        if schedule is None:
            interval = self._interval(type(user))
            if interval is None:
                return None
            schedule = self.recorder.schedule(interval, alive=functools.partial(_alive, user))
            user._chaoskit_schedule = schedule
        return schedule

    def of_user_running_here(self, user: Any) -> UserSchedule | None:
        """``of_user`` for a user running in the current greenlet (its wait or task run),
        which ``of_current_greenlet`` then knows it by."""
        schedule = self.of_user(user)
        current = getcurrent()
        # A weak-key store is dear: once per greenlet.
        if schedule is not None and user.__dict__.get("_chaoskit_greenlet") is not current:
            self._by_greenlet[current] = schedule
            user._chaoskit_greenlet = current
        return schedule

    def of_current_greenlet(self) -> UserSchedule | None:
        """The schedule of the user running in this greenlet, for a request that names no
        user (``events.request.measure``); None before its first wait or task run."""
        return self._by_greenlet.get(getcurrent())

    def _interval(self, user_class: type[Any]) -> float | None:
        if self._rate_per_user is not None:
            return 1.0 / self._rate_per_user
        if user_class not in self._intervals:  # a subclass of an installed class
            self._intervals[user_class] = next(
                (self._intervals[k] for k in user_class.__mro__ if k in self._intervals), None
            )
        return self._intervals[user_class]

    def _scheduled_wait_time(self, original: Callable[..., float]) -> Callable[..., float]:
        flush = self.recorder.flush

        def wait_time(user: Any) -> float:
            flush()  # between runs: the users' requests are not timing it
            schedule = self.of_user_running_here(user) if self.active else None
            if schedule is None:
                return original(user)
            return schedule.wait(clock())

        wait_time._chaoskit_original = original  # type: ignore[attr-defined]
        return wait_time

    def _scheduled_taskset_wait_time(self, original: Callable[..., float]) -> Callable[..., float]:
        flush = self.recorder.flush

        def wait_time(taskset: Any) -> float:
            flush()
            schedule = self.of_user_running_here(taskset.user) if self.active else None
            if schedule is None:
                return original(taskset)
            return schedule.wait(clock())

        wait_time._chaoskit_original = original  # type: ignore[attr-defined]
        return wait_time

    def _closing_stop(self, stop: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(stop)
        def closing_stop(user: Any, force: bool = False) -> bool:
            schedule: UserSchedule | None = user.__dict__.get("_chaoskit_schedule")
            if schedule is not None:
                schedule.close(clock())
            return stop(user, force)

        closing_stop._chaoskit_original = stop  # type: ignore[attr-defined]
        return closing_stop


def _own_wait_time(user_class: type[locust.User]) -> Callable[..., float]:
    """The class's wait_time as the locust file defined it (under an installed wrapper of a
    base class, when both are user classes)."""
    for klass in user_class.__mro__:
        if "wait_time" in vars(klass):
            found: Callable[..., float] = vars(klass)["wait_time"]
            return getattr(found, "_chaoskit_original", found)
    return locust.constant(0)


def _tasksets_interval(user_class: type[locust.User]) -> float | None:
    """The schedule the user's TaskSets ask for with their own ``wait_time``, when the user
    asks for none itself: a locust file may pace its users there. Only when every TaskSet
    that sets one asks for the same interval (a user has one schedule)."""
    intervals = set()
    for taskset in _tasksets(user_class.tasks):
        own = vars(taskset).get("wait_time")
        if own is not None:
            intervals.add(runtime.schedule_interval(getattr(own, "_chaoskit_original", own)))
    return intervals.pop() if len(intervals) == 1 else None


def _tasksets(tasks: Iterable[Any], seen: set[type[Any]] | None = None) -> list[type[Any]]:
    """The TaskSet classes among ``tasks``, and those nested in them."""
    seen = set() if seen is None else seen
    for task in tasks:
        if isinstance(task, type) and issubclass(task, TaskSet) and task not in seen:
            seen.add(task)
            _tasksets(task.tasks, seen)
    return list(seen)


def _installed(function: object) -> bool:
    return hasattr(function, "_chaoskit_original")


def _alive(user: Any) -> bool:
    greenlet = getattr(user, "_greenlet", None)
    return greenlet is not None and not greenlet.dead


class Shipper:
    """Sends the recorder's complete seconds to the master."""

    def __init__(self, recorder: SecondRecorder, runner: WorkerRunner) -> None:
        self.recorder = recorder
        self.runner = runner

    def ship(self) -> None:
        batch = self.recorder.drain(clock())
        try:
            self.runner.send_message(_wire.SECONDS_MESSAGE, _message(batch))
        except Exception:
            # Keep the seconds for the next attempt rather than lose them.
            self.recorder.restore(batch.seconds)
            logger.exception("could not send measurements to the master; will retry")

    def ship_forever(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL)
            self.ship()


def probe_lag_forever(recorder: SecondRecorder) -> None:
    """Sleep briefly, again and again, and tell the recorder how late each wake-up was and
    how much CPU the process used meanwhile."""
    cpu, last = time.process_time(), clock()
    while True:
        due = clock() + PROBE_INTERVAL
        recorder.probe_sleeping(due)
        gevent.sleep(PROBE_INTERVAL)
        now, used = clock(), time.process_time()
        recorder.probe_woke(due=due, now=now, cpu_seconds=used - cpu, wall=now - last)
        cpu, last = used, now


def record_requests(recorder: SecondRecorder) -> Callable[..., None]:
    """A listener for locust's request event that records into ``recorder``."""

    # Every argument locust's clients pass is named: keyword arguments left for ``**_``
    # are inserted one by one into its dict, and this runs once per request.
    def on_request(
        *,
        response_time: float,
        exception: object = None,
        start_time: float | None = None,
        response: object = None,
        context: object = None,
        request_type: object = None,
        name: object = None,
        url: object = None,
        response_length: object = None,
        **_: Any,
    ) -> None:
        stamp = context.get(STAMP_KEY) if context and isinstance(context, dict) else None
        if isinstance(stamp, Stamp):
            if exception is None and stamp.done is None:
                stamp.answered = True  # the common case: nothing else to do
                return
            # Only the reason is kept, not the response: a stamp waits for ``flush``.
            recorder.answer(stamp, _failure(exception, response), response_time=response_time / 1e3)
            return
        if start_time is None:  # custom clients may leave it out
            start_time = clock() - response_time / 1000.0
        reason = _failure(exception, response)
        if reason is None:
            recorder.record_ok(start_time=start_time, latency_ms=response_time)
        else:
            recorder.record_failure(start_time=start_time, reason=reason, latency_ms=response_time)

    return on_request


def _failure(exception: object, response: object) -> str | None:
    if exception is None:
        return None
    return failure_reason(exception, getattr(response, "status_code", None))


def bracket_requests(recorder: SecondRecorder, schedules: Schedules) -> None:
    """Count each request of locust's clients as sent (``SecondRecorder.send`` or its
    user's schedule), stamp it with its intended time, hand the stamp to the recorder when
    the call returns, and tell the schedules when task runs start.

    Covers FastHttpUser and HttpUser clients and ``events.request.measure``; HttpUser
    requests without a timeout get the default one.
    """
    FastHttpSession.request = _bracketed(  # type: ignore[method-assign]
        FastHttpSession.request, recorder, schedules
    )
    HttpSession.request = _bracketed(  # type: ignore[method-assign]
        HttpSession.request,
        recorder,
        schedules,
        default_timeout=runtime.DEFAULT_REQUEST_TIMEOUT,
    )
    original_measure = EventHook.measure
    context_at = _positional_index(original_measure, "context")

    @contextmanager
    def measure(self: EventHook, *args: Any, **kwargs: Any) -> Iterator[Any]:
        now = clock()
        stamp = _stamp(recorder, schedules.of_current_greenlet() if schedules.active else None, now)
        try:
            args, kwargs = _with_stamp(args, kwargs, context_at, stamp)
            with original_measure(self, *args, **kwargs) as request_meta:
                yield request_meta
        finally:
            stamp.done = clock()
            recorder.finished.append(stamp)

    EventHook.measure = measure  # type: ignore[method-assign]
    for taskset in (TaskSet, DefaultTaskSet):
        taskset.execute_task = _announcing(  # type: ignore[method-assign]
            vars(taskset)["execute_task"], schedules
        )


def _announcing(
    execute_task: Callable[[Any, Any], None], schedules: Schedules
) -> Callable[[Any, Any], None]:
    @functools.wraps(execute_task)
    def announcing(taskset: Any, task: Any) -> None:
        # A nested TaskSet is not a task run: its own tasks are.
        if schedules.active and not (isinstance(task, type) and issubclass(task, TaskSet)):
            schedule = schedules.of_user_running_here(taskset.user)
            if schedule is not None:
                schedule.start(clock())
        execute_task(taskset, task)

    return announcing


def _stamp(recorder: SecondRecorder, schedule: UserSchedule | None, now: float) -> Stamp:
    """A request is sent ``now``: count it, and stamp it with its intended time."""
    if schedule is not None:
        return Stamp(schedule.request(now), now)
    return recorder.send(now)


def _positional_index(function: Callable[..., Any], name: str) -> int:
    """Where ``name`` sits among the positional arguments after ``self``."""
    parameters = list(inspect.signature(function).parameters)
    return parameters.index(name) - 1


def _with_stamp(
    args: tuple[Any, ...], kwargs: dict[str, Any], context_at: int, stamp: Stamp
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if len(args) > context_at:
        given = args[context_at] or {}
        args = (*args[:context_at], {**given, STAMP_KEY: stamp}, *args[context_at + 1 :])
    else:
        kwargs["context"] = {**(kwargs.get("context") or {}), STAMP_KEY: stamp}
    return args, kwargs


def _bracketed(
    request: Callable[..., Any],
    recorder: SecondRecorder,
    schedules: Schedules,
    *,
    default_timeout: float | None = None,
) -> Callable[..., Any]:
    context_at = _positional_index(request, "context")
    finished, send = recorder.finished.append, recorder.send
    monotonic = time.monotonic  # ``clock()`` inlined (twice below): this runs per request

    @functools.wraps(request)
    def bracketed(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The send time is read first and the recording is left for later, so the latency
        # covers what the user's own timing around the call would, and recording is in
        # neither.
        now = monotonic() + _EPOCH_OFFSET
        if default_timeout is not None:
            kwargs.setdefault("timeout", (default_timeout, default_timeout))
        if schedules.active:
            user = getattr(self, "user", None)  # a session made by hand may have none
            schedule = (
                schedules.of_user(user) if user is not None else schedules.of_current_greenlet()
            )
            stamp = _stamp(recorder, schedule, now)
        else:
            stamp = send(now)
        try:
            if len(args) > context_at:
                args, kwargs = _with_stamp(args, kwargs, context_at, stamp)
            else:  # ``_with_stamp``'s keyword case, inlined
                given = kwargs.get("context")
                kwargs["context"] = {**given, STAMP_KEY: stamp} if given else {STAMP_KEY: stamp}
            return request(self, *args, **kwargs)
        finally:
            stamp.done = monotonic() + _EPOCH_OFFSET
            finished(stamp)

    return bracketed


class LocustStatistics:
    """Whether locust's own request statistics (``runner.stats``, ``environment.stats``,
    ``runner.errors``) are recorded: by the listeners locust's runner adds to the request
    event, taken off unless wanted. chaoskit's per-second measurements replace them, and
    recording both slows a saturated worker down (bench/README.md has the figure). They are
    wanted when the load says so (``Locust.locust_stats``, sent before each start) or, by
    default, when the locust file's text mentions ``stats``."""

    def __init__(
        self, hook: Any, listeners: Sequence[Callable[..., Any]], *, locustfile: str
    ) -> None:
        self._hook = hook
        self._listeners = listeners
        self._by_default = "stats" in Path(locustfile).read_text(errors="replace")
        self._recording = True

    def record(self, wanted: bool | None) -> None:
        """Record them if ``wanted`` (None: as the locust file's text suggests)."""
        wanted = self._by_default if wanted is None else wanted
        if wanted == self._recording:
            return
        for listener in self._listeners:
            if wanted:
                self._hook.add_listener(listener)
            else:
                self._hook.remove_listener(listener)
        self._recording = wanted


def create_runner(
    environment: Environment, master_host: str, master_port: int, *, locustfile: str
) -> tuple[WorkerRunner, LocustStatistics]:
    """Locust's worker runner, connected to the master, and the switch for the statistics
    it records (off unless the locust file's text mentions them)."""
    hook: Any = environment.events.request
    added: list[Callable[..., Any]] = []
    add_listener = hook.add_listener

    def noting_add_listener(listener: Callable[..., Any]) -> Any:
        added.append(listener)
        return add_listener(listener)

    # On the process's one request event, until the runner is connected (which may take a
    # while: a remote worker waits for its master). The locust file's own listeners were
    # added when it was imported, before this; ``events.init`` fires after.
    hook.add_listener = noting_add_listener
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    finally:
        del hook.add_listener
    statistics = LocustStatistics(hook, added, locustfile=locustfile)
    statistics.record(None)
    return runner, statistics


def _message(batch: Batch) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "watermark": batch.watermark,
        "seconds": [stats.to_json() for stats in batch.seconds],
        "partial": [stats.to_json() for stats in batch.partial],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    runtime.configure_logging()
    if args.exit_with_stdin:
        gevent.spawn(_exit_at_end_of_stdin)
    try:
        user_classes, _shape = runtime.load_locustfile(args.locustfile)
    except runtime.LocustfileError as error:
        print(error, file=sys.stderr)
        return EXIT_ERROR
    request_timeout = runtime.apply_request_timeouts(user_classes)
    recorder = SecondRecorder(grace=request_timeout + runtime.STOP_MARGIN)
    schedules = Schedules(recorder)
    schedules.install(user_classes)
    bracket_requests(recorder, schedules)
    environment = Environment(user_classes=user_classes, events=locust.events)
    events: Any = environment.events  # locust's EventHook methods are untyped
    events.request.add_listener(record_requests(recorder))
    runner, locust_statistics = create_runner(
        environment, args.master_host, args.master_port, locustfile=args.locustfile
    )
    shipper = Shipper(recorder, runner)

    def on_schedule(environment: Environment, msg: Any, **_: Any) -> None:
        rate = msg.data.get("rate_per_user")
        schedules.set_rate(None if rate is None else float(rate))
        locust_statistics.record(msg.data.get("locust_stats"))

    def on_test_stopping(**_: Any) -> None:
        recorder.stop_schedules(clock())

    def on_test_stop(**_: Any) -> None:
        recorder.stop_schedules(clock())
        # Users have stopped and their requests are recorded: ship now, so the measurements
        # reach the master before this worker reports itself stopped.
        shipper.ship()
        # Locust keeps a stopped worker away from the master for stop_timeout more seconds
        # before it may be started again; there is nothing left to wait for.
        environment.stop_timeout = 0.0

    runner.register_message(_wire.SCHEDULE_MESSAGE, on_schedule)
    events.test_stopping.add_listener(on_test_stopping)
    events.test_stop.add_listener(on_test_stop)
    events.init.fire(environment=environment, runner=runner, web_ui=None)
    runner.greenlet.spawn(shipper.ship_forever)
    runner.greenlet.spawn(probe_lag_forever, recorder)
    runner.greenlet.join()
    return 0


def _exit_at_end_of_stdin() -> None:
    for _ in runtime.stdin_lines():
        pass
    # The driver is gone or closing: there is no one left to ship measurements to.
    os._exit(0)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.load._locust.worker")
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=_wire.DEFAULT_MASTER_PORT)
    parser.add_argument("--locustfile", required=True)
    parser.add_argument("--exit-with-stdin", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
