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
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Final

import gevent
import locust
from gevent.event import Event
from gevent.queue import Queue
from locust.env import Environment
from locust.runners import MasterRunner
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from chaoskit.load import _wire
from chaoskit.load._locust import runtime

BIND_HOST: Final = "127.0.0.1"
WORKER_POLL_INTERVAL: Final = 0.05
EXIT_ERROR: Final = 2


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
        emit: Callable[..., None],
        connect_timeout: float,
        shaped: bool = False,
    ) -> None:
        self.runner = runner
        self.expected_workers = expected_workers
        self.emit = emit
        self.connect_timeout = connect_timeout
        self.shaped = shaped
        self._commands: Queue[dict[str, Any]] = Queue()
        self._quit = Event()
        self._quit_id: object = None
        runner.register_message(_wire.SECONDS_MESSAGE, self._relay)

    def serve(self) -> int:
        """Wait for the workers, then obey commands until ``quit`` or the end of stdin."""
        try:
            ids = self.await_workers(timeout=self.connect_timeout)
        except _WorkersMissing as missing:
            self.emit(event=_wire.ERROR, message=str(missing))
            self.runner.quit()
            return EXIT_ERROR
        self.emit(event=_wire.WORKERS, ids=ids)
        reader = gevent.spawn(self._read_commands)
        executor = gevent.spawn(self._execute_commands)
        self._quit.wait()
        executor.kill()
        reader.kill()
        self.runner.quit()
        if self._quit_id is not None:
            self.emit(event=_wire.ACK, id=self._quit_id, command=_wire.QUIT, error=None)
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
            command = _wire.load(raw)
            if command is None:
                continue
            if command.get("command") == _wire.QUIT:
                self._quit_id = command.get("id")
                break
            self._commands.put(command)
        # Asked to quit, or stdin ended because the driver is gone: nobody would read on.
        self._quit.set()

    def _execute_commands(self) -> None:
        while True:
            command = self._commands.get()
            name = command.get("command")
            try:
                if name == _wire.START:
                    rate = command.get("rate_per_user")
                    self._start(
                        users=int(command["users"]),
                        spawn_rate=float(command["spawn_rate"]),
                        rate_per_user=None if rate is None else float(rate),
                        locust_stats=command.get("locust_stats"),
                    )
                elif name == _wire.STOP:
                    self.runner.stop()
                else:
                    raise ValueError(f"unknown command {name!r}")
            except Exception as error:
                self.emit(
                    event=_wire.ACK, id=command.get("id"), command=name, error=_describe(error)
                )
            else:
                self.emit(event=_wire.ACK, id=command.get("id"), command=name, error=None)

    def _start(
        self,
        *,
        users: int,
        spawn_rate: float,
        rate_per_user: float | None,
        locust_stats: bool | None,
    ) -> None:
        # After a stop each worker leaves and re-joins the master; wait for all of them, or
        # the master would share the users among fewer workers.
        self.await_workers(timeout=self.connect_timeout)
        # Before the users: a worker's users take their schedule from it when they start.
        self.runner.send_message(
            _wire.SCHEDULE_MESSAGE,
            {"rate_per_user": rate_per_user, "locust_stats": locust_stats},
        )
        if self.shaped:
            self.runner.start_shape()
        else:
            self.runner.start(users, spawn_rate=spawn_rate)

    def _relay(self, environment: Environment, msg: Any, **_: Any) -> None:
        data: Mapping[str, Any] = msg.data
        self.emit(
            event=_wire.SECONDS,
            worker=msg.node_id,
            pid=data.get("pid"),
            watermark=data["watermark"],
            seconds=data["seconds"],
            partial=data.get("partial", []),
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    protocol = _claim_stdout()

    def emit(**line: Any) -> None:
        protocol.write(_wire.dump(line))
        protocol.flush()

    runtime.configure_logging()
    try:
        user_classes, shape = runtime.load_locustfile(args.locustfile)
        _require_host(user_classes, args.host, args.locustfile)
    except runtime.LocustfileError as error:
        emit(event=_wire.ERROR, message=str(error))
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
        event=_wire.READY,
        port=runner.server.port,
        stop_timeout=stop_timeout,
        request_timeout=request_timeout,
        shape=type(shape).__name__ if shape is not None else None,
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
