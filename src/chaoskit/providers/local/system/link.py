"""One proxied connection: a client, the upstream serving it, and the faults between them.

Bytes move through two flows, ``upstream`` (client to instance) and ``downstream`` (instance
to client). With no fault on a flow, a chunk is written on as it arrives. Otherwise each
chunk is held in a ``DelayLine`` until its due time, which the flow's faults set:

- latency: one delay per *exchange* (drawn when bytes start flowing in this direction after
  bytes flowed the other way), added to each chunk's arrival. A response spread over three
  packets is delayed once, not three times; for HTTP/1.1 an exchange is one request or one
  response, so the delay is per request and per response;
- bandwidth: chunks are cut into 10 ms slices at the rate and released one slice per 10 ms;
- blackhole: bytes are dropped; timeout: bytes are dropped and the connection closed after
  ``delay`` (never when 0); reset: the connection is reset (RST) ``delay`` after bytes first
  meet the fault; slow_close: the end of the stream is passed on ``delay`` late.

A fault's toxicity is drawn once per connection (per request for ``http_error``), so a 50 %
fault affects about half of the connections for their whole life.

Passthrough: a flow that has carried ``splice.SPLICE_AFTER_BYTES`` with no fault on its bytes,
on a connection whose HTTP framing is off (a TCP target, or framing given up), hands its
sockets to a ``splice.Splicer``, which moves the bytes in the kernel. It takes over again, in
byte order (the pipe's bytes are written to the sink transport first), as soon as a fault
applies to the flow (checked against ``Proxy.generation`` before each read), at the end of
the stream (the source transport then reads the end itself), on a socket error (the link
closes, as a transport error would close it), and when the link ends.

Counting: a framed link tells its upstream's ``instance_counts.Tally`` of each request it
forwards and how it ended (the answer's status and latency to its last byte leaving, the
flow's latency fault included; an injected answer; a request dropped or never answered).

Runs in the system process, on the proxy's hot path. About 800 lines for one concern, one
connection's state machine: ``Link`` owns both ``Flow``s and the two asyncio protocols feed
it, and each calls into the others on every chunk (a flow asks the link for its faults,
its latency draw and its timers; the link turns the flows; either close ends both). The
code is tuned (``bench/proxy.py``) and kept together so its per-chunk path stays one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol, cast

from chaoskit.providers.local.system import splice
from chaoskit.providers.local.system.delayline import DelayLine
from chaoskit.providers.local.system.httpframe import Framer, Segment
from chaoskit.providers.local.system.instance_counts import (
    DROPPED,
    NO_ANSWER,
    InstanceCounts,
    Tally,
    injected,
)
from chaoskit.vocabulary import NetworkFault

log = logging.getLogger("chaoskit.local.proxy")


# Past this many delayed bytes on one flow, stop reading its source until they drain.
MAX_DELAYED_BYTES = 4 * 1024 * 1024
BANDWIDTH_SLICE_SECONDS = 0.01
# The faults that act on bytes as they pass (the others act on closes and on requests).
_ON_BYTES = frozenset({"latency", "bandwidth", "blackhole", "reset", "timeout"})
# Event-loop timers fire up to a millisecond late (libuv counts whole milliseconds): aiming
# half of that early centres a held chunk's release on its due time.
TIMER_LEAD = 0.0005


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _fileno(transport: asyncio.BaseTransport) -> int:
    sock = transport.get_extra_info("socket")
    return -1 if sock is None else int(sock.fileno())


def _abort_with_reset(transport: asyncio.BaseTransport) -> None:
    # Linger 0 turns the close into an RST: the peer sees "connection reset by peer".
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cast(asyncio.Transport, transport).abort()


def sample_latency(specs: Iterable[NetworkFault], rng: random.Random) -> float:
    """One exchange's delay: each latency fault's delay ± jitter, uniformly, summed."""
    return sum(
        max(0.0, spec.delay + rng.uniform(-spec.jitter, spec.jitter))
        for spec in specs
        if spec.kind == "latency"
    )


def error_response(status: int) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = f"{status} {reason} (injected by chaoskit)\n".encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nX-Chaoskit-Fault: http_error\r\n\r\n"
    )
    return head.encode("latin-1") + body


@dataclass(frozen=True, kw_only=True)
class ActiveFault:
    handle: str
    spec: NetworkFault
    upstream_ids: frozenset[str]


class Upstream:
    def __init__(self, upstream_id: str, host: str, port: int) -> None:
        self.id = upstream_id
        self.host = host
        self.port = port
        self.healthy = False
        self.failed_probes = 0
        self.links: set[Link] = set()
        self.probe_task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class LinkOwner(Protocol):
    """What a link needs from the proxy that accepted it."""

    rng: random.Random
    generation: int  # counts fault changes, so links know when to redraw a delay
    counts: InstanceCounts  # what each upstream served, per second

    def faults_for(self, upstream_id: str, direction: str) -> tuple[ActiveFault, ...]: ...

    def accept(self, client: asyncio.Transport) -> Link: ...

    def forget(self, link: Link) -> None: ...


@dataclass(kw_only=True)
class _Answer:
    """A response the client is owed, in request order: the upstream's, or one of ours."""

    injected: bytes | None  # None: the upstream answers
    ready: bool = False  # ours go out once the whole request they answer has arrived
    started: float = 0.0  # epoch seconds the request's first bytes reached the proxy


class Flow:
    """The bytes of one direction of a link, with that direction's faults applied."""

    def __init__(self, link: Link, direction: str) -> None:
        self._link = link
        self.direction = direction
        self._loop = asyncio.get_running_loop()
        self.sink: asyncio.Transport | None = None
        self.source: asyncio.Transport | None = None
        self._line = DelayLine()
        self._timer: asyncio.TimerHandle | None = None
        # The current exchange's delay, and the fault set it was drawn under.
        self._exchange_delay: float | None = None
        self._drawn_under = -1
        self._tokens = 0.0  # bandwidth: bytes that may leave now
        self._refilled_at: float | None = None
        self._finishing: Callable[[], None] | None = None
        self._sink_paused = False
        self.source_paused = False
        self._splicer: splice.Splicer | None = None
        # While waiting for the sink transport to empty before splicing: its own limits.
        self._splice_pending: tuple[int, int] | None = None
        self._spliced_under = -1  # the fault generation last checked while splicing
        self._unspliced_bytes = 0  # passed through Python, no fault, since the last switch

    @property
    def spliced(self) -> bool:
        """Whether the kernel moves this flow's bytes now (no fault applies to them)."""
        return self._splicer is not None

    def new_exchange(self) -> None:
        self._exchange_delay = None

    @property
    def exchange_delay(self) -> float:
        """The latency the flow's faults add to the bytes of the current exchange (0: none)."""
        return self._exchange_delay or 0.0

    def push(self, data: bytes) -> bool:
        """Send ``data`` on, subject to this flow's faults; False when a fault dropped it."""
        if self._splicer is not None:  # not expected: the source is not read while splicing
            self._unsplice()
        faults = self._byte_faults()
        if not faults:
            self._write_in_order(data)
            self._unspliced_bytes += len(data)
            if self._unspliced_bytes >= splice.SPLICE_AFTER_BYTES:
                self._try_splice()
            return True
        self._unspliced_bytes = 0
        # Timers first: a reset or timeout is armed even when another fault drops the bytes.
        for fault in faults:
            spec = fault.spec
            if spec.kind == "reset":
                if spec.delay <= 0:
                    self._link.reset()
                    return False
                self._link.arm(fault.handle, spec.delay, self._link.reset)
            elif spec.kind == "timeout" and spec.delay > 0:
                self._link.arm(fault.handle, spec.delay, self._link.close)
        if any(fault.spec.kind in ("blackhole", "timeout") for fault in faults):
            return False
        now = self._loop.time()
        generation = self._link.fault_generation()
        if self._exchange_delay is None or self._drawn_under != generation:
            self._exchange_delay = self._link.sample_latency(faults)
            self._drawn_under = generation
        self._line.push(data, due=now + self._exchange_delay)
        self._schedule_release(now)
        self._update_source_reading()
        return True

    def _byte_faults(self) -> list[ActiveFault]:
        return [f for f in self._link.faults(self.direction) if f.spec.kind in _ON_BYTES]

    # passthrough in the kernel (see the module docstring)

    def _try_splice(self) -> None:
        self._unspliced_bytes = 0  # when refused, try again after as many bytes
        sink = self.sink
        if sink is None or self._splice_pending is not None or not self._may_splice():
            return
        if sink.get_write_buffer_size():
            # Spliced bytes would overtake those the sink transport still holds: splice once
            # it has sent them. With its limits at 0 it pauses this flow's source now (through
            # sink_paused) and calls sink_paused(False) when it is empty.
            self._splice_pending = sink.get_write_buffer_limits()
            sink.set_write_buffer_limits(high=0, low=0)
            return
        self._start_splice()

    def _may_splice(self) -> bool:
        source, sink = self.source, self.sink
        return not (
            not splice.usable()
            or self._link.closed
            or self._link.framed
            or source is None
            or sink is None
            or source.is_closing()
            or sink.is_closing()
            or self._splicer is not None
            or self._finishing is not None
            or self._line
            or self._timer is not None
            or self._sink_paused
            or self._byte_faults()
        )

    def _start_splice(self) -> None:
        """Hand the sockets to a splicer; the sink transport must hold nothing."""
        source, sink = self.source, self.sink
        assert source is not None and sink is not None
        source_fd, sink_fd = _fileno(source), _fileno(sink)
        if source_fd < 0 or sink_fd < 0:
            return
        splicer = splice.Splicer.open(
            self._loop,
            source_fd,
            sink_fd,
            allowed=self._splice_allowed,
            moved=self._spliced_bytes,
            stopped=self._splice_stopped,
        )
        if splicer is None:
            return
        try:
            splicer.start()  # its callbacks run from the next loop iteration on
        except (OSError, RuntimeError) as error:  # the event loop refused the descriptors
            log.debug("not splicing: %s", error)
            splicer.stop()
            return
        # Nothing more reaches the source transport (its flow-control flag stays as it is;
        # _unsplice brings the transport back in line with it).
        source.pause_reading()
        self._splicer = splicer
        self._spliced_under = self._link.fault_generation()

    def _splice_allowed(self) -> bool:
        generation = self._link.fault_generation()
        if generation == self._spliced_under:
            return True
        self._spliced_under = generation
        return not self._byte_faults()

    def _spliced_bytes(self, count: int) -> None:
        self._link.turn(self)

    def _splice_stopped(self, failed: bool) -> None:
        self._unsplice()
        if failed:
            # What a transport does on a socket error (the error itself was read by splice).
            self._link.close()

    def _unsplice(self) -> None:
        """Back to the transports: the pipe's bytes go to the sink transport first, then the
        source transport reads again (unless flow control holds it)."""
        splicer, self._splicer = self._splicer, None
        if splicer is None:
            return
        self._unspliced_bytes = 0
        rest = splicer.stop()
        if rest and self.sink is not None and not self.sink.is_closing():
            self.sink.write(rest)
        if self._link.closed or self.source is None:
            return
        self._update_source_reading()
        if not self.source_paused:
            self.source.resume_reading()

    def push_in_order(self, data: bytes) -> None:
        """Send the proxy's own bytes after whatever this flow still holds back, undelayed."""
        self._write_in_order(data)

    def _write_in_order(self, data: bytes) -> None:
        if self._line:
            now = self._loop.time()
            self._line.push(data, due=now)
            self._schedule_release(now)
        elif self.sink is not None and not self.sink.is_closing():
            self.sink.write(data)

    def finish(self, then: Callable[[], None]) -> None:
        """The source ended: once everything held back is out (and any slow close), ``then``."""
        if self._finishing is not None:
            return
        self._unsplice()
        slow = max(
            (f for f in self._link.faults(self.direction) if f.spec.kind == "slow_close"),
            key=lambda f: f.spec.delay,
            default=None,
        )

        def after_drain() -> None:
            if slow is None:
                then()
            else:
                # Removing the fault lets the close through at once.
                self._link.arm(slow.handle, slow.spec.delay, then, on_disarm=then)

        self._finishing = after_drain
        if not self._line:
            after_drain()

    def _schedule_release(self, now: float) -> None:
        due = self._line.next_due
        if self._timer is None and due is not None:
            self._timer = self._loop.call_at(max(due - TIMER_LEAD, now), self._release)

    def _release(self) -> None:
        self._timer = None
        if self._link.closed or self.sink is None:
            return
        now = self._loop.time()
        rate = self._link.bandwidth(self.direction)
        if rate == math.inf:
            self._refilled_at = None
            for chunk in self._line.pop_due(now + TIMER_LEAD):
                self.sink.write(chunk)
        else:
            # The rate is read at release, so removing the fault frees held bytes at once.
            burst = max(1.0, rate * BANDWIDTH_SLICE_SECONDS)
            if self._refilled_at is None:
                self._tokens = burst
            else:
                self._tokens = min(burst, self._tokens + (now - self._refilled_at) * rate)
            self._refilled_at = now
            allowed = int(self._tokens)
            for chunk in self._line.pop_due(now + TIMER_LEAD, max_bytes=allowed):
                self.sink.write(chunk)
                self._tokens -= len(chunk)
        if not self._line and self._finishing is not None:
            self._finishing()
            return
        due = self._line.next_due
        if rate != math.inf and due is not None and due <= now + TIMER_LEAD:
            # Held back by the rate, not by a delay: the next slice goes out a slice later.
            self._timer = self._loop.call_later(BANDWIDTH_SLICE_SECONDS, self._release)
        self._schedule_release(now)
        self._update_source_reading()

    # flow control: a slow reader on the sink side pauses reading from the source

    def sink_paused(self, paused: bool) -> None:
        self._sink_paused = paused
        limits, sink = self._splice_pending, self.sink
        if not paused and limits is not None and sink is not None:
            # The sink transport sent all it held (see _try_splice): splice from here on.
            self._splice_pending = None
            low, high = limits
            sink.set_write_buffer_limits(high=high, low=low)
            if self._may_splice() and not sink.get_write_buffer_size():
                self._start_splice()
        self._update_source_reading()

    def _update_source_reading(self) -> None:
        if self.source is None or self._link.closed or self._splicer is not None:
            return
        pause = self._sink_paused or self._line.queued_bytes > MAX_DELAYED_BYTES
        if pause != self.source_paused:
            self.source_paused = pause
            if pause:
                self.source.pause_reading()
            else:
                self.source.resume_reading()

    def stop(self) -> None:
        self._unsplice()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._line.clear()


class Link:
    """One client connection and the upstream connection that serves it."""

    def __init__(self, proxy: LinkOwner, client: asyncio.Transport, *, http: bool) -> None:
        self._proxy = proxy
        self._loop = asyncio.get_running_loop()
        self.client = client
        self.upstream: Upstream | None = None
        self.upstream_transport: asyncio.Transport | None = None
        self.route_task: asyncio.Task[None] | None = None
        self.closed = False
        self.up = Flow(self, "upstream")
        self.down = Flow(self, "downstream")
        self.up.source = client
        self.down.sink = client
        self._routed = False
        self._early: list[bytes] = []  # client bytes that came before the upstream connection
        self._client_eof = False
        self._rolls: dict[str, bool] = {}
        # Per fault: what it scheduled for this connection, and what its removal runs.
        self._timers: dict[str, tuple[asyncio.TimerHandle, Callable[[], None] | None]] = {}
        self._last_flow: Flow | None = None
        # HTTP framing, for injected errors and their place among the upstream's responses.
        self._requests = Framer(is_response=False) if http else None
        self._responses = Framer(is_response=True) if http else None
        self._answers: deque[_Answer] = deque()
        self._swallowing = False  # the request coming in is answered by the proxy
        self._dropping = False  # the request coming in was dropped by a fault
        # Where this link counts what its upstream serves (instance_counts), once routed.
        self._tally: Tally | None = None
        self._status = ""  # the status of the response coming back, "" between responses

    # the faults that apply to this connection

    def faults(self, direction: str) -> tuple[ActiveFault, ...]:
        if self.upstream is None:
            return ()
        candidates = self._proxy.faults_for(self.upstream.id, direction)
        if not candidates:
            return ()
        return tuple(fault for fault in candidates if self._rolled(fault))

    def _rolled(self, fault: ActiveFault) -> bool:
        if fault.spec.toxicity >= 1 or fault.spec.kind == "http_error":
            return True
        roll = self._rolls.get(fault.handle)
        if roll is None:
            roll = self._rolls[fault.handle] = self._proxy.rng.random() < fault.spec.toxicity
        return roll

    def sample_latency(self, faults: Iterable[ActiveFault]) -> float:
        return sample_latency([fault.spec for fault in faults], self._proxy.rng)

    @property
    def framed(self) -> bool:
        """Whether HTTP framing follows this connection's bytes (so they pass through Python)."""
        return self._requests is not None or self._responses is not None

    def fault_generation(self) -> int:
        """Changes whenever a fault is added or removed anywhere in the proxy."""
        return self._proxy.generation

    def bandwidth(self, direction: str) -> float:
        """The lowest bandwidth limit on this direction now, in bytes per second."""
        return min(
            (f.spec.rate for f in self.faults(direction) if f.spec.kind == "bandwidth"),
            default=math.inf,
        )

    def arm(
        self,
        handle: str,
        delay: float,
        action: Callable[[], None],
        *,
        on_disarm: Callable[[], None] | None = None,
    ) -> None:
        """Run ``action`` ``delay`` from now, once per fault and connection; when the fault is
        removed first, run ``on_disarm`` instead (if given)."""
        if handle in self._timers:
            return

        def fire() -> None:
            self._timers.pop(handle, None)
            action()

        self._timers[handle] = (self._loop.call_later(delay, fire), on_disarm)

    def disarm(self, handle: str) -> None:
        """A fault was removed: what it had scheduled for this connection no longer happens."""
        self._rolls.pop(handle, None)
        armed = self._timers.pop(handle, None)
        if armed is not None:
            timer, on_disarm = armed
            timer.cancel()
            if on_disarm is not None and not self.closed:
                on_disarm()

    # connecting

    def upstream_connected(self, upstream: Upstream, transport: asyncio.Transport) -> None:
        if self.closed:
            transport.abort()
            return
        set_nodelay(transport)
        self.upstream = upstream
        self.upstream_transport = transport
        self.up.sink = transport
        self.down.source = transport
        upstream.links.add(self)
        self._tally = self._proxy.counts.tally(upstream.id)
        if self._tally is not None:
            self._tally.connected(time.time())

    def routed(self) -> None:
        """The upstream connection is up: pass on what the client has sent so far."""
        self.route_task = None
        self._routed = True
        early, self._early = self._early, []
        for data in early:
            self.from_client(data)
        if self._client_eof:
            self.up.finish(self._half_close_upstream)
        if not self.closed and not self.up.source_paused and not self.up.spliced:
            self.client.resume_reading()

    # client -> upstream

    def from_client(self, data: bytes) -> None:
        if not self._routed:
            # Not connected yet (some event loops deliver data before reading can be paused).
            self._early.append(data)
            return
        if self.closed:
            return
        self.turn(self.up)
        if self._requests is None:
            self.up.push(data)
            return
        for segment in self._requests.feed(data):
            if self.closed:
                return
            if segment.raw:
                self._stop_framing(self._requests.failure)
                self.up.push(segment.data)
            else:
                self._request_segment(segment)

    def _request_segment(self, segment: Segment) -> None:
        if segment.starts:
            started = time.time()
            status = self._injected_status()
            self._swallowing = status is not None
            self._dropping = False
            if status is not None:
                self._answers.append(_Answer(injected=error_response(status)))
                if self._tally is not None:
                    self._tally.failed(started, injected(status))
            elif self.up.push(segment.data):
                # Owed a response only for a request that went on (not one a fault dropped).
                self._answers.append(_Answer(injected=None, started=started))
                assert self._responses is not None
                self._responses.expect_response(segment.head.split(" ", 1)[0])
            else:
                self._dropping = True
                if self._tally is not None:
                    self._tally.failed(started, DROPPED)
        elif not self._swallowing and not self._dropping:
            self.up.push(segment.data)
        if self._swallowing and segment.ends:
            self._answers[-1].ready = True
            self._send_ready_answers()

    def _injected_status(self) -> int | None:
        for fault in self.faults("upstream"):
            if fault.spec.kind == "http_error" and self._proxy.rng.random() < fault.spec.toxicity:
                return fault.spec.status
        return None

    def _send_ready_answers(self) -> None:
        while self._answers and self._answers[0].injected is not None and self._answers[0].ready:
            answer = self._answers.popleft()
            assert answer.injected is not None
            self.down.push_in_order(answer.injected)

    def _stop_framing(self, why: str) -> None:
        """Not HTTP this proxy can follow after all: pass bytes through untouched from now on.
        An answer of ours still owed cannot be placed among the upstream's responses any more,
        so the connection closes once what is held back is out: a client waiting for it gets
        a closed connection rather than waiting forever."""
        owed = any(answer.injected is not None for answer in self._answers)
        self._requests = self._responses = None
        self._swallowing = self._dropping = False
        self._answers.clear()
        if owed:
            log.warning("closing a connection whose HTTP framing was lost (%s)", why)
            self.down.finish(self.close)

    def client_eof(self) -> bool:
        """Pass a half-close on, so a client that shuts its sending side still gets its answer."""
        self._client_eof = True
        if self._routed:
            self.up.finish(self._half_close_upstream)
        return True

    def _half_close_upstream(self) -> None:
        transport = self.upstream_transport
        if transport is not None and transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()
        else:
            self.close()

    # upstream -> client

    def from_upstream(self, data: bytes) -> None:
        if self.closed:
            return
        self.turn(self.down)
        if self._responses is None:
            self.down.push(data)
            return
        for segment in self._responses.feed(data):
            if self.closed:
                return
            if segment.raw:
                self._stop_framing(self._responses.failure)
                self.down.push(segment.data)
                continue
            if segment.starts and not segment.interim:
                self._status = segment.head[9:12]  # "HTTP/1.1 503 ..." -> "503"
            self.down.push(segment.data)
            if segment.ends and not segment.interim and self._answers:
                answer = self._answers.popleft()
                if self._tally is not None and answer.started:
                    # Its last bytes leave once the flow's latency fault lets them go.
                    latency = time.time() - answer.started + self.down.exchange_delay
                    self._tally.answered(answer.started, latency, self._status)
                self._status = ""
                self._send_ready_answers()

    def _count_unanswered(self) -> None:
        """The link ends: the requests its upstream still owed an answer are failures, but a
        response read to the close of the connection (no length given), which ends here."""
        tally = self._tally
        if tally is None:
            return
        now = time.time()
        for answer in self._answers:
            if answer.injected is not None or not answer.started:
                continue
            if self._status and self._responses is not None and self._responses.reading_to_close:
                tally.answered(answer.started, now - answer.started, self._status)
                self._status = ""
            else:
                tally.failed(answer.started, NO_ANSWER)
        self._answers.clear()

    def upstream_lost(self) -> None:
        # Bytes the upstream sent before closing still reach the client, at their due time.
        self.down.finish(self.close)

    def turn(self, flow: Flow) -> None:
        """Bytes arrived on ``flow``: after bytes the other way, that starts a new exchange."""
        if self._last_flow is not flow:
            self._last_flow = flow
            flow.new_exchange()

    # ending

    def close(self) -> None:
        """Close both sides, letting bytes already handed to the transports drain."""
        self._end(abort=False)

    def abort(self) -> None:
        self._end(abort=True)

    def reset(self) -> None:
        if self.closed:
            return
        for transport in (self.client, self.upstream_transport):
            if transport is not None:
                _abort_with_reset(transport)
        self._end(abort=True)

    def _end(self, *, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self._count_unanswered()
        self.up.stop()
        self.down.stop()
        for timer, _ in self._timers.values():
            timer.cancel()
        self._timers.clear()
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
        self._proxy.forget(self)


class ClientSide(asyncio.Protocol):
    def __init__(self, proxy: LinkOwner) -> None:
        self._proxy = proxy
        self._link: Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        set_nodelay(transport)
        # Nothing more is read from the client until an upstream is there to take it.
        transport.pause_reading()
        self._link = self._proxy.accept(transport)

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
        self._link.down.sink_paused(True)

    def resume_writing(self) -> None:
        assert self._link is not None
        self._link.down.sink_paused(False)


class UpstreamSide(asyncio.Protocol):
    def __init__(self, link: Link, upstream: Upstream) -> None:
        self._link = link
        self._upstream = upstream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._link.upstream_connected(self._upstream, cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self._link.from_upstream(data)

    def eof_received(self) -> bool:
        self._link.upstream_lost()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.upstream_lost()

    def pause_writing(self) -> None:
        self._link.up.sink_paused(True)

    def resume_writing(self) -> None:
        self._link.up.sink_paused(False)
