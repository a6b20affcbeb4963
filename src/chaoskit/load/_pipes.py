"""The load's child processes as the driver (pytest process) sees them: started with pipes,
their output drained into a short tail for error messages, and the coordinator's protocol
lines (``chaoskit.load._wire``) read by a thread of their own."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections import deque
from typing import IO, Final, TypeVar

from chaoskit._processes import child_environment
from chaoskit.load import _wire
from chaoskit.load._measurements import Measurements

OUTPUT_TAIL_LINES: Final = 30

# The events kept by kind: the last of each is what the driver waits for.
_Kept = TypeVar("_Kept", _wire.Ready, _wire.WorkersConnected, _wire.CoordinatorFailed)


class Process:
    """A child process whose output is drained into a short tail (a full pipe would block
    the child)."""

    def __init__(self, command: list[str], *, name: str, separate_stdout: bool = False) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stdout else subprocess.STDOUT,
            env=load_process_environment(),
            # Its own session: a Ctrl-C at the terminal reaches pytest, which closes the
            # driver, instead of killing the load processes under it mid-measurement.
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self._stdin_lock = threading.Lock()
        self._tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
        output = self.popen.stderr if separate_stdout else self.popen.stdout
        assert output is not None
        self._drainer = threading.Thread(
            target=self._drain, args=(output,), name=f"chaoskit-{name}-output", daemon=True
        )
        self._drainer.start()

    def send(self, command: _wire.Command) -> None:
        with self._stdin_lock:
            stdin = self.popen.stdin
            if stdin is None or stdin.closed:
                return
            try:
                stdin.write(_wire.encode(command).encode("utf-8"))
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # it has exited; the next check reports why

    def close_stdin(self) -> None:
        with self._stdin_lock:
            stdin = self.popen.stdin
            if stdin is not None and not stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()

    def returncode(self) -> int | None:
        return self.popen.poll()

    def tail(self) -> list[str]:
        if self.popen.poll() is not None:
            # Let the drainer read what the process wrote just before exiting.
            self._drainer.join(timeout=0.5)
        return list(self._tail)

    def reap(self, *, timeout: float) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._join_readers()
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()

    def _join_readers(self) -> None:
        self._drainer.join(timeout=1.0)

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._tail.append(raw.decode("utf-8", errors="replace").rstrip())


class CoordinatorProcess(Process):
    """The coordinator process and what its stdout said, parsed by a reader thread: the
    measurement batches go to ``measurements``, the other events are kept."""

    def __init__(self, command: list[str], measurements: Measurements) -> None:
        self._measurements = measurements
        self._lock = threading.Lock()
        self._events: dict[type[_wire.Event], _wire.Event] = {}
        self._acks: dict[int, _wire.Ack] = {}
        self._eof = threading.Event()
        super().__init__(command, name="load coordinator", separate_stdout=True)
        assert self.popen.stdout is not None
        self._reader = threading.Thread(
            target=self._read,
            args=(self.popen.stdout,),
            name="chaoskit-load-coordinator-reader",
            daemon=True,
        )
        self._reader.start()

    def event(self, kind: type[_Kept]) -> _Kept | None:
        """The last event of ``kind`` (``Ready``, ``WorkersConnected``,
        ``CoordinatorFailed``), if any."""
        with self._lock:
            found = self._events.get(kind)
        return found if isinstance(found, kind) else None

    def ack(self, command_id: int) -> _wire.Ack | None:
        with self._lock:
            return self._acks.get(command_id)

    def finished(self) -> bool:
        """True once its stdout has ended: it exited (or is exiting)."""
        return self._eof.is_set()

    def _join_readers(self) -> None:
        super()._join_readers()
        self._reader.join(timeout=1.0)

    def _take(self, event: _wire.Event) -> None:
        if isinstance(event, _wire.Seconds):
            batch = event.batch
            self._measurements.add(event.worker, batch.watermark, batch.seconds, batch.partial)
        elif isinstance(event, _wire.Live):
            self._measurements.add_live(event.worker, event.live.seconds)
            return
        with self._lock:
            if isinstance(event, _wire.Ack):
                self._acks[event.id] = event
            else:
                self._events[type(event)] = event

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                try:
                    event = _wire.decode_event(raw)
                    if event is not None:
                        self._take(event)
                except _wire.WireError as error:
                    self._tail.append(f"unreadable protocol line ({error!r}): {raw[:200]!r}")
        finally:
            self._eof.set()


def load_process_environment() -> dict[str, str]:
    """The environment of a load process: this one's, with this chaoskit importable."""
    environment = child_environment()
    # The load processes must be gevent-patched even if the user disabled it here.
    environment.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    return environment
