"""What the locust driver's integration tests share: the HTTP target they load (a process of
its own, ``http_target.py``, that counts what it answered), locust files written for a test,
and running a load for a while.

A test module imports ``target_fixture`` (``# noqa: F401``) to have the ``target`` fixture.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import SecondStats

TARGET_SCRIPT = Path(__file__).with_name("http_target.py")


@contextmanager
def http_target() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A fresh HTTP target on 127.0.0.1: its url and its process (to stop or stall it)."""
    process = subprocess.Popen(
        [sys.executable, str(TARGET_SCRIPT)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}", process
    finally:
        # Killed, not terminated: a test may leave it stopped (SIGSTOP), deaf to SIGTERM.
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module", name="target")
def target_fixture() -> Iterator[str]:
    """The url of an HTTP target shared by a module's tests (``served`` tells them apart)."""
    with http_target() as (url, _process):
        yield url


def served(url: str) -> int:
    """How many requests the target has answered (not counting this one)."""
    with urllib.request.urlopen(f"{url}/count", timeout=5) as response:
        return int(json.load(response))


def write_locustfile(directory: Path, body: str, name: str = "locustfile.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_for(spec: Locust, target: str, seconds: float) -> list[SecondStats]:
    """Run the load for ``seconds`` and collect every second it touched."""
    with LocustDriver(spec, host=target) as driver:
        began = time.time()
        driver.start()
        time.sleep(seconds)
        driver.stop()
        return driver.collect(began, time.time())
