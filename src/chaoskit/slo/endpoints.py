"""Requests per endpoint in one second: what each locust request ``name`` saw.

A load worker counts every request under its locust ``name`` (the ``name=`` argument, or
the url locust uses when there is none) beside the second's totals: requests that succeeded,
failures by reason, and the successes' latency. The report turns them into a table per
endpoint and phase, so a fault that breaks only ``/checkout`` shows as that, not as a
blended error rate.

Memory is bounded twice over. At most ``MAX_ENDPOINTS`` names are kept, by a worker and by
every merge; requests of any further name count under ``OTHER`` (a locustfile that names
each request by its url, ids and all, would otherwise make every request an endpoint). And
latency is kept coarse: counts per bucket, 16 buckets per power of two, so a bucket is at
most 1/16 of its value wide and a percentile read at its middle is within 3.2% of the
exact one. A second with a few endpoints encodes to a few hundred bytes, against 1-2 KB for
its full-precision histogram, and one hour of them stays a few MB in the pytest process
(bench/memory.py).

Pure Python, stdlib only: the workers, the driver and the report use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Final

MAX_ENDPOINTS: Final = 50
OTHER: Final = "other"
_EXACT_BELOW: Final = 32  # microseconds: below this every value is its own bucket
_MANTISSA_BITS: Final = 5  # the value's leading 5 bits: 16 buckets per power of two


def bucket_of(latency_us: int) -> int:
    """The bucket index of a latency in whole microseconds (below 1 counts as 1)."""
    if latency_us < _EXACT_BELOW:
        return max(1, latency_us)
    shift = latency_us.bit_length() - _MANTISSA_BITS
    return 16 * shift + (latency_us >> shift)


def bucket_middle_us(index: int) -> float:
    """The middle of bucket ``index``, in microseconds (the value itself when exact)."""
    if index < _EXACT_BELOW:
        return float(index)
    shift = index // 16 - 1
    lower = (index - 16 * shift) << shift
    return lower + (1 << shift) / 2


class EndpointSecond:
    """One endpoint's requests in one second."""

    __slots__ = ("buckets", "failed", "ok")

    def __init__(self) -> None:
        self.ok = 0
        self.failed: dict[str, int] = {}
        self.buckets: dict[int, int] = {}  # bucket index -> successes

    def __repr__(self) -> str:
        return f"EndpointSecond(ok={self.ok}, failed={self.failed})"

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    @property
    def requests(self) -> int:
        """Requests that completed, successfully or not."""
        return self.ok + self.failures

    def record_tally(self, tally: Mapping[int, int]) -> None:
        """Successes by latency: ``{latency_us: count}``."""
        buckets = self.buckets
        for latency_us, count in tally.items():
            index = bucket_of(latency_us)
            buckets[index] = buckets.get(index, 0) + count
            self.ok += count

    def record_failure(self, reason: str) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1

    def merge(self, other: EndpointSecond) -> None:
        self.ok += other.ok
        for reason, count in other.failed.items():
            self.failed[reason] = self.failed.get(reason, 0) + count
        add_buckets(self.buckets, other.buckets)

    def percentiles_ms(self, percentiles: Sequence[float]) -> list[float] | None:
        """The successes' latency at each of ``percentiles``, in ms; None without one."""
        return bucket_percentiles_ms(self.buckets, percentiles)

    def to_json(self) -> dict[str, object]:
        """``latency`` is dense: the first bucket's index, then the count of each bucket
        from it on (zeros included), a few characters a bucket."""
        encoded: dict[str, object] = {"ok": self.ok}
        if self.failed:
            encoded["failed"] = dict(self.failed)
        if self.buckets:
            encoded["latency"] = encode_buckets(self.buckets)
        return encoded

    @classmethod
    def from_json(cls, data: object) -> EndpointSecond:
        """ValueError naming what is wrong with ``data``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an endpoint's second is {data!r}, not an object")
        endpoint = cls()
        endpoint.ok = _count(data.get("ok", 0), "ok")
        failed = data.get("failed", {})
        if not isinstance(failed, Mapping):
            raise ValueError(f"an endpoint's failed is {failed!r}, not counts by reason")
        endpoint.failed = {str(reason): _count(n, "failed") for reason, n in failed.items()}
        endpoint.buckets = decode_buckets(data.get("latency", []), of="an endpoint")
        return endpoint


def add_buckets(into: MutableMapping[int, int], more: Mapping[int, int]) -> None:
    for index, count in more.items():
        into[index] = into.get(index, 0) + count


def bucket_percentiles_ms(
    buckets: Mapping[int, int], percentiles: Sequence[float]
) -> list[float] | None:
    """The latency at each of ``percentiles`` of what ``buckets`` count, in ms (each read at
    its bucket's middle); None when they count nothing."""
    total = sum(buckets.values())
    if not total:
        return None
    ordered = sorted(buckets.items())
    values = []
    for percentile in percentiles:
        wanted = max(1, math.ceil(total * percentile / 100))
        seen = 0
        for index, count in ordered:
            seen += count
            if seen >= wanted:
                values.append(bucket_middle_us(index) / 1000)
                break
    return values


def encode_buckets(buckets: Mapping[int, int]) -> list[int]:
    """Dense: the first bucket's index, then the count of each bucket from it on (zeros
    included), a few characters a bucket."""
    first, last = min(buckets), max(buckets)
    return [first, *(buckets.get(i, 0) for i in range(first, last + 1))]


def decode_buckets(latency: object, *, of: str) -> dict[int, int]:
    """What ``encode_buckets`` wrote; ValueError naming ``of`` (whose latency it is)."""
    if not isinstance(latency, list) or (latency and _count(latency[0], "latency", of=of) < 1):
        shown = repr(latency)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValueError(f"{of}'s latency is {shown}, not [first bucket, counts]")
    return {
        latency[0] + offset: count
        for offset, count in enumerate(latency[1:])
        if _count(count, "latency", of=of)
    }


def merge_endpoints(
    into: MutableMapping[str, EndpointSecond], more: Mapping[str, EndpointSecond]
) -> None:
    """Add ``more`` into ``into``, keeping at most ``MAX_ENDPOINTS`` names (and ``OTHER``)."""
    for name, endpoint in more.items():
        target = into.get(name)
        if target is None:
            if len(into) >= MAX_ENDPOINTS and name != OTHER:
                name = OTHER
                target = into.get(OTHER)
            if target is None:
                target = into[name] = EndpointSecond()
        target.merge(endpoint)


def encode_endpoints(endpoints: Mapping[str, EndpointSecond]) -> dict[str, object]:
    return {name: endpoint.to_json() for name, endpoint in endpoints.items()}


def decode_endpoints(data: object) -> dict[str, EndpointSecond]:
    """ValueError when ``data`` is not endpoints as ``encode_endpoints`` writes them."""
    if not isinstance(data, Mapping):
        raise ValueError(f"endpoints is {data!r}, not an object of endpoints")
    decoded: dict[str, EndpointSecond] = {}
    merge_endpoints(decoded, {str(name): EndpointSecond.from_json(e) for name, e in data.items()})
    return decoded


def compact(data: object) -> str:
    """Endpoints from JSON, checked, held as one compact string: see the module's note on
    memory. ``decode_compact`` reads it back."""
    decode_endpoints(data)
    return json.dumps(data, separators=(",", ":"))


def decode_compact(encodings: Iterable[str]) -> dict[str, EndpointSecond]:
    decoded: dict[str, EndpointSecond] = {}
    for encoded in encodings:
        merge_endpoints(decoded, decode_endpoints(json.loads(encoded)))
    return decoded


def _count(value: object, field: str, *, of: str = "an endpoint") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{of}'s {field} holds {value!r}, not a count")
    return value
