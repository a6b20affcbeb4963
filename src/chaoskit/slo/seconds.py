"""Per-second measurements and their merge into windows.

One ``SecondStats`` holds what the load generators observed for the requests **intended** to
be sent in one epoch second (for users without a schedule, the intended time is the actual
send time): an HDR histogram of successful-request latency in microseconds (3 significant
digits), measured from the intended send time to the complete response, and counters.
Seconds from several workers, and seconds across a window, merge by addition, so a window's
percentiles are exactly those of the union of its requests (to the histogram's 3-digit
precision) and its counters are sums.

The counters, all keyed by the intended second:

- ``expected``: requests the schedule meant to send in this second, including those never
  sent (the target stalled the user, the generator lagged, the load stopped first);
- ``sent``: those of them actually sent;
- ``ok`` / ``failed`` (by reason): those that completed, successfully or not.

So ``expected >= sent >= ok + failures`` once a second is complete, and availability is
``ok / expected`` (see ``demand`` for data recorded without ``expected``).

``dropped`` counts the scheduled task runs of the second that found no free user and no
room to add one (the load's ``max_users``): expected, never sent, so they count against
availability like any missing request. ``users`` is how many users the load generators ran
at the most in this second (in an open-model load, the pool as it grew); seconds from
several workers add up, and a window's merge is a sum of user-seconds (its mean is that
over the window's length).

``queued`` counts the requests of the second sent late because their task run started
after its slot, its user still busy with earlier runs, and ``queued_max_ms`` is the longest
such wait. Their latency includes that wait, as it must (the target held the user up), but
separate real users would not queue behind one another: many queued runs mean the load has
too few users for its rate at the target's latency.

A second in which a load generator itself fell behind (its event loop stalled, or it was
CPU-bound) carries a non-empty ``invalid`` reason and the worst generator lag seen,
``lag_ms``: its latencies say more about the generator than about the target.

``endpoints``: the same requests per locust request ``name`` (``slo.endpoints``): counts
and a coarse latency histogram each, at most 50 names.

A decoded histogram takes about 185 KiB, its encoding 1-2 KB. A ``SecondStats`` read from
JSON keeps the encoding and decodes it on first use of ``latency_us``, and merging seconds
that were never decoded only collects their encodings, so thousands of seconds can be held
and merged into a window without thousands of decoded histograms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from chaoskit.slo.endpoints import (
    EndpointSecond,
    compact,
    decode_compact,
    encode_endpoints,
    merge_endpoints,
)
from chaoskit.slo.percentiles import UnreadableEncoding, percentiles_of_encodings

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour; anything slower is clamped to it and counted
SIGNIFICANT_DIGITS = 3
_REASON_SEPARATOR = "; "


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class SecondStats:
    """Everything measured for requests intended to be sent in epoch second ``second``."""

    __slots__ = (
        "_encoded",
        "_endpoints",
        "_endpoints_encoded",
        "_histogram",
        "clamped",
        "dropped",
        "expected",
        "failed",
        "in_flight",
        "in_flight_age_us",
        "invalid",
        "lag_ms",
        "ok",
        "queued",
        "queued_max_ms",
        "second",
        "sent",
        "users",
    )

    def __init__(
        self,
        *,
        second: int,
        latency_us: HdrHistogram | None = None,
        ok: int = 0,
        failed: dict[str, int] | None = None,
        clamped: int = 0,
        expected: int = 0,
        sent: int = 0,
        lag_ms: float = 0.0,
        invalid: str = "",
        queued: int = 0,
        queued_max_ms: float = 0.0,
        dropped: int = 0,
        users: int = 0,
    ) -> None:
        self.second = second
        self._histogram = latency_us
        self._encoded: list[str] = []
        self.ok = ok
        self.failed: dict[str, int] = dict(failed) if failed else {}
        self.clamped = clamped
        self.expected = expected
        self.sent = sent
        self.lag_ms = lag_ms
        self.invalid = invalid
        self.queued = queued
        self.queued_max_ms = queued_max_ms
        self.dropped = dropped
        self.users = users
        # Only in a snapshot of a second not complete yet (a worker's partial second): its
        # requests not back when the snapshot was taken, each at least this old by then.
        self.in_flight = 0
        self.in_flight_age_us = 0.0
        # Requests per locust ``name`` (slo.endpoints): decoded in a worker, held as compact
        # JSON elsewhere until read (see the module's note on memory).
        self._endpoints: dict[str, EndpointSecond] | None = None
        self._endpoints_encoded: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"SecondStats(second={self.second}, expected={self.expected}, sent={self.sent}, "
            f"ok={self.ok}, failed={self.failed}, invalid={self.invalid!r})"
        )

    @property
    def latency_us(self) -> HdrHistogram:
        """Successful-request latency from the intended send time, in microseconds."""
        if self._histogram is None:
            self._histogram = self._decoded()
            self._encoded = []
        return self._histogram

    def latency_percentiles_us(self, percentiles: Sequence[float]) -> list[float] | None:
        """The latency at each of ``percentiles`` (above 0), None without a success. Read
        from the encoding when the second holds one, without decoding it (and so without
        keeping a decoded histogram: see the module's note on memory)."""
        if not self.ok:
            return None
        histogram = self._histogram
        if histogram is None:
            try:
                return percentiles_of_encodings(self._encoded, percentiles)
            except UnreadableEncoding:
                histogram = self._decoded()
        return [float(histogram.get_value_at_percentile(p)) for p in percentiles]

    @property
    def endpoints(self) -> dict[str, EndpointSecond]:
        """The second's requests per endpoint (a locust request's ``name``), at most
        ``slo.endpoints.MAX_ENDPOINTS`` of them; empty when the load named none."""
        if self._endpoints is None:
            self._endpoints = decode_compact(self._endpoints_encoded)
            self._endpoints_encoded = ()
        return self._endpoints

    def read_endpoints(self) -> dict[str, EndpointSecond]:
        """``endpoints`` without keeping them decoded: for reading many seconds once (a
        report of an hour), see the module's note on memory."""
        if self._endpoints is not None:
            return self._endpoints
        return decode_compact(self._endpoints_encoded)

    @property
    def has_endpoints(self) -> bool:
        return bool(self._endpoints or self._endpoints_encoded)

    def endpoint(self, name: str) -> EndpointSecond:
        """The endpoint ``name`` of this second, made on first use (the caller bounds the
        names: ``SecondRecorder`` folds those past the limit into ``OTHER``)."""
        endpoints = self.endpoints
        found = endpoints.get(name)
        if found is None:
            found = endpoints[name] = EndpointSecond()
        return found

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    @property
    def completed(self) -> int:
        return self.ok + self.failures

    @property
    def demand(self) -> int:
        """The denominator of availability: ``expected``, or at least the requests that
        completed (data recorded without ``expected``, e.g. by older journals, has 0)."""
        return max(self.expected, self.completed)

    @property
    def missing(self) -> int:
        """Expected requests that did not complete: never sent, or still in flight."""
        return max(0, self.expected - self.completed)

    @property
    def valid(self) -> bool:
        """False when a load generator lagged its schedule in this second."""
        return not self.invalid

    def record_ok(self, latency_us: float, count: int = 1) -> None:
        """``count`` successes, each ``latency_us`` long."""
        value = max(LOWEST_US, round(latency_us))
        if value > HIGHEST_US:
            value = HIGHEST_US
            self.clamped += count
        self.latency_us.record_value(value, count)
        self.ok += count

    def record_tally(self, tally: Mapping[int, int]) -> None:
        """Successes by latency: ``{latency_us: count}``. The same histogram as
        ``record_ok`` for each, at a third of the cost (0.6 µs a value instead of 2.0): a
        worker records every distinct microsecond value of every second, thousands a second
        under load."""
        histogram = self.latency_us
        # hdrh's own index arithmetic (``_counts_index_for``), inlined: it spends five method
        # calls a value. tests/unit/test_seconds.py holds the two to the same result. Clamping
        # keeps every index in range (hdrh's range check is left out with its calls).
        mask, unit = histogram.sub_bucket_mask, histogram.unit_magnitude
        half_magnitude = histogram.sub_bucket_half_count_magnitude
        half, counts = histogram.sub_bucket_half_count, histogram.counts
        lowest, highest = HIGHEST_US, LOWEST_US
        total = 0
        for latency_us, count in tally.items():
            value = LOWEST_US if latency_us < LOWEST_US else latency_us
            if value > HIGHEST_US:
                value = HIGHEST_US
                self.clamped += count
            bucket = (value | mask).bit_length() - unit - half_magnitude - 1
            counts[((bucket + 1) << half_magnitude) + (value >> (bucket + unit)) - half] += count
            total += count
            if value < lowest:
                lowest = value
            if value > highest:
                highest = value
        if total:
            histogram.total_count += total
            histogram.min_value = min(histogram.min_value, lowest)
            histogram.max_value = max(histogram.max_value, highest)
            self.ok += total

    def record_failure(self, reason: str) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1

    def at_least(self) -> SecondStats:
        """A copy in which each request in flight counts as a success with its age so far:
        its latency can only be higher, so a latency objective that fails on this copy
        fails on the complete second too."""
        bounded = SecondStats(second=self.second)
        bounded.merge(self)
        for _ in range(self.in_flight):
            bounded.record_ok(self.in_flight_age_us)
        bounded.in_flight = 0
        return bounded

    def mark_invalid(self, reason: str, *, lag_ms: float = 0.0) -> None:
        """The generator lagged in this second; ``reason`` says how (kept once)."""
        self.lag_ms = max(self.lag_ms, lag_ms)
        self.invalid = _join_reasons(self.invalid, reason)

    def merge(self, other: SecondStats) -> None:
        """Add ``other`` (the same second, or any second when building a window) into self."""
        # hdrh's add() of an empty histogram resets the minimum to 0: skip empty ones.
        if other.ok:
            if self._histogram is None and other._histogram is None:
                self._encoded.extend(other._encoded)
            elif other._histogram is not None:
                self.latency_us.add(other._histogram)
            else:
                for encoded in other._encoded:
                    self.latency_us.decode_and_add(encoded)
        self.ok += other.ok
        self.clamped += other.clamped
        self.expected += other.expected
        self.sent += other.sent
        self.lag_ms = max(self.lag_ms, other.lag_ms)
        self.queued += other.queued
        self.queued_max_ms = max(self.queued_max_ms, other.queued_max_ms)
        self.dropped += other.dropped
        self.users += other.users
        if other.invalid:
            self.invalid = _join_reasons(self.invalid, other.invalid)
        for reason, count in other.failed.items():
            self.failed[reason] = self.failed.get(reason, 0) + count
        if other.has_endpoints:
            if self._endpoints is None and other._endpoints is None:
                self._endpoints_encoded += other._endpoints_encoded
            else:
                merge_endpoints(self.endpoints, other.endpoints)
        if other.in_flight:
            ages = [other.in_flight_age_us] + ([self.in_flight_age_us] if self.in_flight else [])
            self.in_flight += other.in_flight
            self.in_flight_age_us = min(ages)

    def compacted(self) -> SecondStats:
        """A copy whose histogram is held encoded (1-2 KB instead of 185 KiB decoded), to be
        decoded again on first use: for seconds kept long after they were judged, such as
        every result of a run until its report is written. The JSON form is that one."""
        return SecondStats.from_json(self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "second": self.second,
            "latency_us": self._encoding() if self.ok else None,
            "ok": self.ok,
            "failed": dict(self.failed),
            "clamped": self.clamped,
            "expected": self.expected,
            "sent": self.sent,
            "lag_ms": self.lag_ms,
            "invalid": self.invalid,
            **({"queued": self.queued, "queued_max_ms": self.queued_max_ms} if self.queued else {}),
            **({"dropped": self.dropped} if self.dropped else {}),
            **({"users": self.users} if self.users else {}),
            **(
                {"in_flight": self.in_flight, "in_flight_age_us": self.in_flight_age_us}
                if self.in_flight
                else {}
            ),
            **({"endpoints": self._endpoints_json()} if self.has_endpoints else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecondStats:
        ok = int(data["ok"])
        failed = {str(k): int(v) for k, v in data.get("failed", {}).items()}
        completed = ok + sum(failed.values())
        stats = cls(
            second=int(data["second"]),
            ok=ok,
            failed=failed,
            clamped=int(data.get("clamped", 0)),
            # Recorded before schedules existed: every completed request was sent, and
            # nothing else was known to be expected.
            expected=int(data.get("expected", completed)),
            sent=int(data.get("sent", completed)),
            lag_ms=float(data.get("lag_ms", 0.0)),
            invalid=str(data.get("invalid", "")),
            queued=int(data.get("queued", 0)),
            queued_max_ms=float(data.get("queued_max_ms", 0.0)),
            dropped=int(data.get("dropped", 0)),
            users=int(data.get("users", 0)),
        )
        stats.in_flight = int(data.get("in_flight", 0))
        stats.in_flight_age_us = float(data.get("in_flight_age_us", 0.0))
        encoded = data.get("latency_us")
        if encoded and ok:
            stats._encoded.append(str(encoded))
        endpoints = data.get("endpoints")
        if endpoints is not None:
            encoded_endpoints = compact(endpoints)  # checked, whether empty or not
            if endpoints:
                stats._endpoints_encoded = (encoded_endpoints,)
        return stats

    def _endpoints_json(self) -> dict[str, object]:
        if self._endpoints is None and len(self._endpoints_encoded) == 1:
            loaded: dict[str, object] = json.loads(self._endpoints_encoded[0])
            return loaded
        return encode_endpoints(self.endpoints)

    def _decoded(self) -> HdrHistogram:
        histogram = new_histogram()
        for encoded in self._encoded:
            histogram.decode_and_add(encoded)
        return histogram

    def _encoding(self) -> str:
        if self._histogram is None and len(self._encoded) == 1:
            return self._encoded[0]
        # Decoded only for the encoding, and not kept: see the module's note on memory.
        histogram = self._histogram if self._histogram is not None else self._decoded()
        return str(histogram.encode().decode("ascii"))


def merge_seconds(seconds: Iterable[SecondStats], *, label: int = 0) -> SecondStats:
    """One SecondStats holding the sum of ``seconds`` (used for windows)."""
    total = SecondStats(second=label)
    for stats in seconds:
        total.merge(stats)
    return total


def _join_reasons(current: str, more: str) -> str:
    reasons = [r for r in current.split(_REASON_SEPARATOR) if r]
    for reason in more.split(_REASON_SEPARATOR):
        if reason and reason not in reasons:
            reasons.append(reason)
    return _REASON_SEPARATOR.join(reasons)
