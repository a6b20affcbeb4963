"""A load-balancing TCP proxy with health checks and per-upstream latency faults.

New client connections go round robin to healthy upstreams; a failed connect moves on to the
next one, so new connections never land on a dead replica. Latency faults delay the bytes an
upstream sends back, on live connections as well as new ones.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local.delayline import DelayLine

HEALTH_INTERVAL = 0.25
HEALTH_TIMEOUT = 0.5
CONNECT_TIMEOUT = 1.0
# One slow probe under CPU contention is not a dead replica; a refused connection is.
FAILED_PROBES_BEFORE_UNHEALTHY = 2
# Past this many delayed bytes on one connection, stop reading its upstream until they drain.
MAX_DELAYED_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class LatencyFault:
    delay: float
    jitter: float
    upstream_ids: frozenset[str]

    def sample(self, rng: random.Random) -> float:
        return max(0.0, self.delay + rng.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, kw_only=True)
class UpstreamStatus:
    id: str
    address: str
    healthy: bool
    connections: int


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Upstream:
    def __init__(self, upstream_id: str, host: str, port: int) -> None:
        self.id = upstream_id
        self.host = host
        self.port = port
        self.healthy = False
        self.failed_probes = 0
        self.links: set[_Link] = set()
        self.probe_task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class _Link:
    """One client connection and the upstream connection that serves it."""

    def __init__(self, proxy: Proxy, client: asyncio.Transport) -> None:
        self._proxy = proxy
        self._loop = asyncio.get_running_loop()
        self.client = client
        self.upstream: _Upstream | None = None
        self.upstream_transport: asyncio.Transport | None = None
        self.route_task: asyncio.Task[None] | None = None
        self.closed = False
        self._delayed = DelayLine()
        self._release_timer: asyncio.TimerHandle | None = None
        self._upstream_finished = False
        self._client_write_paused = False
        self._upstream_read_paused = False

    def upstream_connected(self, upstream: _Upstream, transport: asyncio.Transport) -> None:
        if self.closed:
            transport.abort()
            return
        _set_nodelay(transport)
        self.upstream = upstream
        self.upstream_transport = transport
        upstream.links.add(self)

    # upstream -> client, where latency faults apply

    def from_upstream(self, data: bytes) -> None:
        assert self.upstream is not None
        delay = self._proxy.sample_delay(self.upstream.id)
        if delay <= 0 and not self._delayed:
            self.client.write(data)
            return
        self._delayed.push(data, due=self._loop.time() + delay)
        self._schedule_release()
        self._update_upstream_reading()

    def _schedule_release(self) -> None:
        due = self._delayed.next_due
        if self._release_timer is None and due is not None:
            self._release_timer = self._loop.call_at(due, self._release)

    def _release(self) -> None:
        self._release_timer = None
        if self.closed:
            return
        for chunk in self._delayed.pop_due(self._loop.time()):
            self.client.write(chunk)
        if self._upstream_finished and not self._delayed:
            self.close()
            return
        self._schedule_release()
        self._update_upstream_reading()

    def upstream_lost(self) -> None:
        # Bytes the upstream sent before closing still reach the client, at their due time.
        if self._delayed:
            self._upstream_finished = True
        else:
            self.close()

    # client -> upstream, passed straight through

    def from_client(self, data: bytes) -> None:
        if self.upstream_transport is not None:
            self.upstream_transport.write(data)

    def client_eof(self) -> bool:
        """Pass a half-close on, so a client that shuts its sending side still gets its answer."""
        transport = self.upstream_transport
        if transport is not None and transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()
            return True
        self.close()
        return False

    # flow control: a slow reader on one side pauses reading on the other

    def client_write_paused(self, paused: bool) -> None:
        self._client_write_paused = paused
        self._update_upstream_reading()

    def upstream_write_paused(self, paused: bool) -> None:
        if paused:
            self.client.pause_reading()
        else:
            self.client.resume_reading()

    def _update_upstream_reading(self) -> None:
        transport = self.upstream_transport
        if transport is None:
            return
        pause = self._client_write_paused or self._delayed.queued_bytes > MAX_DELAYED_BYTES
        if pause != self._upstream_read_paused:
            self._upstream_read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # ending

    def close(self) -> None:
        """Close both sides, letting bytes already handed to the transports drain."""
        self._end(abort=False)

    def abort(self) -> None:
        self._end(abort=True)

    def _end(self, *, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        self._delayed.clear()
        if self.route_task is not None and self.route_task is not asyncio.current_task():
            self.route_task.cancel()
        for transport in (self.client, self.upstream_transport):
            if transport is None:
                continue
            if abort:
                transport.abort()
            else:
                transport.close()
        if self.upstream is not None:
            self.upstream.links.discard(self)
        self._proxy._forget(self)


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: Proxy) -> None:
        self._proxy = proxy
        self._link: _Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        _set_nodelay(transport)
        # Nothing is read from the client until an upstream is there to take it.
        transport.pause_reading()
        self._link = self._proxy._accept(transport)

    def data_received(self, data: bytes) -> None:
        assert self._link is not None
        self._link.from_client(data)

    def eof_received(self) -> bool:
        assert self._link is not None
        return self._link.client_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        assert self._link is not None
        self._link.close()

    def pause_writing(self) -> None:
        assert self._link is not None
        self._link.client_write_paused(True)

    def resume_writing(self) -> None:
        assert self._link is not None
        self._link.client_write_paused(False)


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, link: _Link, upstream: _Upstream) -> None:
        self._link = link
        self._upstream = upstream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._link.upstream_connected(self._upstream, transport)

    def data_received(self, data: bytes) -> None:
        self._link.from_upstream(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.upstream_lost()

    def pause_writing(self) -> None:
        self._link.upstream_write_paused(True)

    def resume_writing(self) -> None:
        self._link.upstream_write_paused(False)


class _HealthProbe:
    """``GET <path>`` over one kept-alive connection, reopened after any failure."""

    def __init__(self, upstream: _Upstream, path: str) -> None:
        self._upstream = upstream
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {upstream.address}\r\n"
            f"User-Agent: chaoskit-health\r\n\r\n"
        ).encode("latin-1")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def check(self) -> bool:
        """True for a 200 answer; raises OSError or TimeoutError when unreachable."""
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(
                self._upstream.host, self._upstream.port
            )
        self._writer.write(self._request)
        status_line = await self._reader.readline()
        content_length = 0
        close_after = False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                content_length = int(value)
            elif name.strip().lower() == "connection":
                close_after = value.strip().lower() == "close"
        await self._reader.readexactly(content_length)
        if close_after or not status_line:
            self.close()
        return status_line.split(b" ", 2)[1:2] == [b"200"]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Proxy:
    """One listener balancing over a changing set of upstreams."""

    def __init__(
        self,
        *,
        health_path: str = "/health",
        health_interval: float = HEALTH_INTERVAL,
        health_timeout: float = HEALTH_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        rng: random.Random | None = None,
    ) -> None:
        self._health_path = health_path
        self._health_interval = health_interval
        self._health_timeout = health_timeout
        self._connect_timeout = connect_timeout
        self._rng = rng or random.Random()
        self._upstreams: dict[str, _Upstream] = {}
        self._links: set[_Link] = set()
        self._faults: dict[str, LatencyFault] = {}
        self._faults_by_upstream: dict[str, tuple[LatencyFault, ...]] = {}
        self._next = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; returns the bound address (``port=0`` picks a free port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), host, port, backlog=1024)
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        return bound_host, bound_port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        for upstream_id in list(self._upstreams):
            self.remove_upstream(upstream_id)
        if self._server is not None:
            await self._server.wait_closed()

    # upstreams

    def add_upstream(self, upstream_id: str, host: str, port: int) -> None:
        """Start health-checking a new upstream; it takes connections once it answers."""
        if upstream_id in self._upstreams:
            raise ProviderError(f"upstream {upstream_id!r} is already registered")
        upstream = _Upstream(upstream_id, host, port)
        self._upstreams[upstream_id] = upstream
        upstream.probe_task = asyncio.get_running_loop().create_task(
            self._probe_forever(upstream), name=f"health-{upstream_id}"
        )

    def remove_upstream(self, upstream_id: str) -> None:
        """Forget an upstream and cut its connections, as its death would; unknown ids: no-op."""
        upstream = self._upstreams.pop(upstream_id, None)
        if upstream is None:
            return
        if upstream.probe_task is not None:
            upstream.probe_task.cancel()
        for link in list(upstream.links):
            link.abort()

    def is_healthy(self, upstream_id: str) -> bool:
        upstream = self._upstreams.get(upstream_id)
        return upstream is not None and upstream.healthy

    def upstreams(self) -> list[UpstreamStatus]:
        return [
            UpstreamStatus(
                id=upstream.id,
                address=upstream.address,
                healthy=upstream.healthy,
                connections=len(upstream.links),
            )
            for upstream in self._upstreams.values()
        ]

    # latency faults

    def add_latency(self, upstream_ids: Iterable[str], *, delay: float, jitter: float) -> str:
        """Delay what the given upstreams send back by ``delay ± jitter`` s; returns a handle."""
        ids = frozenset(upstream_ids)
        unknown = sorted(ids - self._upstreams.keys())
        if unknown:
            raise ProviderError(
                f"no live instance {', '.join(map(repr, unknown))}; live instances are "
                f"{sorted(self._upstreams)}. List them again: they may have been replaced."
            )
        for field, value in (("delay", delay), ("jitter", jitter)):
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{field}={value!r} must be a non-negative number of seconds")
        handle = f"latency-{uuid.uuid4().hex[:12]}"
        self._faults[handle] = LatencyFault(delay=delay, jitter=jitter, upstream_ids=ids)
        self._index_faults()
        return handle

    def remove_fault(self, handle: str) -> bool:
        """Stop a fault for chunks arriving from now on; False when ``handle`` is not active."""
        if self._faults.pop(handle, None) is None:
            return False
        self._index_faults()
        return True

    def faults(self) -> dict[str, LatencyFault]:
        return dict(self._faults)

    def sample_delay(self, upstream_id: str) -> float:
        faults = self._faults_by_upstream.get(upstream_id)
        if not faults:
            return 0.0
        return sum(fault.sample(self._rng) for fault in faults)

    def _index_faults(self) -> None:
        # Rebuilt on change so the per-chunk lookup stays one dict access.
        index: dict[str, list[LatencyFault]] = {}
        for fault in self._faults.values():
            for upstream_id in fault.upstream_ids:
                index.setdefault(upstream_id, []).append(fault)
        self._faults_by_upstream = {key: tuple(value) for key, value in index.items()}

    # connections

    def _accept(self, client: asyncio.Transport) -> _Link:
        link = _Link(self, client)
        self._links.add(link)
        link.route_task = asyncio.get_running_loop().create_task(self._route(link))
        return link

    def _forget(self, link: _Link) -> None:
        self._links.discard(link)

    def _candidates(self) -> list[_Upstream]:
        """Healthy upstreams from the round-robin position on, then the rest as a last resort."""
        upstreams = list(self._upstreams.values())
        healthy = [upstream for upstream in upstreams if upstream.healthy]
        if healthy:
            start = self._next % len(healthy)
            self._next += 1
            healthy = healthy[start:] + healthy[:start]
        return healthy + [upstream for upstream in upstreams if not upstream.healthy]

    async def _route(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        for upstream in self._candidates():
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await loop.create_connection(
                        functools.partial(_UpstreamSide, link, upstream),
                        upstream.host,
                        upstream.port,
                    )
            except (OSError, TimeoutError):
                self._record_probe(upstream, healthy=False, conclusive=True)
                continue
            if link.closed:
                return
            if upstream.id not in self._upstreams:
                link.abort()  # removed while we were connecting
                return
            link.route_task = None
            link.client.resume_reading()
            return
        link.close()

    # health

    async def _probe_forever(self, upstream: _Upstream) -> None:
        probe = _HealthProbe(upstream, self._health_path)
        try:
            while True:
                try:
                    async with asyncio.timeout(self._health_timeout):
                        healthy = await probe.check()
                except ConnectionRefusedError:
                    probe.close()
                    self._record_probe(upstream, healthy=False, conclusive=True)
                except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                    probe.close()
                    self._record_probe(upstream, healthy=False, conclusive=False)
                else:
                    self._record_probe(upstream, healthy=healthy, conclusive=True)
                # A replica that is starting up is admitted as soon as it answers.
                interval = self._health_interval if upstream.healthy else self._health_interval / 5
                await asyncio.sleep(interval)
        finally:
            probe.close()

    def _record_probe(self, upstream: _Upstream, *, healthy: bool, conclusive: bool) -> None:
        if healthy:
            upstream.failed_probes = 0
            upstream.healthy = True
            return
        upstream.failed_probes += 1
        if conclusive or upstream.failed_probes >= FAILED_PROBES_BEFORE_UNHEALTHY:
            upstream.healthy = False
