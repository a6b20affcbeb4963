"""Passthrough in the kernel (splice) of the local proxy: bytes exact, faults switch it off live.

The proxy runs in-process on the standard event loop and on uvloop (which the local system
process uses), in front of blocking servers in threads; clients are blocking sockets in
threads, so the event loop only proxies. Each test checks that the flows really were spliced
(where Linux allows it), so that the byte checks are about the spliced path.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from threaded_server import ThreadedServer

from chaoskit import faults
from chaoskit.providers.local import LocalEnvironment
from chaoskit.providers.local.system import splice
from chaoskit.providers.local.system.link import Link
from chaoskit.providers.local.system.proxy import Proxy
from chaoskit.vocabulary import NetworkFault

pytestmark = pytest.mark.integration

MB = 1024 * 1024
SPLICES = splice.AVAILABLE  # where splice exists, the tests insist it was used


def _loop_factories() -> list[object]:
    factories: list[object] = [pytest.param(None, id="asyncio")]
    try:
        import uvloop
    except ImportError:
        return factories
    return [*factories, pytest.param(uvloop.new_event_loop, id="uvloop")]


@pytest.fixture(params=_loop_factories())
def loop_factory(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop] | None:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = request.param
    return factory


# upstreams: blocking servers, a thread per connection


def echo(conn: socket.socket) -> None:
    """Every byte back; the end of the stream back too."""
    while data := conn.recv(MB):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def digest(conn: socket.socket) -> None:
    """Reads to the end of the stream, then answers its length and SHA-256 and closes."""
    hasher, count = hashlib.sha256(), 0
    while data := conn.recv(MB):
        hasher.update(data)
        count += len(data)
    conn.sendall(f"{count} {hasher.hexdigest()}\n".encode())


def source(conn: socket.socket) -> None:
    """On ``N SEED\\n``: N pseudo-random bytes from SEED, then the end of the stream."""
    line = b""
    while not line.endswith(b"\n"):
        line += conn.recv(1)
    count, seed = map(int, line.split())
    conn.sendall(random.Random(seed).randbytes(count))


# clients: blocking sockets in threads


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_all(sock: socket.socket, payload: bytes) -> None:
    view = memoryview(payload)
    for start in range(0, len(view), 64 * 1024):
        sock.sendall(view[start : start + 64 * 1024])


class Receiver:
    """Reads ``count`` bytes in a thread, hashing them; ``received`` shows the progress."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.received = 0
        self.hasher = hashlib.sha256()

    def read(self, count: int) -> bytes:
        """The SHA-256 of the next ``count`` bytes."""
        hasher = hashlib.sha256()
        goal = self.received + count
        while self.received < goal:
            data = self._sock.recv(min(MB, goal - self.received))
            assert data, f"the stream ended {goal - self.received} bytes early"
            hasher.update(data)
            self.hasher.update(data)
            self.received += len(data)
        return hasher.digest()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def round_trip(sock: socket.socket, receiver: Receiver, size: int = 200) -> float:
    message = os.urandom(size)
    started = time.monotonic()
    sock.sendall(message)
    assert receiver.read(size) == sha(message)
    return time.monotonic() - started


# the proxy in-process


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def the_link(proxy: Proxy) -> Link:
    (link,) = proxy._links
    return link


class Watch:
    """Samples, every millisecond on the proxy's loop, which flows of a link are spliced."""

    def __init__(self, proxy: Proxy) -> None:
        self.up = self.down = False
        self._task = asyncio.ensure_future(self._sample(proxy))

    async def _sample(self, proxy: Proxy) -> None:
        while True:
            for link in proxy._links:
                self.up = self.up or link.up.spliced
                self.down = self.down or link.down.spliced
            await asyncio.sleep(0.001)

    def stop(self) -> None:
        self._task.cancel()


@dataclass
class Stream:
    """A payload on its way through the proxy's echo and back, in client threads."""

    sock: socket.socket
    receiver: Receiver
    sending: asyncio.Future[None]
    reading: asyncio.Future[bytes]
    link: Link


async def started_stream(proxy: Proxy, port: int, payload: bytes) -> Stream:
    """Start echoing ``payload``; return once 2 MiB came back."""
    sock = connect(port)
    receiver = Receiver(sock)
    sending = asyncio.ensure_future(asyncio.to_thread(send_all, sock, payload))
    reading = asyncio.ensure_future(asyncio.to_thread(receiver.read, len(payload)))
    await until(lambda: receiver.received >= 2 * MB)
    link = the_link(proxy)
    return Stream(sock=sock, receiver=receiver, sending=sending, reading=reading, link=link)


async def spliced_stream(proxy: Proxy, port: int, payload: bytes) -> Stream:
    """``started_stream``, and where the kernel can, the link passes both ways through it."""
    stream = await started_stream(proxy, port, payload)
    if SPLICES:
        await until(lambda: stream.link.up.spliced and stream.link.down.spliced)
    return stream


def assert_sourced_and_spliced(received: bytes, size: int, seed: int, watch: Watch) -> None:
    """``received`` is the digest of what ``source`` sent for ``size seed``, and, where the
    kernel can, the responses went through it."""
    assert received == sha(random.Random(seed).randbytes(size))
    if SPLICES:
        assert watch.down, "the responses were never spliced"


def run_proxy(
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
    handle: Callable[[socket.socket], None],
    body: Callable[[Proxy, int], Awaitable[None]],
) -> None:
    server = ThreadedServer(handle)

    async def main() -> None:
        proxy = Proxy(health_path=None, http=False, health_interval=0.05)
        _, port = await proxy.start()
        proxy.add_upstream("a", "127.0.0.1", server.port)
        try:
            await until(lambda: proxy.is_healthy("a"))
            await body(proxy, port)
            # Every splicer was handed back when its link ended.
            await until(lambda: not proxy._links)
            assert splice._active == 0
        finally:
            await proxy.close()
        assert splice._active == 0

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    finally:
        server.close()


def test_a_large_payload_passes_byte_exact_both_ways_through_the_kernel(loop_factory):
    payload = os.urandom(50 * MB)

    async def body(proxy: Proxy, port: int) -> None:
        sock = connect(port)
        receiver = Receiver(sock)
        watch = Watch(proxy)
        sending = asyncio.ensure_future(asyncio.to_thread(send_all, sock, payload))
        echoed = await asyncio.to_thread(receiver.read, len(payload))
        await sending
        watch.stop()
        assert echoed == sha(payload)
        if SPLICES:
            assert watch.up and watch.down, "the flows were never spliced"
        sock.shutdown(socket.SHUT_WR)
        assert await asyncio.to_thread(sock.recv, 1) == b""  # the end came back too
        sock.close()

    run_proxy(loop_factory, echo, body)


def test_latency_added_mid_stream_switches_live_and_removal_switches_back(loop_factory):
    first, second = os.urandom(16 * MB), os.urandom(16 * MB)

    async def body(proxy: Proxy, port: int) -> None:
        stream = await started_stream(proxy, port, first)
        sock, receiver, link = stream.sock, stream.receiver, stream.link
        # Mid-stream, with the responses spliced: add 200 ms downstream latency.
        if SPLICES:
            await until(lambda: link.down.spliced or receiver.received >= len(first) - 2 * MB)
            assert link.down.spliced, "the responses were never spliced"
        assert receiver.received < len(first)
        handle = proxy.add_fault(["a"], NetworkFault(kind="latency", delay=0.2))
        await stream.sending
        assert await stream.reading == sha(first), "bytes lost, doubled or reordered at the switch"
        assert not link.down.spliced

        # The delay applies from then on; the requests, with no fault, can stay spliced.
        delayed = await asyncio.to_thread(round_trip, sock, receiver)
        assert 0.2 - 0.002 <= delayed < 0.2 + 0.25

        # Removing it lets a stream go back to the kernel, the delay gone.
        proxy.remove_fault(handle)
        watch = Watch(proxy)
        sending = asyncio.ensure_future(asyncio.to_thread(send_all, sock, second))
        assert await asyncio.to_thread(receiver.read, len(second)) == sha(second)
        await sending
        watch.stop()
        if SPLICES:
            assert watch.down, "the responses did not go back to the kernel"
        assert await asyncio.to_thread(round_trip, sock, receiver) < 0.15
        sock.close()

    run_proxy(loop_factory, echo, body)


def test_a_reset_added_mid_stream_resets_a_spliced_connection(loop_factory):
    payload = os.urandom(64 * MB)

    async def body(proxy: Proxy, port: int) -> None:
        stream = await spliced_stream(proxy, port, payload)
        proxy.add_fault(["a"], NetworkFault(kind="reset", direction="both"))
        outcomes = await asyncio.wait_for(
            asyncio.gather(stream.reading, stream.sending, return_exceptions=True), 10
        )
        # One error on the socket, reported to whichever thread asks first; the other then
        # sees a broken pipe or the end of the stream.
        assert any(isinstance(outcome, ConnectionResetError) for outcome in outcomes), outcomes
        assert all(isinstance(outcome, (ConnectionError, AssertionError)) for outcome in outcomes)
        assert stream.receiver.received < len(payload)
        stream.sock.close()

    run_proxy(loop_factory, echo, body)


def test_a_client_reset_mid_stream_ends_the_link_and_frees_the_pipes(loop_factory):
    payload = os.urandom(64 * MB)

    async def body(proxy: Proxy, port: int) -> None:
        stream = await spliced_stream(proxy, port, payload)
        stream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream.sock.shutdown(socket.SHUT_RDWR)  # wakes the client threads
        await asyncio.gather(stream.sending, stream.reading, return_exceptions=True)
        stream.sock.close()  # linger 0: a reset
        await until(lambda: stream.link.closed, timeout=5)

    run_proxy(loop_factory, echo, body)


def test_removing_the_upstream_aborts_a_spliced_link(loop_factory):
    payload = os.urandom(64 * MB)

    async def body(proxy: Proxy, port: int) -> None:
        stream = await spliced_stream(proxy, port, payload)
        proxy.remove_upstream("a")
        link = stream.link
        assert link.closed and not link.up.spliced and not link.down.spliced
        assert splice._active == 0
        outcomes = await asyncio.wait_for(
            asyncio.gather(stream.reading, stream.sending, return_exceptions=True), 10
        )
        assert all(isinstance(outcome, (ConnectionError, AssertionError)) for outcome in outcomes)
        stream.sock.close()

    run_proxy(loop_factory, echo, body)


def test_a_half_close_after_a_spliced_stream_still_gets_the_answer(loop_factory):
    payload = os.urandom(20 * MB)

    async def body(proxy: Proxy, port: int) -> None:
        sock = connect(port)
        watch = Watch(proxy)
        await asyncio.to_thread(send_all, sock, payload)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while data := await asyncio.to_thread(sock.recv, 4096):
            answer += data
        watch.stop()
        sock.close()
        assert answer == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode()
        if SPLICES:
            assert watch.up, "the requests were never spliced"

    run_proxy(loop_factory, digest, body)


def test_the_upstream_closing_after_a_spliced_stream_delivers_every_byte_first(loop_factory):
    size, seed = 30 * MB + 12345, 7

    async def body(proxy: Proxy, port: int) -> None:
        sock = connect(port)
        receiver = Receiver(sock)
        watch = Watch(proxy)
        sock.sendall(f"{size} {seed}\n".encode())
        received = await asyncio.to_thread(receiver.read, size)
        assert await asyncio.to_thread(sock.recv, 1) == b""
        watch.stop()
        sock.close()
        assert_sourced_and_spliced(received, size, seed, watch)

    run_proxy(loop_factory, source, body)


def test_a_slow_reader_never_has_held_bytes_overtaken(loop_factory):
    """Splicing starts only once the sink transport holds nothing: bytes it holds for a client
    that reads late must not be overtaken by spliced ones. (The proxy's socket to the client
    gets a small kernel buffer and its transport may hold 4 MiB before pausing the upstream,
    so the transport holds bytes when the flow first could splice.)"""
    size, seed = 24 * MB + 321, 3

    def read_late(sock: socket.socket) -> bytes:
        time.sleep(0.3)
        hasher, received = hashlib.sha256(), 0
        while received < size:
            data = sock.recv(min(MB, size - received))
            assert data, "the stream ended early"
            hasher.update(data)
            received += len(data)
        return hasher.digest()

    async def body(proxy: Proxy, port: int) -> None:
        sock = connect(port)
        await until(lambda: bool(proxy._links))
        client = the_link(proxy).client
        client.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * 1024)
        client.set_write_buffer_limits(high=4 * MB)
        watch = Watch(proxy)
        sock.sendall(f"{size} {seed}\n".encode())
        received = await asyncio.to_thread(read_late, sock)
        watch.stop()
        sock.close()
        assert_sourced_and_spliced(received, size, seed, watch)

    run_proxy(loop_factory, source, body)


def test_spliced_requests_still_start_a_new_exchange_for_delayed_responses(loop_factory):
    """Latency is drawn per exchange: a request that the kernel moves still ends the previous
    response's exchange, so each response draws its own delay."""

    async def body(proxy: Proxy, port: int) -> None:
        sock = connect(port)
        receiver = Receiver(sock)
        warm = os.urandom(4 * MB)
        sending = asyncio.ensure_future(asyncio.to_thread(send_all, sock, warm))
        assert await asyncio.to_thread(receiver.read, len(warm)) == sha(warm)
        await sending
        link = the_link(proxy)
        if SPLICES:
            await until(lambda: link.up.spliced)
        proxy.add_fault(["a"], NetworkFault(kind="latency", delay=0.06, jitter=0.05))
        delays = [await asyncio.to_thread(round_trip, sock, receiver, 64 * 1024) for _ in range(12)]
        if SPLICES:
            assert link.up.spliced, "the requests did not stay spliced"
        assert min(delays) >= 0.01 - 0.002
        # Twelve draws from [10 ms, 110 ms] all within 20 ms: about one in four million.
        assert max(delays) - min(delays) > 0.02, delays
        sock.close()

    run_proxy(loop_factory, echo, body)


@pytest.mark.skipif(not splice.AVAILABLE, reason="no os.splice here")
def test_a_quiet_spliced_connection_hands_its_descriptors_back(loop_factory, monkeypatch):
    monkeypatch.setattr(splice, "IDLE_SECONDS", 0.2)
    payload = os.urandom(4 * MB)

    async def stream(sock: socket.socket, receiver: Receiver) -> None:
        sending = asyncio.ensure_future(asyncio.to_thread(send_all, sock, payload))
        assert await asyncio.to_thread(receiver.read, len(payload)) == sha(payload)
        await sending

    async def body(proxy: Proxy, port: int) -> None:
        sock = connect(port)
        receiver = Receiver(sock)
        watch = Watch(proxy)
        await stream(sock, receiver)
        watch.stop()
        assert watch.up and watch.down
        link = the_link(proxy)
        await until(lambda: not link.up.spliced and not link.down.spliced, timeout=2)
        assert splice._active == 0
        await asyncio.to_thread(round_trip, sock, receiver)  # the connection still works
        watch = Watch(proxy)
        await stream(sock, receiver)
        watch.stop()
        assert watch.up and watch.down
        sock.close()

    run_proxy(loop_factory, echo, body)


@pytest.fixture
def echo_env() -> Iterator[tuple[LocalEnvironment, int]]:
    server = ThreadedServer(echo)
    environment = LocalEnvironment.start(
        {"echo": {"upstreams": [f"127.0.0.1:{server.port}"], "protocol": "tcp"}},
        startup_timeout=20,
    )
    try:
        port = urlsplit(environment.target("echo").url).port
        assert port is not None
        yield environment, port
    finally:
        environment.close()
        server.close()


def test_the_system_process_proxy_passes_a_large_payload_and_a_live_latency(echo_env):
    """The proxy as deployed (its own process, uvloop): byte-exact, and a fault added while a
    stream flows applies to it."""
    env, port = echo_env
    payload = os.urandom(50 * MB)
    with connect(port) as sock:
        receiver = Receiver(sock)
        sender = threading.Thread(target=send_all, args=(sock, payload))
        sender.start()
        while receiver.received < 20 * MB:
            receiver.read(MB)
        fault = faults.Latency(target="echo", delay=0.2)
        injection = fault.inject(fault.plan(env, random.Random(0)), env)
        try:
            receiver.read(len(payload) - receiver.received)
            sender.join()
            assert receiver.hasher.digest() == sha(payload)
            assert round_trip(sock, receiver) >= 0.2 - 0.002
        finally:
            injection.revert()
        assert round_trip(sock, receiver) < 0.15
