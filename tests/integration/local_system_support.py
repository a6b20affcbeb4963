"""What the local system's integration tests share: its processes, run and watched.

- ``family``, ``gone``, ``still_running``, ``wait_all_gone`` and ``kill_survivors`` follow the
  system and its replicas (psutil), so a test can assert that nothing outlives it;
- ``system_command`` runs ``python -m chaoskit.providers.local.system`` by hand and speaks
  JSON lines on its control port, for tests of the wire format itself;
- ``started_by_a_parent`` runs a script that starts the system in a process of its own, so a
  test can kill that parent and watch what dies with it;
- ``get`` makes one HTTP request on a fresh connection and reads the replica's id header;
- ``http_target`` runs ``http_target.py``, a small HTTP server to put behind the proxy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

SYSTEM_COMMAND = (sys.executable, "-m", "chaoskit.providers.local.system")
HTTP_TARGET = Path(__file__).with_name("http_target.py")


def family(pid: int) -> list[psutil.Process]:
    """``pid`` and every process under it."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def gone(process: psutil.Process) -> bool:
    """Exited; a zombie that is not our child waits for an init that may never reap it."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def still_running(processes: Sequence[psutil.Process]) -> list[int]:
    return [process.pid for process in processes if not gone(process)]


def retrying(seconds: float, *, interval: float = 0.1) -> Retrying:
    """Retry the ``with attempt:`` block while it raises AssertionError or OSError."""
    return Retrying(
        stop=stop_after_delay(seconds),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type((AssertionError, OSError)),
        reraise=True,
    )


def wait_all_gone(processes: Sequence[psutil.Process], seconds: float) -> None:
    """Return once every one of ``processes`` has exited; AssertionError naming the rest."""
    for attempt in retrying(seconds, interval=0.05):
        with attempt:
            assert still_running(processes) == []


def kill_survivors(processes: Sequence[psutil.Process]) -> None:
    """For a ``finally``: what a failed test left running must not outlive the suite."""
    for process in processes:
        if not gone(process):
            process.kill()


@dataclass
class ManualSystem:
    """The system run by hand: its process, its ready line and its control connection."""

    process: subprocess.Popen[bytes]
    ready: Mapping[str, Any]
    _lines: IO[bytes]

    @property
    def token(self) -> str:
        token: str = self.ready["token"]
        return token

    def ask(self, **request: object) -> Any:
        """Send ``request`` exactly as given (no token added); the decoded answer."""
        self._lines.write(json.dumps(request).encode() + b"\n")
        self._lines.flush()
        return json.loads(self._lines.readline())

    def call(self, **request: object) -> Any:
        """Send ``request`` with the system's token."""
        return self.ask(token=self.token, **request)


@contextlib.contextmanager
def system_command(config: Mapping[str, object]) -> Iterator[ManualSystem]:
    """``python -m chaoskit.providers.local.system CONFIG``, ready and connected; killed on
    exit (the tests end it themselves first, with the ``shutdown`` op)."""
    process = subprocess.Popen(
        [*SYSTEM_COMMAND, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        host, _, port = ready["control"].rpartition(":")
        control = socket.create_connection((host, int(port)), timeout=5)
        with control, control.makefile("rwb") as lines:
            yield ManualSystem(process=process, ready=ready, _lines=lines)
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def started_by_a_parent(script: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run ``script`` (which starts a LocalEnvironment and prints ``{"pid": env.pid}``) in a
    process of its own; yields that parent and the system's pid. The parent is killed on exit."""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        system_pid: int = json.loads(parent.stdout.readline())["pid"]
        yield parent, system_pid
    finally:
        parent.kill()
        parent.wait()


def get(address: str, path: str = "/health", *, timeout: float = 5) -> tuple[int, str, bytes]:
    """One request on a fresh connection to ``address`` (a replica's own, or the proxy's URL):
    the status, the ``X-Instance-Id`` of the replica that answered, and the body."""
    host, _, port = address.removeprefix("http://").rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers["X-Instance-Id"], response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def http_target() -> Iterator[int]:
    """``http_target.py`` listening on 127.0.0.1; yields its port, and ends it on exit."""
    server = subprocess.Popen([sys.executable, str(HTTP_TARGET)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline().split()[1])
    finally:
        server.terminate()
        server.wait()
