"""The local proxy in-process, against scripted upstreams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local.system.proxy import Proxy

pytestmark = pytest.mark.integration

HEALTH_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TIMING_SLACK = 0.06  # generous: the suite shares two cores with whatever else runs


class ScriptedUpstream:
    """Answers health checks; any other connection obeys one command per line:

    ``send N GAP_MS TAG`` sends N chunks ``TAG<i>;`` GAP_MS apart, ``who`` sends the
    upstream's name, ``close`` closes the connection.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> ScriptedUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                if line.startswith(b"GET /health"):
                    while await reader.readline() not in (b"\r\n", b""):
                        pass
                    writer.write(HEALTH_ANSWER)
                elif line == b"who\n":
                    writer.write(f"{self.name};".encode())
                elif line == b"close\n":
                    break
                else:
                    _, count, gap_ms, tag = line.decode().split()
                    for index in range(int(count)):
                        if index:
                            await asyncio.sleep(int(gap_ms) / 1000)
                        writer.write(f"{tag}{index};".encode())
        except ConnectionError:
            pass
        finally:
            writer.close()


class Client:
    """A client connection through the proxy that timestamps each ``;``-terminated token."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def ask(self, command: str, tokens: int) -> list[tuple[str, float]]:
        """Send ``command``; return each token received with seconds since sending."""
        started = time.monotonic()
        self.writer.write(command.encode() + b"\n")
        received = []
        for _ in range(tokens):
            token = await asyncio.wait_for(self.reader.readuntil(b";"), 3)
            received.append((token[:-1].decode(), time.monotonic() - started))
        return received

    def close(self) -> None:
        self.writer.close()


async def connect(proxy_port: int) -> Client:
    return Client(*await asyncio.open_connection("127.0.0.1", proxy_port))


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def with_proxy(
    names: list[str], body: Callable[[Proxy, int, list[ScriptedUpstream]], Awaitable[None]]
) -> None:
    upstreams = [await ScriptedUpstream(name).start() for name in names]
    proxy = Proxy(health_interval=0.05)
    _, port = await proxy.start()
    for upstream in upstreams:
        proxy.add_upstream(upstream.name, "127.0.0.1", upstream.port)
    try:
        await until(lambda: all(proxy.is_healthy(name) for name in names))
        await body(proxy, port, upstreams)
    finally:
        await proxy.close()
        for upstream in upstreams:
            await upstream.stop()


def test_each_chunk_is_delayed_from_its_own_arrival_not_serially():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        client = await connect(port)
        proxy.add_latency(["a"], delay=0.2, jitter=0.0)
        received = await client.ask("send 3 50 x", tokens=3)
        client.close()

        assert [token for token, _ in received] == ["x0", "x1", "x2"]
        for index, (_, elapsed) in enumerate(received):
            expected = 0.2 + 0.05 * index  # serial delaying would give 0.2, 0.4, 0.6
            assert expected - 0.005 <= elapsed <= expected + TIMING_SLACK

    asyncio.run(with_proxy(["a"], body))


def test_a_fault_reaches_live_connections_and_its_removal_keeps_byte_order():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        client = await connect(port)
        ((_, undelayed),) = await client.ask("send 1 0 warm", tokens=1)
        assert undelayed < TIMING_SLACK

        handle = proxy.add_latency(["a"], delay=0.2, jitter=0.0)
        ((_, delayed),) = await client.ask("send 1 0 live", tokens=1)
        assert 0.195 <= delayed <= 0.2 + TIMING_SLACK

        # b0 is scheduled for +200 ms; the fault goes at +50 ms; b1 arrives at +100 ms and
        # would go straight through, but must not overtake b0.
        asking = asyncio.ensure_future(client.ask("send 2 100 b", tokens=2))
        await asyncio.sleep(0.05)
        assert proxy.remove_fault(handle) is True
        received = await asking
        assert [token for token, _ in received] == ["b0", "b1"]
        assert received[1][1] >= received[0][1] >= 0.195

        ((_, after),) = await client.ask("send 1 0 after", tokens=1)
        assert after < TIMING_SLACK
        assert proxy.remove_fault(handle) is False
        client.close()

    asyncio.run(with_proxy(["a"], body))


def test_a_fault_only_touches_its_upstreams_and_jitter_stays_in_bounds():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        clients = {}
        for _ in range(2):
            client = await connect(port)
            ((name, _),) = await client.ask("who", tokens=1)
            clients[name] = client
        proxy.add_latency(["a"], delay=0.1, jitter=0.03)
        for _ in range(5):
            ((_, faulted),) = await clients["a"].ask("send 1 0 x", tokens=1)
            ((_, clean),) = await clients["b"].ask("send 1 0 y", tokens=1)
            assert 0.07 - 0.001 <= faulted <= 0.13 + TIMING_SLACK
            assert clean < TIMING_SLACK
        for client in clients.values():
            client.close()

    asyncio.run(with_proxy(["a", "b"], body))


def test_new_connections_go_round_robin_and_around_an_upstream_that_died():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        async def who() -> str:
            client = await connect(port)
            ((name, _),) = await client.ask("who", tokens=1)
            client.close()
            return name

        first = [await who() for _ in range(6)]
        assert sorted(first) == ["a", "a", "b", "b", "c", "c"]
        assert first[:3] == first[3:]

        await upstreams[1].stop()  # "b" dies; the health check has not noticed yet
        assert proxy.is_healthy("b")
        assert sorted([await who() for _ in range(6)]) == ["a", "a", "a", "c", "c", "c"]
        await until(lambda: not proxy.is_healthy("b"), timeout=1.0)

    asyncio.run(with_proxy(["a", "b", "c"], body))


def test_removing_an_upstream_cuts_its_connections_and_its_faults_refuse_it():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        client = await connect(port)
        await client.ask("who", tokens=1)
        proxy.remove_upstream("a")
        assert await asyncio.wait_for(client.reader.read(), 2) == b""
        assert [status.id for status in proxy.upstreams()] == []
        with pytest.raises(ProviderError, match="'a'"):
            proxy.add_latency(["a"], delay=0.1, jitter=0.0)

    asyncio.run(with_proxy(["a"], body))


def test_delayed_bytes_still_arrive_when_the_upstream_closes_first():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        proxy.add_latency(["a"], delay=0.15, jitter=0.0)
        client = await connect(port)
        started = time.monotonic()
        client.writer.write(b"send 1 0 last\nclose\n")
        assert await asyncio.wait_for(client.reader.read(), 2) == b"last0;"
        assert time.monotonic() - started >= 0.145

    asyncio.run(with_proxy(["a"], body))


def test_a_client_that_half_closes_still_gets_its_answer():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        client = await connect(port)
        client.writer.write(b"send 2 10 h\n")
        client.writer.write_eof()
        assert await asyncio.wait_for(client.reader.read(), 2) == b"h0;h1;"

    asyncio.run(with_proxy(["a"], body))


def test_bad_fault_values_are_refused():
    async def body(proxy: Proxy, port: int, upstreams: list[ScriptedUpstream]) -> None:
        with pytest.raises(ConfigError, match=r"delay=-0\.1"):
            proxy.add_latency(["a"], delay=-0.1, jitter=0.0)
        with pytest.raises(ConfigError, match="jitter=nan"):
            proxy.add_latency(["a"], delay=0.1, jitter=float("nan"))
        assert proxy.faults() == {}

    asyncio.run(with_proxy(["a"], body))
