"""The local fault proxy vs a direct connection on 127.0.0.1, in one run.

    python bench/proxy.py

Servers (an echo and a sink, blocking threads in their own process) are fronted by the local
environment's proxy as external TCP targets, exactly as a user's service would be. Measured:

- ``overhead_p50_ms``: median round trip of a 200-byte ping-pong through the proxy minus the
  direct median (no fault active);
- ``throughput_ratio``: MB/s of a one-way stream of 64 KiB writes through the proxy over
  direct (median of the repeats);
- ``http_overhead_p50_ms``: the same for a small HTTP request and response through an HTTP
  target, whose proxy frames every message (no fault active);
- ``latency100_p50_err_ms`` / ``latency100_jitter20_p50_err_ms``: with a 100 ms latency fault
  (without and with 20 ms jitter), how far the added median round trip (proxied with the
  fault minus direct) is from 100 ms.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from chaoskit import faults
from chaoskit.providers.local import LocalEnvironment

_SERVERS = textwrap.dedent(
    """
    import socket, threading

    def serve(listener, handle):
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def sink(conn):
        # 8 bytes of length, then that many bytes; answers one byte once all arrived.
        with conn:
            total = int.from_bytes(conn.recv(8, socket.MSG_WAITALL), "big")
            buffer = memoryview(bytearray(1 << 20))
            received = 0
            while received < total and (n := conn.recv_into(buffer)):
                received += n
            conn.sendall(b"k")

    def http(conn):
        # One small answer per request head (requests carry no body here).
        with conn:
            buffer = b""
            while data := conn.recv(65536):
                buffer += data
                while b"\\r\\n\\r\\n" in buffer:
                    _, buffer = buffer.split(b"\\r\\n\\r\\n", 1)
                    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")

    ports = []
    for handle in (echo, sink, http):
        listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        ports.append(listener.getsockname()[1])
        threading.Thread(target=serve, args=(listener, handle), daemon=True).start()
    print(*ports, flush=True)
    threading.Event().wait()
    """
)

PAYLOAD = b"p" * 200
HTTP_REQUEST = b"GET /products/1 HTTP/1.1\r\nHost: bench\r\n\r\n"
HTTP_RESPONSE_BYTES = len(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
CHUNK = b"t" * 65536


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips(port: int, count: int, *, http: bool = False) -> list[float]:
    """Seconds per 200-byte ping-pong (or small HTTP request and response) on one
    connection, after a short warm-up."""
    message, expected = (HTTP_REQUEST, HTTP_RESPONSE_BYTES) if http else (PAYLOAD, len(PAYLOAD))
    times = []
    with connect(port) as sock:
        for index in range(count + 50):
            started = time.perf_counter()
            sock.sendall(message)
            received = 0
            while received < expected:
                received += len(sock.recv(65536))
            if index >= 50:
                times.append(time.perf_counter() - started)
    return times


def parallel_round_trips(port: int, *, connections: int, count: int) -> list[float]:
    """Round trips on several connections at once: each draws its own jittered delays, so
    the median rests on ``connections * count`` samples in the time of ``count``."""
    with ThreadPoolExecutor(connections) as pool:
        runs = pool.map(lambda _: round_trips(port, count), range(connections))
        return [sample for run in runs for sample in run]


def throughput_mbps(port: int, total: int) -> float:
    with connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(total.to_bytes(8, "big"))
        for _ in range(total // len(CHUNK)):
            sock.sendall(CHUNK)
        assert sock.recv(1) == b"k"
        return total / (time.perf_counter() - started) / 1e6


def proxy_port(env: LocalEnvironment, name: str) -> int:
    port = urlsplit(env.target(name).url).port
    assert port is not None
    return port


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--round-trips", type=int, default=4000)
    parser.add_argument("--stream-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    servers = subprocess.Popen([sys.executable, "-c", _SERVERS], stdout=subprocess.PIPE, text=True)
    assert servers.stdout is not None
    echo_port, sink_port, http_port = map(int, servers.stdout.readline().split())
    targets = {
        "echo": {"upstreams": [f"127.0.0.1:{echo_port}"], "protocol": "tcp"},
        "sink": {"upstreams": [f"127.0.0.1:{sink_port}"], "protocol": "tcp"},
        "web": {"upstreams": [f"127.0.0.1:{http_port}"]},  # HTTP: requests are framed
    }
    try:
        with LocalEnvironment.start(targets) as env:
            via_echo, via_sink = proxy_port(env, "echo"), proxy_port(env, "sink")

            # Alternate direct and proxied blocks so both see the same machine load.
            direct: list[float] = []
            proxied: list[float] = []
            for _ in range(args.repeats):
                direct += round_trips(echo_port, args.round_trips // args.repeats)
                proxied += round_trips(via_echo, args.round_trips // args.repeats)
            overhead = median_ms(proxied) - median_ms(direct)
            print(
                f"round trip p50: direct {median_ms(direct):.4f} ms, proxied "
                f"{median_ms(proxied):.4f} ms ({len(direct)} each)"
            )
            via_web = proxy_port(env, "web")
            http_direct: list[float] = []
            http_proxied: list[float] = []
            for _ in range(args.repeats):
                http_direct += round_trips(http_port, args.round_trips // args.repeats, http=True)
                http_proxied += round_trips(via_web, args.round_trips // args.repeats, http=True)
            http_overhead = median_ms(http_proxied) - median_ms(http_direct)
            print(
                f"HTTP request p50: direct {median_ms(http_direct):.4f} ms, through the framing "
                f"proxy {median_ms(http_proxied):.4f} ms"
            )

            total = args.stream_mb * 1024 * 1024
            direct_rates, proxied_rates = [], []
            for _ in range(args.repeats):
                direct_rates.append(throughput_mbps(sink_port, total))
                proxied_rates.append(throughput_mbps(via_sink, total))
            direct_mbps = statistics.median(direct_rates)
            proxied_mbps = statistics.median(proxied_rates)
            print(
                f"throughput, {args.stream_mb} MiB in 64 KiB writes: direct "
                f"{', '.join(f'{r:.0f}' for r in direct_rates)} MB/s, proxied "
                f"{', '.join(f'{r:.0f}' for r in proxied_rates)} MB/s"
            )

            errors = {}
            for key, jitter in (("latency100", 0.0), ("latency100_jitter20", 0.020)):
                fault = faults.Latency(target="echo", delay=0.100, jitter=jitter)
                injection = fault.inject(fault.plan(env, random.Random(0)), env)
                try:
                    delayed = parallel_round_trips(via_echo, connections=10, count=300)
                finally:
                    injection.revert()
                # The same ten client threads, direct: what they add themselves cancels out.
                baseline = parallel_round_trips(echo_port, connections=10, count=300)
                added = median_ms(delayed) - median_ms(baseline)
                errors[key] = abs(added - 100.0)
                print(
                    f"{fault.describe()}: added p50 {added:.3f} ms over direct "
                    f"(min {min(delayed) * 1000:.2f}, max {max(delayed) * 1000:.2f} ms)"
                )
    finally:
        servers.kill()
        servers.wait()

    print(
        f"bench proxy: overhead_p50_ms={overhead:.4f} "
        f"throughput_ratio={proxied_mbps / direct_mbps:.3f} "
        f"latency100_p50_err_ms={errors['latency100']:.3f} "
        f"latency100_jitter20_p50_err_ms={errors['latency100_jitter20']:.3f} "
        f"http_overhead_p50_ms={http_overhead:.4f} "
        f"direct_p50_ms={median_ms(direct):.4f} direct_mbps={direct_mbps:.0f} "
        f"proxied_mbps={proxied_mbps:.0f}"
    )


if __name__ == "__main__":
    main()
