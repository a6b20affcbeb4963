"""The coordinator process: a locust master that the driver commands through pipes.

Run as ``python -m chaoskit.load._locust.coordinator --locustfile F --workers N [--host URL]
[--bind ADDRESS] [--port P]``. It loads the locust file (the master needs the User classes
to share users out), binds a locust master runner (127.0.0.1 on a free port by default),
announces it, and waits for N workers: the driver's local ones, and in distributed mode
those started on other machines (``chaoskit worker``). Then it obeys commands read from
stdin and relays, to stdout, each batch of per-second measurements its workers send.
``chaoskit.load._wire`` describes the lines.

When the locust file defines a ``LoadTestShape``, ``start`` runs the shape instead of the
command's user count: locust's shape worker changes the users once a second as ``tick()``
says. In library mode a shape that ends (``tick()`` returns None) only stops the users;
the processes stay up for the next ``start``, as with the driver's own ``stop``.

Everything here runs on gevent's hub (``import locust`` patches the process): stdin is read
cooperatively, and a command that takes time (spawning, stopping) runs in its own greenlet
so that relaying measurements never waits for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, Final

import gevent
import locust
from gevent.event import Event
from gevent.queue import Queue
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import MasterRunner
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from chaoskit.load import _wire
from chaoskit.load._locust import runtime

BIND_HOST: Final = "127.0.0.1"
WORKER_POLL_INTERVAL: Final = 0.05
EXIT_ERROR: Final = 2

logger = logging.getLogger("chaoskit.load.coordinator")


class _WorkersMissing(Exception):
    """Fewer workers are connected than expected (the message says how many)."""


class Coordinator:
    """A locust master runner that obeys the driver's commands and relays what workers
    measure."""

    def __init__(
        self,
        *,
        runner: MasterRunner,
        expected_workers: int,
        emit: Callable[[_wire.Event], None],
        connect_timeout: float,
        shaped: bool = False,
    ) -> None:
        self.runner = runner
        self.expected_workers = expected_workers
        self.emit = emit
        self.connect_timeout = connect_timeout
        self.shaped = shaped
        self._commands: Queue[_wire.Start | _wire.Stop] = Queue()
        self._quit = Event()
        self._quit_id: int | None = None
        runner.register_message(_wire.SECONDS_MESSAGE, self._relay)
        runner.register_message(_wire.LIVE_MESSAGE, self._relay_live)

    def serve(self) -> int:
        """Wait for the workers, then obey commands until ``quit`` or the end of stdin."""
        try:
            ids = self.await_workers(timeout=self.connect_timeout)
        except _WorkersMissing as missing:
            self.emit(_wire.CoordinatorFailed(message=str(missing)))
            self.runner.quit()
            return EXIT_ERROR
        self.emit(_wire.WorkersConnected(ids=tuple(ids)))
        reader = gevent.spawn(self._read_commands)
        executor = gevent.spawn(self._execute_commands)
        self._quit.wait()
        executor.kill()
        reader.kill()
        self.runner.quit()
        if self._quit_id is not None:
            self.emit(_wire.Ack(id=self._quit_id, command=_wire.QUIT))
        return 0

    def await_workers(self, *, timeout: float) -> list[str]:
        """Block (cooperatively) until the expected workers are connected and ready."""

        def connected() -> list[str]:
            ids = [node.id for node in self.runner.clients.ready]
            ids += [node.id for node in self.runner.clients.running]
            if len(ids) < self.expected_workers:
                raise _WorkersMissing(
                    f"{len(ids)} of {self.expected_workers} load workers connected to the "
                    f"locust master within {timeout:g}s; see the workers' output for why."
                )
            return sorted(ids)

        retrying = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(WORKER_POLL_INTERVAL),
            retry=retry_if_exception_type(_WorkersMissing),
            sleep=gevent.sleep,
            reraise=True,
        )
        return retrying(connected)

    def _read_commands(self) -> None:
        for raw in runtime.stdin_lines():
            try:
                command = _wire.decode_command(raw)
            except _wire.WireError as error:
                self._refuse(raw, error)
                continue
            if command is None:
                continue
            if isinstance(command, _wire.Quit):
                self._quit_id = command.id
                break
            self._commands.put(command)
        # Asked to quit, or stdin ended because the driver is gone: nobody would read on.
        self._quit.set()

    def _refuse(self, raw: bytes, error: _wire.WireError) -> None:
        """A command line the driver should never send: acknowledged with the error when it
        has an id to answer, else only logged."""
        line = _wire.load(raw) or {}
        command_id, name = line.get("id"), line.get("command")
        if isinstance(command_id, int) and not isinstance(command_id, bool):
            self.emit(_wire.Ack(id=command_id, command=str(name), error=str(error)))
        else:
            logger.error("unreadable command (%s): %r", error, raw[:200])

    def _execute_commands(self) -> None:
        while True:
            command = self._commands.get()
            try:
                if isinstance(command, _wire.Start):
                    self._start(command)
                else:
                    self.runner.send_message(_wire.STOPPING_MESSAGE)
                    self.runner.stop()
            except Exception as error:
                self.emit(_wire.Ack(id=command.id, command=command.NAME, error=_describe(error)))
            else:
                self.emit(_wire.Ack(id=command.id, command=command.NAME))

    def _start(self, command: _wire.Start) -> None:
        # After a stop each worker leaves and re-joins the master; wait for all of them, or
        # the master would share the users among fewer workers.
        workers = self.await_workers(timeout=self.connect_timeout)
        # Before the users: a worker's users take their schedule from it when they start.
        # The cap on users is over the whole load: each worker gets its share.
        for worker, max_users in zip(
            workers, _wire.shares(command.max_users, len(workers)), strict=True
        ):
            schedule = _wire.Schedule(
                rate_per_user=command.rate_per_user,
                locust_stats=command.locust_stats,
                max_users=max_users,
            )
            self.runner.send_message(_wire.SCHEDULE_MESSAGE, schedule.to_json(), client_id=worker)
        if self.shaped:
            self.runner.start_shape()
        else:
            self.runner.start(command.users, spawn_rate=command.spawn_rate)

    def _relay(self, environment: Environment, msg: Message, **_: object) -> None:
        # Relayed undecoded: the seconds keep their compact encoding up to the driver.
        batch = _wire.WorkerBatch.from_json(msg.data)
        self.emit(_wire.Seconds(worker=str(msg.node_id), batch=batch))

    def _relay_live(self, environment: Environment, msg: Message, **_: object) -> None:
        self.emit(_wire.Live(worker=str(msg.node_id), live=_wire.WorkerLive.from_json(msg.data)))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    protocol = _claim_stdout()

    def emit(event: _wire.Event) -> None:
        protocol.write(_wire.encode(event))
        protocol.flush()

    runtime.configure_logging()
    try:
        user_classes, shape = runtime.load_locustfile(args.locustfile)
        _require_host(user_classes, args.host, args.locustfile)
    except runtime.LocustfileError as error:
        emit(_wire.CoordinatorFailed(message=str(error)))
        return EXIT_ERROR
    request_timeout = runtime.apply_request_timeouts(user_classes)
    stop_timeout = request_timeout + runtime.STOP_MARGIN
    environment = Environment(
        user_classes=user_classes,
        host=args.host,
        # The locust file's own hooks (@events.init, @events.test_start, ...) are registered
        # on the global events, as when locust runs it from the command line.
        events=locust.events,
        stop_timeout=stop_timeout,
        shape_class=shape,
    )
    runner = environment.create_master_runner(
        master_bind_host=args.bind, master_bind_port=args.port
    )
    events: Any = environment.events  # locust's EventHook methods are untyped
    events.init.fire(environment=environment, runner=runner, web_ui=None)
    coordinator = Coordinator(
        runner=runner,
        expected_workers=args.workers,
        emit=emit,
        connect_timeout=args.connect_timeout,
        shaped=shape is not None,
    )
    emit(
        _wire.Ready(
            port=runner.server.port,
            stop_timeout=stop_timeout,
            request_timeout=request_timeout,
            shape=type(shape).__name__ if shape is not None else None,
        )
    )
    return coordinator.serve()


def _claim_stdout() -> IO[str]:
    """Keep stdout for protocol lines only: anything else printed (by the locust file, by a
    library) goes to stderr instead of corrupting the protocol."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return protocol


def _require_host(user_classes: list[type[locust.User]], host: str | None, path: str) -> None:
    if host:
        return
    hostless = [user_class.__name__ for user_class in user_classes if not user_class.host]
    if hostless:
        raise runtime.LocustfileError(
            f"{path}: {', '.join(hostless)} has no host and the load was given no url; set "
            f"host on the User class or give the target a url."
        )


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.load._locust.coordinator")
    parser.add_argument("--locustfile", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--host", default=None)
    parser.add_argument("--bind", default=BIND_HOST)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
