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
ships the complete seconds to the master about every half second, with the watermark, and
another the seconds not complete yet four times a second (live seconds, for the guardrail).

Scheduled users run the open model: the users of a class share one schedule
(``arrivals``), and when every one of them is busy a run goes to a new user of the pool, up
to this worker's share of ``max_users``, or is dropped (``pool``).

The pieces: ``schedules`` (which users run on a schedule, and their hooks), ``arrivals`` and
``pool`` (the open model), ``instrument``
(the wrapped clients, task runner and request listener), ``recorder`` (the per-second
measurements and the watermark, with ``lag``), ``locust_statistics`` (locust's own statistics,
off unless wanted) and ``timebase`` (``clock``: the monotonic clock, shifted once to the
epoch, so that the schedules do not burst or skip when NTP steps the system clock). This
module wires them together, ships the seconds and runs the lag probe.

The process exits when the master tells it to quit, or, when started with
``--exit-with-stdin`` (as the driver does), when stdin reaches its end (the driver closed
the pipe or died).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import gevent
import locust
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import WorkerRunner

from chaoskit.load import _wire
from chaoskit.load._locust import runtime
from chaoskit.load._locust.instrument import bracket_requests, record_requests
from chaoskit.load._locust.lag import PROBE_INTERVAL
from chaoskit.load._locust.locust_statistics import create_runner
from chaoskit.load._locust.pool import UserPool
from chaoskit.load._locust.recorder import Batch, SecondRecorder
from chaoskit.load._locust.schedules import Schedules
from chaoskit.load._locust.timebase import clock

SHIP_INTERVAL: Final = 0.5
# Between batches, the seconds not complete yet go out this often for the guardrail: a
# second's outstanding requests are judged a threshold's length after it ended, and each
# look waits for the next of these.
LIVE_INTERVAL: Final = 0.25
EXIT_ERROR: Final = 2

logger = logging.getLogger("chaoskit.load.worker")


class Shipper:
    """Sends the recorder's complete seconds to the master."""

    def __init__(self, recorder: SecondRecorder, runner: WorkerRunner) -> None:
        self.recorder = recorder
        self.runner = runner

    def ship(self) -> None:
        batch = self.recorder.drain(clock())
        try:
            self.runner.send_message(_wire.SECONDS_MESSAGE, _message(batch).to_json())
        except Exception:
            # Keep the seconds for the next attempt rather than lose them.
            self.recorder.restore(batch.seconds)
            logger.exception("could not send measurements to the master; will retry")

    def ship_forever(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL)
            self.ship()

    def ship_live(self) -> None:
        now = clock()
        live = _wire.WorkerLive(
            pid=os.getpid(),
            at=now,
            seconds=tuple(stats.to_json() for stats in self.recorder.live(now)),
        )
        try:
            self.runner.send_message(_wire.LIVE_MESSAGE, live.to_json())
        except Exception:
            # Nothing is lost: the next snapshot, or the complete second, replaces it.
            logger.exception("could not send live seconds to the master")

    def ship_live_forever(self) -> None:
        while True:
            gevent.sleep(LIVE_INTERVAL)
            self.ship_live()


def probe_lag_forever(recorder: SecondRecorder, users: Callable[[], int]) -> None:
    """Sleep briefly, again and again, and tell the recorder how late each wake-up was, how
    much CPU the process used meanwhile, and how many ``users`` ran."""
    cpu, last = time.process_time(), clock()
    while True:
        recorder.note_users(clock(), users())
        due = clock() + PROBE_INTERVAL
        recorder.lag.probe_sleeping(due)
        gevent.sleep(PROBE_INTERVAL)
        now, used = clock(), time.process_time()
        recorder.lag.probe_woke(due=due, now=now, cpu_seconds=used - cpu, wall=now - last)
        cpu, last = used, now


def _message(batch: Batch) -> _wire.WorkerBatch:
    return _wire.WorkerBatch(
        pid=os.getpid(),
        watermark=batch.watermark,
        seconds=tuple(stats.to_json() for stats in batch.seconds),
        partial=tuple(stats.to_json() for stats in batch.partial),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    runtime.configure_logging()
    if args.exit_with_stdin:
        gevent.spawn(_exit_at_end_of_stdin)
    try:
        user_classes, shape = runtime.load_locustfile(args.locustfile)
    except runtime.LocustfileError as error:
        print(error, file=sys.stderr)
        return EXIT_ERROR
    request_timeout = runtime.apply_request_timeouts(user_classes)
    recorder = SecondRecorder(grace=request_timeout + runtime.STOP_MARGIN)
    schedules = Schedules(recorder, open_model=shape is None)
    schedules.install(user_classes)
    bracket_requests(recorder, schedules)
    environment = Environment(user_classes=user_classes, events=locust.events)
    events: Any = environment.events  # locust's EventHook methods are untyped
    events.request.add_listener(record_requests(recorder))
    runner, locust_statistics = create_runner(
        environment, args.master_host, args.master_port, locustfile=args.locustfile
    )
    shipper = Shipper(recorder, runner)
    pool = UserPool(
        environment=environment,
        make_schedule=schedules.pooled,
        locust_users=lambda: runner.user_count,
        keeping_time=lambda: recorder.lag.keeping_time,
    )
    schedules.pool = pool
    stopping_pool: list[gevent.Greenlet[[float], None]] = []

    def on_schedule(environment: Environment, msg: Message, **_: object) -> None:
        schedule = _wire.Schedule.from_json(msg.data)
        schedules.set_rate(schedule.rate_per_user, schedule.max_users)
        locust_statistics.record(schedule.locust_stats)

    def on_stopping(environment: Environment, msg: Message, **_: object) -> None:
        recorder.stop_schedules(clock())

    def on_test_stopping(**_: object) -> None:
        recorder.stop_schedules(clock())
        # While locust stops its own users, not after them: both wait for runs in flight.
        stopping_pool.append(gevent.spawn(pool.stop, float(environment.stop_timeout or 0.0)))

    def on_test_stop(**_: object) -> None:
        while stopping_pool:
            stopping_pool.pop().join()
        recorder.stop_schedules(clock())
        # Users have stopped and their requests are recorded: ship now, so the measurements
        # reach the master before this worker reports itself stopped.
        shipper.ship()
        # Locust keeps a stopped worker away from the master for stop_timeout more seconds
        # before it may be started again; there is nothing left to wait for.
        environment.stop_timeout = 0.0

    runner.register_message(_wire.SCHEDULE_MESSAGE, on_schedule)
    runner.register_message(_wire.STOPPING_MESSAGE, on_stopping)
    events.test_stopping.add_listener(on_test_stopping)
    events.test_stop.add_listener(on_test_stop)
    events.init.fire(environment=environment, runner=runner, web_ui=None)
    runner.greenlet.spawn(shipper.ship_forever)
    runner.greenlet.spawn(shipper.ship_live_forever)
    runner.greenlet.spawn(probe_lag_forever, recorder, lambda: pool.size)
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
