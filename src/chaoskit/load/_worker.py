"""A load worker process: a locust worker that records per-second measurements and ships them.

Run as ``python -m chaoskit.load._worker --master-host 127.0.0.1 --master-port P
--locustfile F``. It loads the locust file, connects a locust worker runner to the
coordinator's master, and runs the users the master gives it.

What is measured: for every request the users make, locust's request event gives its
``start_time`` (epoch seconds, taken just before sending) and its duration. The request
belongs to the second of its start time; a success adds its latency, measured from that
start, to the second's histogram; a failure counts under a short reason (``HTTP 503``, or
the exception class). ``_recorder.SecondRecorder`` holds the seconds; a greenlet ships the
complete ones to the master about every half second, with the watermark. The clients'
``request`` methods are bracketed so the recorder knows which requests are still in flight.

This is a closed-loop measurement: latency counts from the actual send, not from when a
fixed schedule meant to send. An intended-time schedule fits in the same path: its users
would report the intended send time as ``start_time``.

The process exits when the master tells it to quit, or when stdin reaches its end (the
driver closed the pipe or died).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import gevent
import locust
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.event import EventHook
from locust.runners import WorkerRunner

from chaoskit.load import _runtime, _wire
from chaoskit.load._recorder import Batch, SecondRecorder, failure_reason

SHIP_INTERVAL: Final = 0.5
EXIT_ERROR: Final = 2

logger = logging.getLogger("chaoskit.load.worker")


class Shipper:
    """Sends the recorder's complete seconds to the master."""

    def __init__(self, recorder: SecondRecorder, runner: WorkerRunner) -> None:
        self.recorder = recorder
        self.runner = runner

    def ship(self) -> None:
        batch = self.recorder.drain(time.time())
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


def record_requests(recorder: SecondRecorder) -> Callable[..., None]:
    """A listener for locust's request event that records into ``recorder``."""

    def on_request(
        *,
        response_time: float,
        exception: object = None,
        start_time: float | None = None,
        response: object = None,
        **_: Any,
    ) -> None:
        if start_time is None:  # custom clients may leave it out
            start_time = time.time() - response_time / 1000.0
        if exception is None:
            recorder.record_ok(start_time=start_time, latency_ms=response_time)
        else:
            reason = failure_reason(exception, getattr(response, "status_code", None))
            recorder.record_failure(start_time=start_time, reason=reason)

    return on_request


def bracket_requests(recorder: SecondRecorder) -> None:
    """Tell ``recorder`` when each request of locust's clients begins and ends.

    Covers FastHttpUser and HttpUser clients and ``events.request.measure``; HttpUser
    requests without a timeout get the default one.
    """
    FastHttpSession.request = _bracketed(FastHttpSession.request, recorder)  # type: ignore[method-assign]
    HttpSession.request = _bracketed(  # type: ignore[method-assign]
        HttpSession.request, recorder, default_timeout=_runtime.DEFAULT_REQUEST_TIMEOUT
    )
    original_measure = EventHook.measure

    @contextmanager
    def measure(self: EventHook, *args: Any, **kwargs: Any) -> Iterator[Any]:
        token = recorder.begin(time.time())
        try:
            with original_measure(self, *args, **kwargs) as request_meta:
                yield request_meta
        finally:
            recorder.end(token)

    EventHook.measure = measure  # type: ignore[method-assign]


def _bracketed(
    request: Callable[..., Any], recorder: SecondRecorder, *, default_timeout: float | None = None
) -> Callable[..., Any]:
    @functools.wraps(request)
    def bracketed(self: Any, *args: Any, **kwargs: Any) -> Any:
        if default_timeout is not None:
            kwargs.setdefault("timeout", (default_timeout, default_timeout))
        token = recorder.begin(time.time())
        try:
            return request(self, *args, **kwargs)
        finally:
            recorder.end(token)

    return bracketed


def _message(batch: Batch) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "watermark": batch.watermark,
        "seconds": [stats.to_json() for stats in batch.seconds],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    _runtime.configure_logging()
    gevent.spawn(_exit_at_end_of_stdin)
    try:
        user_classes = _runtime.load_user_classes(args.locustfile)
    except _runtime.LocustfileError as error:
        print(error, file=sys.stderr)
        return EXIT_ERROR
    request_timeout = _runtime.apply_request_timeouts(user_classes)
    recorder = SecondRecorder(grace=request_timeout)
    bracket_requests(recorder)
    environment = Environment(user_classes=user_classes, events=locust.events)
    events: Any = environment.events  # locust's EventHook methods are untyped
    events.request.add_listener(record_requests(recorder))
    runner = environment.create_worker_runner(args.master_host, args.master_port)
    shipper = Shipper(recorder, runner)

    def on_test_stop(**_: Any) -> None:
        # Users have stopped and their requests are recorded: ship now, so the measurements
        # reach the master before this worker reports itself stopped.
        shipper.ship()
        # Locust keeps a stopped worker away from the master for stop_timeout more seconds
        # before it may be started again; there is nothing left to wait for.
        environment.stop_timeout = 0.0

    events.test_stop.add_listener(on_test_stop)
    events.init.fire(environment=environment, runner=runner, web_ui=None)
    runner.greenlet.spawn(shipper.ship_forever)
    runner.greenlet.join()
    return 0


def _exit_at_end_of_stdin() -> None:
    for _ in _runtime.stdin_lines():
        pass
    # The driver is gone or closing: there is no one left to ship measurements to.
    os._exit(0)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.load._worker")
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--locustfile", required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
