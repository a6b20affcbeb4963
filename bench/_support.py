"""What the benchmarks share: a tiny HTTP target on 127.0.0.1, exact percentiles, raw
samples written by the load workers, and the closing ``bench NAME: ...`` line."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

# The workers write every request's timing here when this variable names a directory.
RAW_SAMPLES_VARIABLE = "CHAOSKIT_RAW_SAMPLES"

_TARGET = textwrap.dedent(
    """
    import asyncio, socket, sys

    async def serve(reader, writer):
        sock = writer.get_extra_info("socket")
        # Without it, a response split over two segments waits for a delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
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


@dataclass(frozen=True, kw_only=True)
class Target:
    url: str
    process: subprocess.Popen[str]


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


def write_locustfile(directory: Path, body: str) -> Path:
    path = directory / "locustfile.py"
    path.write_text(textwrap.dedent(body))
    return path


@dataclass(frozen=True, kw_only=True)
class Sample:
    intended: float  # epoch seconds
    sent: float
    latency_ms: float  # from the actual send, as locust measures it
    ok: bool

    @property
    def intended_latency_us(self) -> float:
        return (self.sent + self.latency_ms / 1000 - self.intended) * 1e6


def raw_samples(directory: Path) -> list[Sample]:
    samples = []
    for path in directory.glob("samples-*.txt"):
        for line in path.read_text().splitlines():
            intended, sent, latency, ok = line.split()
            samples.append(
                Sample(
                    intended=float(intended),
                    sent=float(sent),
                    latency_ms=float(latency),
                    ok=ok == "1",
                )
            )
    return samples


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


def child_environment(samples: Path | None) -> dict[str, str]:
    environment = dict(os.environ)
    if samples is not None:
        environment[RAW_SAMPLES_VARIABLE] = str(samples)
    return environment
