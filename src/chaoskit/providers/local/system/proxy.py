"""A load-balancing TCP proxy with health checks and network faults.

New client connections go round robin to healthy upstreams; a failed connect moves on to the
next one, so new connections never land on a dead replica. Faults (see ``link``) are added
and removed at run time and act on live connections as well as new ones. With ``http=True``
the proxy follows HTTP/1.1 message boundaries, which lets it answer requests itself, and
counts what each upstream serves per second (``instance_counts``).
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from chaoskit.errors import ProviderError
from chaoskit.providers.local.system.httpframe import Framer
from chaoskit.providers.local.system.instance_counts import InstanceCounts
from chaoskit.providers.local.system.link import (
    ActiveFault,
    ClientSide,
    Link,
    Upstream,
    UpstreamSide,
)
from chaoskit.vocabulary import NetworkFault

HEALTH_INTERVAL = 0.25
HEALTH_TIMEOUT = 0.5
CONNECT_TIMEOUT = 1.0
# One slow probe under CPU contention is not a dead replica; a refused connection is.
FAILED_PROBES_BEFORE_UNHEALTHY = 2
# A health path answered with a client error this many times in a row (about a second at
# start-up) does not exist on the replica: waiting longer cannot make it healthy.
CLIENT_ERRORS_BEFORE_MISCONFIGURED = 20


@dataclass(frozen=True, kw_only=True)
class UpstreamStatus:
    id: str
    address: str
    healthy: bool
    connections: int


class _HealthProbe:
    """``GET <path>`` over one kept-alive connection, reopened after any failure; with no path,
    a TCP connect (for upstreams that do not speak HTTP)."""

    def __init__(self, upstream: Upstream, path: str | None) -> None:
        self._upstream = upstream
        self._path = path
        self._request = (
            f"GET {path or '/'} HTTP/1.1\r\nHost: {upstream.address}\r\n"
            f"User-Agent: chaoskit-health\r\n\r\n"
        ).encode("latin-1")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.status = ""  # the status of the last answer, "" before one

    async def check(self) -> bool:
        """True for a 200 answer; raises OSError or TimeoutError when unreachable."""
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(
                self._upstream.host, self._upstream.port
            )
        if self._path is None:
            self.close()
            return True
        self._writer.write(self._request)
        # Framed like any response (Content-Length, chunked or to the close), so the next
        # probe on this connection starts at the next response.
        framer = Framer(is_response=True)
        framer.expect_response("GET")
        status = ""
        while True:
            data = await self._reader.read(65536)
            if not data:
                self.close()
                if status and framer.reading_to_close:
                    break
                raise ConnectionResetError("the connection closed mid-response")
            for segment in framer.feed(data):
                if segment.raw:
                    raise ValueError(f"not an HTTP response: {framer.failure}")
                if segment.starts and not segment.interim:
                    status = self.status = segment.head.split(" ", 2)[1]
                if segment.ends and not segment.interim:
                    return status == "200"
        return status == "200"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Proxy:
    """One listener balancing over a changing set of upstreams."""

    def __init__(
        self,
        *,
        health_path: str | None = "/health",
        http: bool = True,
        health_interval: float = HEALTH_INTERVAL,
        health_timeout: float = HEALTH_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        rng: random.Random | None = None,
    ) -> None:
        self._health_path = health_path
        self._http = http
        self._health_interval = health_interval
        self._health_timeout = health_timeout
        self._connect_timeout = connect_timeout
        self.rng = rng or random.Random()
        self._upstreams: dict[str, Upstream] = {}
        self._links: set[Link] = set()
        self._faults: dict[str, ActiveFault] = {}
        self._index: dict[tuple[str, str], tuple[ActiveFault, ...]] = {}
        self.generation = 0  # counts fault changes, so links know when to redraw a delay
        self.counts = InstanceCounts()
        self._next = 0
        self._server: asyncio.Server | None = None
        # upstream id -> (the client error its health check answered, how often in a row)
        self._refusals: dict[str, tuple[str, int]] = {}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; returns the bound address (``port=0`` picks a free port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ClientSide(self), host, port, backlog=1024)
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
        upstream = Upstream(upstream_id, host, port)
        self._upstreams[upstream_id] = upstream
        self.counts.register(upstream_id)
        upstream.probe_task = asyncio.get_running_loop().create_task(
            self._probe_forever(upstream), name=f"health-{upstream_id}"
        )

    def remove_upstream(self, upstream_id: str) -> None:
        """Forget an upstream and cut its connections, as its death would; unknown ids: no-op."""
        upstream = self._upstreams.pop(upstream_id, None)
        self._refusals.pop(upstream_id, None)
        if upstream is None:
            return
        self.counts.removed(upstream_id)
        if upstream.probe_task is not None:
            upstream.probe_task.cancel()
        for link in list(upstream.links):
            link.abort()

    def is_healthy(self, upstream_id: str) -> bool:
        upstream = self._upstreams.get(upstream_id)
        return upstream is not None and upstream.healthy

    def refused_health_check(self, upstream_id: str) -> str:
        """``GET <path> returned 404`` when the upstream has answered its health check with
        the same client error again and again (the path does not exist there); else ""."""
        refusal = self._refusals.get(upstream_id)
        if refusal is None or refusal[1] < CLIENT_ERRORS_BEFORE_MISCONFIGURED:
            return ""
        return f"GET {self._health_path} returned {refusal[0]}"

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

    # faults

    def add_fault(self, upstream_ids: Iterable[str], spec: NetworkFault) -> str:
        """Apply ``spec`` to the traffic of the given upstreams; returns its handle."""
        ids = frozenset(upstream_ids)
        unknown = sorted(ids - self._upstreams.keys())
        if unknown or not ids:
            raise ProviderError(
                f"no live instance {', '.join(map(repr, unknown)) or '(none given)'}; live "
                f"instances are {sorted(self._upstreams)}. List them again: they may have been "
                f"replaced."
            )
        if spec.kind == "http_error" and not self._http:
            raise ProviderError(
                "http_error needs an HTTP target; this one is plain TCP (protocol = 'tcp')."
            )
        handle = f"{spec.kind.replace('_', '-')}-{uuid.uuid4().hex[:12]}"
        self._faults[handle] = ActiveFault(handle=handle, spec=spec, upstream_ids=ids)
        self._reindex()
        return handle

    def add_latency(self, upstream_ids: Iterable[str], *, delay: float, jitter: float) -> str:
        return self.add_fault(
            upstream_ids, NetworkFault(kind="latency", delay=delay, jitter=jitter)
        )

    def remove_fault(self, handle: str) -> bool:
        """Stop a fault, on live connections too; False when ``handle`` is not active."""
        if self._faults.pop(handle, None) is None:
            return False
        self._reindex()
        for link in list(self._links):  # disarming may close a link
            link.disarm(handle)
        return True

    def faults(self) -> dict[str, ActiveFault]:
        return dict(self._faults)

    def faults_for(self, upstream_id: str, direction: str) -> tuple[ActiveFault, ...]:
        return self._index.get((upstream_id, direction), ())

    def _reindex(self) -> None:
        # Rebuilt on change so the per-chunk lookup stays one dict access.
        index: dict[tuple[str, str], list[ActiveFault]] = {}
        for fault in self._faults.values():
            directions = (
                ("upstream", "downstream")
                if fault.spec.direction == "both"
                else (fault.spec.direction,)
            )
            for upstream_id in fault.upstream_ids:
                for direction in directions:
                    index.setdefault((upstream_id, direction), []).append(fault)
        self._index = {key: tuple(value) for key, value in index.items()}
        self.generation += 1

    # connections

    def accept(self, client: asyncio.Transport) -> Link:
        link = Link(self, client, http=self._http)
        self._links.add(link)
        link.route_task = asyncio.get_running_loop().create_task(self._route(link))
        return link

    def forget(self, link: Link) -> None:
        self._links.discard(link)

    def _candidates(self) -> list[Upstream]:
        """Healthy upstreams from the round-robin position on, then the rest as a last resort."""
        upstreams = list(self._upstreams.values())
        healthy = [upstream for upstream in upstreams if upstream.healthy]
        if healthy:
            start = self._next % len(healthy)
            self._next += 1
            healthy = healthy[start:] + healthy[:start]
        return healthy + [upstream for upstream in upstreams if not upstream.healthy]

    async def _route(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        for upstream in self._candidates():
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await loop.create_connection(
                        functools.partial(UpstreamSide, link, upstream),
                        upstream.host,
                        upstream.port,
                    )
            except (OSError, TimeoutError):
                self._record_probe(upstream, healthy=False, conclusive=True)
                tally = self.counts.tally(upstream.id)
                if tally is not None:
                    tally.refused(time.time())
                continue
            if link.closed:
                return
            if upstream.id not in self._upstreams:
                link.abort()  # removed while we were connecting
                return
            link.routed()
            return
        link.close()

    # health

    async def _probe_forever(self, upstream: Upstream) -> None:
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
                    self._note_refusal(upstream.id, "" if healthy else probe.status)
                # A replica that is starting up is admitted as soon as it answers.
                interval = self._health_interval if upstream.healthy else self._health_interval / 5
                await asyncio.sleep(interval)
        finally:
            probe.close()

    def _note_refusal(self, upstream_id: str, status: str) -> None:
        # 4xx but 408 (timeout) and 429 (too many requests): a path that is not there.
        if not status.startswith("4") or status in ("408", "429"):
            self._refusals.pop(upstream_id, None)
            return
        previous, count = self._refusals.get(upstream_id, (status, 0))
        self._refusals[upstream_id] = (status, count + 1 if previous == status else 1)

    def _record_probe(self, upstream: Upstream, *, healthy: bool, conclusive: bool) -> None:
        if healthy:
            upstream.failed_probes = 0
            upstream.healthy = True
            return
        upstream.failed_probes += 1
        if conclusive or upstream.failed_probes >= FAILED_PROBES_BEFORE_UNHEALTHY:
            upstream.healthy = False
