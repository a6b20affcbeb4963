"""Each network fault of the local proxy, seen from a client on 127.0.0.1, and its removal.

The proxy fronts services the test runs itself (external targets): an HTTP server in its own
process and a TCP echo server in a thread, as a user's docker-compose ports would be.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import statistics
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from local_system_support import http_target
from threaded_server import ThreadedServer

from chaoskit import faults
from chaoskit.errors import ConfigError, InjectionError
from chaoskit.faults._removable import RemovableInjection
from chaoskit.providers.local import LocalEnvironment
from chaoskit.typing import Fault

pytestmark = pytest.mark.integration

SLACK = 0.08  # the suite shares two cores with whatever else runs


def echo_until_bye(conn: socket.socket) -> None:
    """Echoes every byte back; closes the connection when it receives ``bye``."""
    while data := conn.recv(65536):
        if data == b"bye":
            return
        conn.sendall(data)


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with http_target() as http_port:
        echo = ThreadedServer(echo_until_bye)
        environment = LocalEnvironment.start(
            {
                "api": {"upstreams": [f"127.0.0.1:{http_port}"]},
                "echo": {"upstreams": [f"127.0.0.1:{echo.port}"], "protocol": "tcp"},
            },
            startup_timeout=20,
        )
        yield environment
        environment.close()
        echo.close()


def inject(env: LocalEnvironment, fault: Fault) -> RemovableInjection:
    plan = fault.plan(env, random.Random(1))
    injection = fault.inject(plan, env)
    assert isinstance(injection, RemovableInjection)
    return injection


def address(env: LocalEnvironment, name: str) -> tuple[str, int]:
    parts = urlsplit(env.target(name).url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def tcp(env: LocalEnvironment, timeout: float = 3.0) -> socket.socket:
    sock = socket.create_connection(address(env, "echo"), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def echo_time(sock: socket.socket, payload: bytes = b"ping", *, peek: bool = False) -> float:
    """Seconds until ``payload`` came back; with ``peek`` it stays to be read again."""
    started = time.perf_counter()
    sock.sendall(payload)
    if peek:
        while len(sock.recv(len(payload), socket.MSG_PEEK)) < len(payload):
            time.sleep(0.001)
        return time.perf_counter() - started
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the echo came back"
        received += chunk
    assert received == payload
    return time.perf_counter() - started


def http_get(env: LocalEnvironment, path: str = "/") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*address(env, "api"), timeout=3)
    connection.request("GET", path)
    return connection.getresponse()


def test_latency_is_added_once_per_exchange_on_live_connections_and_removed(env):
    sock = tcp(env)  # opened before the fault: live connections are affected too
    assert echo_time(sock) < 0.05
    injection = inject(env, faults.Latency(target="echo", delay="200ms"))
    try:
        # 64 KiB comes back in several chunks; the delay is still added once.
        assert 0.2 - 0.005 <= echo_time(sock, b"x" * 65536) <= 0.2 + SLACK
    finally:
        injection.revert()
    assert echo_time(sock) < 0.05
    sock.close()


def test_upstream_latency_with_jitter_stays_within_its_spread(env):
    fault = faults.Latency(target="echo", delay="100ms", jitter="40ms", direction="upstream")
    injection = inject(env, fault)
    try:
        with tcp(env) as sock:
            samples = [echo_time(sock) for _ in range(12)]
    finally:
        injection.revert()
    assert all(0.06 - 0.005 <= sample <= 0.14 + SLACK for sample in samples)
    assert statistics.pstdev(samples) > 0.005  # jitter, not a constant


def test_bandwidth_limits_the_rate_and_removal_restores_it(env):
    payload = b"b" * 100_000
    injection = inject(env, faults.Bandwidth(target="echo", rate="200KB/s"))
    try:
        with tcp(env) as sock:
            limited = echo_time(sock, payload)
    finally:
        injection.revert()
    with tcp(env) as sock:
        free = echo_time(sock, payload)
    assert 0.5 - 0.02 <= limited <= 0.5 + 2 * SLACK  # 100 kB at 200 kB/s
    assert free < 0.1


def test_a_blackhole_swallows_bytes_until_it_is_removed_then_the_connection_works(env):
    sock = tcp(env, timeout=0.5)
    injection = inject(env, faults.Blackhole(target="echo"))
    try:
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(10)
    finally:
        injection.revert()
    assert echo_time(sock, b"back", peek=True) < 0.05
    sock.settimeout(0.2)
    assert sock.recv(10) == b"back"  # what the blackhole took is gone, not held
    sock.close()


def test_removing_bandwidth_or_slow_close_frees_a_live_connection_at_once(env):
    injection = inject(env, faults.Bandwidth(target="echo", rate="10KB/s"))
    with tcp(env, timeout=5) as sock:
        sock.sendall(b"z" * 200_000)  # 20 s at 10 kB/s
        time.sleep(0.3)
        injection.revert()
        started = time.perf_counter()
        received = 0
        while received < 200_000:
            received += len(sock.recv(65536))
        assert time.perf_counter() - started < 0.5

    injection = inject(env, faults.SlowClose(target="echo", delay="5s"))
    with tcp(env, timeout=5) as sock:
        sock.sendall(b"bye")  # the server closes; the proxy holds the close back
        time.sleep(0.3)
        injection.revert()
        started = time.perf_counter()
        assert sock.recv(10) == b""
        assert time.perf_counter() - started < 0.2


def test_reset_after_a_delay_and_a_pending_timeout_called_off_by_removal(env):
    injection = inject(env, faults.ResetConnections(target="echo", after="300ms"))
    try:
        with tcp(env) as sock:
            started = time.perf_counter()
            sock.sendall(b"first")
            assert sock.recv(10) == b"first"  # passes until the reset
            with pytest.raises(ConnectionResetError):
                assert sock.recv(10) == b"", "bytes arrived after the reset was due"
                pytest.fail("the connection was closed, not reset")
            assert 0.3 - 0.01 <= time.perf_counter() - started <= 0.3 + SLACK
    finally:
        injection.revert()

    injection = inject(env, faults.Timeout(target="echo", after="1s"))
    with tcp(env) as sock:
        sock.sendall(b"dropped")
        time.sleep(0.2)
        injection.revert()
        time.sleep(1.0)  # past when the timeout would have closed it
        assert echo_time(sock, b"alive") < 0.05


def test_reset_connections_resets_clients_and_stops_on_removal(env):
    injection = inject(env, faults.ResetConnections(target="api"))
    try:
        with pytest.raises(ConnectionResetError):
            http_get(env).read()
    finally:
        injection.revert()
    assert http_get(env).status == 200


def test_a_timeout_drops_bytes_then_closes_the_connection(env):
    injection = inject(env, faults.Timeout(target="echo", after="500ms"))
    try:
        with tcp(env) as sock:
            started = time.perf_counter()
            sock.sendall(b"never echoed")
            assert sock.recv(100) == b""  # closed, with nothing echoed
            closed_after = time.perf_counter() - started
    finally:
        injection.revert()
    assert 0.5 - 0.01 <= closed_after <= 0.5 + SLACK
    with tcp(env) as sock:
        assert echo_time(sock) < 0.05


def test_slow_close_holds_the_end_of_the_stream_back(env):
    def close_seen_after() -> float:
        with tcp(env) as sock:
            started = time.perf_counter()
            sock.sendall(b"bye")  # the echo server closes its side
            assert sock.recv(10) == b""
            return time.perf_counter() - started

    injection = inject(env, faults.SlowClose(target="echo", delay="300ms"))
    try:
        slow = close_seen_after()
    finally:
        injection.revert()
    assert 0.3 - 0.005 <= slow <= 0.3 + SLACK
    assert close_seen_after() < 0.05


def test_http_errors_answer_a_share_of_requests_without_reaching_the_service(env):
    def upstream_count() -> int:
        return int(json.loads(http_get(env, "/count").read()))

    before = upstream_count()
    connection = http.client.HTTPConnection(*address(env, "api"), timeout=3)
    injection = inject(env, faults.HttpErrors(target="api", status=503, toxicity="50%"))
    statuses = []
    try:
        for _ in range(200):  # one keep-alive connection: injected answers keep their order
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            if response.status == 503:
                assert response.headers["X-Chaoskit-Fault"] == "http_error"
    finally:
        injection.revert()
    injected = statuses.count(503)
    assert 60 <= injected <= 140  # 50 % of 200, far outside binomial noise
    assert statuses.count(200) == 200 - injected
    assert upstream_count() - before == 200 - injected
    connection.request("GET", "/")
    assert connection.getresponse().status == 200


def raw_http(env: LocalEnvironment, requests: bytes, count: int) -> list[bytes]:
    """Send ``requests`` (pipelined) on one connection; the status lines of ``count`` answers."""
    with socket.create_connection(address(env, "api"), timeout=3) as sock:
        sock.sendall(requests)
        reader = sock.makefile("rb")
        statuses = []
        for _ in range(count):
            statuses.append(reader.readline().split(b" ")[1])
            length = 0
            while (line := reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)
        return statuses


def test_http_errors_keep_their_place_among_pipelined_requests_with_bodies(env):
    post = b"POST /cart HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    chunked = (
        b"POST /cart HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    injection = inject(env, faults.HttpErrors(target="api", status=502, toxicity="50%"))
    try:
        statuses = raw_http(env, (get + post + chunked) * 20, count=60)
    finally:
        injection.revert()
    assert set(statuses) == {b"200", b"502"} and 15 <= statuses.count(b"502") <= 45


def test_a_request_a_blackhole_dropped_is_not_owed_an_answer_later(env):
    with socket.create_connection(address(env, "api"), timeout=0.3) as sock:
        injection = inject(env, faults.Blackhole(target="api", direction="upstream"))
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            with pytest.raises(TimeoutError):
                sock.recv(100)
        finally:
            injection.revert()
        errors = inject(env, faults.HttpErrors(target="api", status=503))
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 503")
        finally:
            errors.revert()


def test_toxicity_applies_a_fault_to_a_share_of_connections(env):
    injection = inject(env, faults.Latency(target="echo", delay="150ms", toxicity=0.5))
    try:
        delayed = 0
        for _ in range(40):
            with tcp(env) as sock:
                first, second = echo_time(sock), echo_time(sock)
            assert (first > 0.1) == (second > 0.1)  # decided once per connection
            delayed += first > 0.1
    finally:
        injection.revert()
    assert 8 <= delayed <= 32


def test_process_faults_on_an_external_service_are_refused_with_what_applies(env):
    # Refused when planned, before anything is injected (and by `chaoskit plan`).
    fault = faults.TerminateInstances(target="api")
    with pytest.raises(ConfigError, match=r"external service.*Latency"):
        fault.plan(env, random.Random(1))


def test_http_errors_need_an_http_target(env):
    fault = faults.HttpErrors(target="echo")
    with pytest.raises(InjectionError, match="needs an HTTP target"):
        fault.inject(fault.plan(env, random.Random(1)), env)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: faults.Bandwidth(target="echo", rate="fast"), "not a transfer rate"),
        (lambda: faults.Latency(target="echo", delay="1s", toxicity="150%"), "share above 0"),
        (lambda: faults.Latency(target="echo", delay="1s", direction="sideways"), "direction"),
        (lambda: faults.HttpErrors(target="api", status=200), "error status"),
        (lambda: faults.Timeout(target="echo", after=0), "after"),
    ],
)
def test_bad_fault_settings_are_refused_when_defined(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
