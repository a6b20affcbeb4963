"""How a load worker sees each request: locust's HTTP clients and ``events.request.measure``
wrapped to count a request as sent and stamp it with its intended send time, the task runner
wrapped to tell the schedules when a task run starts, and a listener on locust's request event
that leaves each outcome on its stamp (or records a request no wrapper saw).

Runs in a load worker process (imports locust, and patches its classes once, at start).
Everything here runs once per request or task run: the worker's hot path. Lookups are bound
to locals, ``clock()`` is inlined, and recording is left to ``SecondRecorder.flush`` between
task runs, so that a user timing its own call sees an append and nothing more.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from gevent import GreenletExit
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook
from locust.exception import (
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopTest,
    StopUser,
)
from locust.user.task import DefaultTaskSet, TaskSet

from chaoskit.load._locust import runtime
from chaoskit.load._locust.recorder import SecondRecorder, Stamp, UserSchedule, failure_reason
from chaoskit.load._locust.schedules import Schedules
from chaoskit.load._locust.task_failures import TaskFailureReasons
from chaoskit.load._locust.timebase import EPOCH_OFFSET, clock

# The key of a request's stamp in its locust ``context``.
STAMP_KEY: Final = "chaoskit_stamp"
# What a task raises to steer locust (stop, reschedule, leave a TaskSet): not a failure.
_CONTROL_FLOW: Final = (
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopTest,
    StopUser,
)

_Response = TypeVar("_Response")


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
        **_: object,
    ) -> None:
        stamp = context.get(STAMP_KEY) if context and isinstance(context, dict) else None
        if isinstance(stamp, Stamp):
            stamp.name = name
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
            recorder.record_ok(start_time=start_time, latency_ms=response_time, name=name)
        else:
            recorder.record_failure(
                start_time=start_time, reason=reason, latency_ms=response_time, name=name
            )

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
    # Patching locust's classes, once per process: mypy forbids assigning to a method.
    FastHttpSession.request = _bracketed(  # type: ignore[method-assign]  # patching locust
        FastHttpSession.request, recorder, schedules
    )
    HttpSession.request = _bracketed(  # type: ignore[method-assign]  # patching locust
        HttpSession.request,
        recorder,
        schedules,
        default_timeout=runtime.DEFAULT_REQUEST_TIMEOUT,
    )
    original_measure = EventHook.measure
    context_at = _positional_index(original_measure, "context")

    @contextmanager
    def measure(self: EventHook, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        now = clock()
        stamp = _stamp(recorder, schedules.of_current_greenlet() if schedules.active else None, now)
        try:
            args, kwargs = _with_stamp(args, kwargs, context_at, stamp)
            with original_measure(self, *args, **kwargs) as request_meta:
                yield request_meta
        finally:
            stamp.done = clock()
            recorder.finished.append(stamp)

    EventHook.measure = measure  # type: ignore[method-assign]  # patching locust
    reasons = TaskFailureReasons()  # one per process: its bound on distinct causes is too
    for taskset in (TaskSet, DefaultTaskSet):
        taskset.execute_task = _announcing(  # type: ignore[method-assign]  # patching locust
            vars(taskset)["execute_task"], recorder, schedules, reasons
        )


def _announcing(
    execute_task: Callable[[TaskSet, object], None],
    recorder: SecondRecorder,
    schedules: Schedules,
    reasons: TaskFailureReasons,
) -> Callable[[TaskSet, object], None]:
    @functools.wraps(execute_task)
    def announcing(taskset: TaskSet, task: object) -> None:
        # A nested TaskSet is not a task run: its own tasks are.
        if isinstance(task, type) and issubclass(task, TaskSet):
            execute_task(taskset, task)
            return
        schedule = schedules.of_user_running_here(taskset.user) if schedules.active else None
        if schedule is not None:
            schedule.start(clock())
        try:
            execute_task(taskset, task)
        except _CONTROL_FLOW:
            raise
        except Exception as error:
            # Locust only logs it and runs the next task: unrecorded, a locustfile that fails
            # every run would look like a quiet target, and an outage could pass. Counted
            # with its message, which says what is wrong (task_failures).
            recorder.run_raised(schedule, reasons.reason(error), now=clock())
            raise

    return announcing


def _stamp(recorder: SecondRecorder, schedule: UserSchedule | None, now: float) -> Stamp:
    """A request is sent ``now``: count it, and stamp it with its intended time."""
    if schedule is not None:
        return Stamp(schedule.request(now), now)
    return recorder.send(now)


def _positional_index(function: Callable[..., object], name: str) -> int:
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
    request: Callable[..., _Response],
    recorder: SecondRecorder,
    schedules: Schedules,
    *,
    default_timeout: float | None = None,
) -> Callable[..., _Response]:
    context_at = _positional_index(request, "context")
    finished, send = recorder.finished.append, recorder.send
    monotonic = time.monotonic  # ``clock()`` inlined (twice below): this runs per request

    # The arguments are locust's, passed through as they come.
    @functools.wraps(request)
    def bracketed(self: object, *args: Any, **kwargs: Any) -> _Response:
        # The send time is read first and the recording is left for later, so the latency
        # covers what the user's own timing around the call would, and recording is in
        # neither.
        now = monotonic() + EPOCH_OFFSET
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
        except GreenletExit:
            stamp.withdrawn = True  # killed unanswered: the recorder tells whose loss
            raise
        finally:
            stamp.done = monotonic() + EPOCH_OFFSET
            finished(stamp)

    return bracketed
