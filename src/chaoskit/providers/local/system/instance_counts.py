"""The fault proxy's counts per instance (upstream) and per second, kept for a bounded window.

A ``Link`` counts what it sees on the ``Tally`` of the upstream serving it: a connection
routed there, each HTTP request it forwards (by the epoch second the request's first byte
reached the proxy), the answer's status and its latency, answers the proxy injected in its
place, and requests left without an answer. ``Proxy._route`` counts the connections an
upstream refused. A spliced (passthrough) link is not framed, so on a TCP target only its
connection is counted.

Memory is bounded twice: each tally keeps the last ``WINDOW_SECONDS`` seconds (from the
newest second it has counted), and an upstream gone from the balancer for longer than that is
forgotten when another one registers. Latency goes into the buckets of ``slo.endpoints``
(16 per power of two), a handful of dict entries per second.

Runs in the system process, on the proxy's hot path: a request costs two ``time.time()``
calls and a few dict updates (bench/README.md, ``proxy``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Final

from chaoskit.slo.endpoints import bucket_of
from chaoskit.slo.instances import InstanceSecond, InstanceTraffic

WINDOW_SECONDS: Final = 900  # 15 minutes: longer than any one experiment's phases
NO_ANSWER: Final = "no response (connection closed)"
DROPPED: Final = "dropped by a fault"


class _Second:
    __slots__ = ("buckets", "connections", "errors", "refused", "requests")

    def __init__(self) -> None:
        self.connections = 0
        self.refused = 0
        self.requests = 0
        self.errors: dict[str, int] = {}
        self.buckets: dict[int, int] = {}

    def frozen(self, second: int) -> InstanceSecond:
        return InstanceSecond(
            second=second,
            connections=self.connections,
            refused=self.refused,
            requests=self.requests,
            errors=dict(self.errors),
            latency=dict(self.buckets),
        )


class Tally:
    """One upstream's counts, second by second (see the module's docstring)."""

    __slots__ = ("_last", "_last_second", "_newest", "gone_at", "id", "registered_at", "seconds")

    def __init__(self, upstream_id: str, registered_at: float) -> None:
        self.id = upstream_id
        self.registered_at = registered_at
        self.gone_at: float | None = None
        self.seconds: dict[int, _Second] = {}
        self._newest = 0
        # The second last counted: most requests land in the same second as the one before.
        self._last_second = -1
        self._last = _Second()

    def _at(self, started: float) -> _Second | None:
        second = int(started)
        if second == self._last_second:
            return self._last
        counts = self.seconds.get(second)
        if counts is None:
            if second < self._newest - WINDOW_SECONDS:
                return None  # older than the window: not kept
            counts = self.seconds[second] = _Second()
            if second > self._newest:
                self._newest = second
                if len(self.seconds) > WINDOW_SECONDS + 1:
                    cutoff = second - WINDOW_SECONDS
                    self.seconds = {s: c for s, c in self.seconds.items() if s >= cutoff}
        self._last_second, self._last = second, counts
        return counts

    def connected(self, at: float) -> None:
        counts = self._at(at)
        if counts is not None:
            counts.connections += 1

    def refused(self, at: float) -> None:
        counts = self._at(at)
        if counts is not None:
            counts.refused += 1

    def answered(self, started: float, latency: float, status: str) -> None:
        """A response ended ``latency`` seconds after its request started; ``status`` is its
        three digits ("" when its status line was not seen)."""
        counts = self._at(started)
        if counts is None:
            return
        counts.requests += 1
        index = bucket_of(int(latency * 1_000_000))
        counts.buckets[index] = counts.buckets.get(index, 0) + 1
        if status[:1] == "5":
            cause = f"HTTP {status}"
            counts.errors[cause] = counts.errors.get(cause, 0) + 1

    def failed(self, started: float, cause: str) -> None:
        """A request that got no answer from the instance: injected, dropped, cut off."""
        counts = self._at(started)
        if counts is None:
            return
        counts.requests += 1
        counts.errors[cause] = counts.errors.get(cause, 0) + 1

    def read(self, since: float, until: float) -> tuple[InstanceSecond, ...]:
        first, last = int(since), int(until)
        return tuple(
            counts.frozen(second)
            for second, counts in sorted(self.seconds.items())
            if first <= second <= last
        )


def injected(status: int) -> str:
    """The cause under which an answer the proxy injected counts."""
    return f"HTTP {status} (injected)"


class InstanceCounts:
    """Every upstream's tally, for one proxy."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tallies: dict[str, Tally] = {}

    def register(self, upstream_id: str) -> Tally:
        """An upstream joined (again, after a reboot: its earlier seconds are kept)."""
        now = self._clock()
        # Forget upstreams gone for longer than the window: a soak replaces many.
        self._tallies = {
            key: tally
            for key, tally in self._tallies.items()
            if tally.gone_at is None or tally.gone_at >= now - WINDOW_SECONDS
        }
        tally = self._tallies.get(upstream_id)
        if tally is None:
            tally = self._tallies[upstream_id] = Tally(upstream_id, now)
        tally.gone_at = None
        return tally

    def removed(self, upstream_id: str) -> None:
        tally = self._tallies.get(upstream_id)
        if tally is not None:
            tally.gone_at = self._clock()

    def tally(self, upstream_id: str) -> Tally | None:
        return self._tallies.get(upstream_id)

    def read(
        self, since: float, until: float, *, started: Mapping[str, float]
    ) -> tuple[InstanceTraffic, ...]:
        """Every upstream that was in the balancer at some time in ``[since, until]``, with
        its seconds in it; ``started``: the process start of the live instances (the others
        are known from when they registered)."""
        return tuple(
            InstanceTraffic(
                id=tally.id,
                started_at=started.get(tally.id, tally.registered_at),
                gone_at=tally.gone_at,
                seconds=tally.read(since, until),
            )
            for tally in self._tallies.values()
            if tally.registered_at <= until and (tally.gone_at is None or tally.gone_at >= since)
        )
