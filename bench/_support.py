"""What the benchmarks share: a tiny HTTP target on 127.0.0.1 that counts what it served per
second, a bench-only locust file whose users time their own requests, exact percentiles,
and the closing ``bench NAME: ...`` line."""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

_TARGET = textwrap.dedent(
    """
    import asyncio, json, socket, sys, time

    served = {}
    answered = []  # when each request was answered (bench/stall.py's truth), epoch seconds

    async def serve(reader, writer):
        sock = writer.get_extra_info("socket")
        # Without it, a response split over two segments waits for a delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                if head.startswith(b"GET /served "):
                    body = json.dumps(served).encode()
                elif head.startswith(b"GET /answered "):
                    body = json.dumps(answered).encode()
                else:
                    now = time.time()
                    served[int(now)] = served.get(int(now), 0) + 1
                    if len(answered) < 1_000_000:
                        answered.append(now)
                    body = b"ok"
                writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body))
                writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
        print("PORT", server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
    """
)

# Users that time their own requests: the send and completion times around
# ``self.client.get``, and an intended time computed here, not from chaoskit's stamp. In
# chaoskit's open model every run starts on a free user at its intended time (a new user of
# the pool when all are busy), and the generator's own lateness is not latency: a request
# is intended when it was sent. ``slot`` (first task run plus one interval per run) is what a
# schedule per user would have intended, kept for the figures printed beside. Each worker
# writes its rows when the load stops.
TIMED_LOCUSTFILE = """
import os, time
from locust import FastHttpUser, constant_throughput, events, task

INTERVAL = 1 / {rate}
ROWS = []

class Shopper(FastHttpUser):
    wait_time = constant_throughput({rate})

    def on_start(self):
        self.first = None
        self.runs = 0
        self.free = 0.0

    def timed_get(self, path):
        # The clock right around the call, nothing else: the response is kept until the
        # clock is read (dropping it first would time its deallocation too, about 2 µs).
        sent = time.time()
        response = self.client.get(path)
        done = time.time()
        del response
        if self.first is None:
            self.first = sent
        slot = self.first + self.runs * INTERVAL
        self.runs += 1
        # A run goes to whichever user is free at its time: sent when intended, or later
        # only by the generator's own lateness, which is not latency.
        intended = sent
        self.free = done
        ROWS.append((intended, sent, done, slot))

    @task({weight})
    def products(self):
        self.timed_get("/products")

    @task(1)
    def home(self):
        self.timed_get("/")

@events.test_stop.add_listener
def write_rows(**_):
    with open(os.path.join({directory!r}, f"timed-{{os.getpid()}}.txt"), "a") as out:
        out.writelines(f"{{i!r}} {{s!r}} {{d!r}} {{t!r}}\\n" for i, s, d, t in ROWS)
    ROWS.clear()
"""


@dataclass(frozen=True, kw_only=True)
class Target:
    url: str
    process: subprocess.Popen[str]

    def served(self) -> dict[int, int]:
        """Requests answered per epoch second, by the target's own count."""
        with urllib.request.urlopen(f"{self.url}/served", timeout=10) as response:
            return {int(second): count for second, count in json.load(response).items()}

    def answered(self) -> list[float]:
        """When the target answered each request (its first million), in order."""
        with urllib.request.urlopen(f"{self.url}/answered", timeout=30) as response:
            return [float(at) for at in json.load(response)]


@contextmanager
def target() -> Iterator[Target]:
    """An HTTP/1.1 server answering every request at once with ``ok``, in its own process."""
    process = subprocess.Popen([sys.executable, "-c", _TARGET], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        yield Target(url=f"http://127.0.0.1:{port}", process=process)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def steady_rate(served: dict[int, int], *, trim: int = 2) -> tuple[float, int]:
    """Requests per second over the seconds with traffic, less ``trim`` at each end
    (start-up and stop); and how many seconds that is."""
    seconds = sorted(second for second, count in served.items() if count)
    steady = seconds[trim:-trim]
    return sum(served[s] for s in steady) / len(steady), len(steady)


def write_locustfile(directory: Path, body: str, name: str = "locustfile.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


def timed_locustfile(directory: Path, *, rate: float, weight: int = 3) -> Path:
    """The bench-only locust file whose users time their own requests into ``directory``."""
    return write_locustfile(
        directory,
        TIMED_LOCUSTFILE.format(rate=rate, weight=weight, directory=str(directory)),
        name="timed_locustfile.py",
    )


@dataclass(frozen=True, kw_only=True)
class Timed:
    intended: float  # epoch seconds, from the user's own schedule
    sent: float
    done: float
    slot: float  # the run's slot alone, counting the generator's lateness too

    @property
    def latency_us(self) -> float:
        """From the intended send time to the complete response."""
        return (self.done - self.intended) * 1e6


def timed_requests(directory: Path) -> list[Timed]:
    rows = []
    for path in directory.glob("timed-*.txt"):
        for line in path.read_text().splitlines():
            intended, sent, done, slot = (float(field) for field in line.split())
            rows.append(Timed(intended=intended, sent=sent, done=done, slot=slot))
    return rows


def exact_percentile(values: Sequence[float], percentile: float) -> float:
    """Nearest rank: the smallest value with at least ``percentile``% of values at or below."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def err_pct(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth * 100


def machine() -> str:
    cores = psutil.cpu_count(logical=True)
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.machine()} {cores} cores {memory:.0f} GiB, Python {platform.python_version()}"
    )


def bench_line(name: str, **figures: float) -> str:
    parts = " ".join(f"{key}={_plain(value)}" for key, value in figures.items())
    return f"bench {name}: {parts}"


def _plain(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
