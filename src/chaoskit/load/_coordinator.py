"""The coordinator process: a locust master that the driver commands through pipes.

Run as ``python -m chaoskit.load._coordinator --locustfile F --workers N [--host URL]``.
It loads the locust file (the master needs the User classes to share users out), binds a
locust master runner to 127.0.0.1 on a free port, announces it, and waits for the driver's
N workers. Then it obeys commands read from stdin and relays, to stdout, each batch of
per-second measurements its workers send. ``chaoskit.load._wire`` describes the lines.

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

from chaoskit.load import _runtime, _wire

BIND_HOST: Final = "127.0.0.1"
WORKER_CONNECT_TIMEOUT: Final = 60.0
WORKER_POLL_INTERVAL: Final = 0.05
EXIT_ERROR: Final = 2


class _WorkersMissing(Exception):
    """Fewer workers are connected than expected (the message says how many)."""


class Coordinator:
    """A locust master runner that obeys the driver's commands and relays what workers
    measure."""

    def __init__(
        self, *, runner: MasterRunner, expected_workers: int, emit: Callable[..., None]
    ) -> None:
        self.runner = runner
        self.expected_workers = expected_workers
        self.emit = emit
        self._commands: Queue[dict[str, Any]] = Queue()
        self._quit = Event()
        self._quit_id: object = None
        runner.register_message(_wire.SECONDS_MESSAGE, self._relay)

    def serve(self) -> int:
        """Wait for the workers, then obey commands until ``quit`` or the end of stdin."""
        try:
            ids = self.await_workers(timeout=WORKER_CONNECT_TIMEOUT)
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
        for raw in _runtime.stdin_lines():
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
                    self._start(
                        users=int(command["users"]), spawn_rate=float(command["spawn_rate"])
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

    def _start(self, *, users: int, spawn_rate: float) -> None:
        # After a stop each worker leaves and re-joins the master; wait for all of them, or
        # the master would share the users among fewer workers.
        self.await_workers(timeout=WORKER_CONNECT_TIMEOUT)
        self.runner.start(users, spawn_rate=spawn_rate)

    def _relay(self, environment: Environment, msg: Any, **_: Any) -> None:
        data: Mapping[str, Any] = msg.data
        self.emit(
            event=_wire.SECONDS,
            worker=msg.node_id,
            pid=data.get("pid"),
            watermark=data["watermark"],
            seconds=data["seconds"],
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    protocol = _claim_stdout()

    def emit(**line: Any) -> None:
        protocol.write(_wire.dump(line))
        protocol.flush()

    _runtime.configure_logging()
    try:
        user_classes = _runtime.load_user_classes(args.locustfile)
        _require_host(user_classes, args.host, args.locustfile)
    except _runtime.LocustfileError as error:
        emit(event=_wire.ERROR, message=str(error))
        return EXIT_ERROR
    request_timeout = _runtime.apply_request_timeouts(user_classes)
    stop_timeout = request_timeout + _runtime.STOP_MARGIN
    environment = Environment(
        user_classes=user_classes,
        host=args.host,
        # The locust file's own hooks (@events.init, @events.test_start, ...) are registered
        # on the global events, as when locust runs it from the command line.
        events=locust.events,
        stop_timeout=stop_timeout,
    )
    runner = environment.create_master_runner(master_bind_host=BIND_HOST, master_bind_port=0)
    events: Any = environment.events  # locust's EventHook methods are untyped
    events.init.fire(environment=environment, runner=runner, web_ui=None)
    coordinator = Coordinator(runner=runner, expected_workers=args.workers, emit=emit)
    emit(
        event=_wire.READY,
        port=runner.server.port,
        stop_timeout=stop_timeout,
        request_timeout=request_timeout,
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
        raise _runtime.LocustfileError(
            f"{path}: {', '.join(hostless)} has no host and the load was given no url; set "
            f"host on the User class or give the target a url."
        )


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.load._coordinator")
    parser.add_argument("--locustfile", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--host", default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
