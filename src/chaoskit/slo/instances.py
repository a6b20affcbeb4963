"""What each instance of a target served, second by second, as the provider counted it.

The local system's fault proxy sees every request it forwards to an instance (HTTP targets,
whose messages it frames) and counts them per instance and per epoch second of the request's
start: the connections it routed there, the requests, the errors by cause (an HTTP 5xx
answer, an answer the proxy injected, a request left without an answer) and the latency from
the request's first byte reaching the proxy to the response's last byte leaving it, in the
buckets of ``slo.endpoints`` (16 per power of two, a percentile within 3.2%). The report
turns them into a table per instance and phase, so a fault on one instance out of three
shows on that row and not blended into the target's totals.

These are the values: frozen, JSON both ways, checked when read (ValueError naming the
field). Pure Python, stdlib only: the system process makes them, the control protocol
carries them, the lifecycle records them and the report reads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from chaoskit.slo.endpoints import (
    add_buckets,
    bucket_percentiles_ms,
    decode_buckets,
    encode_buckets,
)

# At most this many instances are kept per experiment: a soak that replaces an instance
# every few seconds must not make the journal heavy. The busiest are kept.
MAX_INSTANCES: Final = 100


@dataclass(frozen=True, kw_only=True)
class InstanceSecond:
    """One instance's traffic in one epoch second (of the requests' start)."""

    second: int
    connections: int = 0  # client connections routed to the instance
    refused: int = 0  # connections the instance did not accept (another one took them)
    requests: int = 0  # HTTP requests forwarded to it, or answered by a fault in its place
    errors: Mapping[str, int] = field(default_factory=dict)  # by cause: "HTTP 503", ...
    # Answered requests by latency bucket (slo.endpoints), from request start to response end.
    latency: Mapping[int, int] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, object]:
        """Counts that are zero are left out; ``latency`` is dense, as an endpoint's is: the
        first bucket's index, then the count of each bucket from it on."""
        encoded: dict[str, object] = {"second": self.second}
        for name in ("connections", "refused", "requests"):
            if getattr(self, name):
                encoded[name] = getattr(self, name)
        if self.errors:
            encoded["errors"] = dict(self.errors)
        if self.latency:
            encoded["latency"] = encode_buckets(self.latency)
        return encoded

    @classmethod
    def from_json(cls, data: object) -> InstanceSecond:
        if not isinstance(data, Mapping):
            raise ValueError(f"an instance's second is {_shown(data)}, not an object")
        second = data.get("second")
        if isinstance(second, bool) or not isinstance(second, int) or abs(second) > 1e11:
            raise ValueError(f"an instance's second is {_shown(second)}, not an epoch second")
        errors = data.get("errors", {})
        if not isinstance(errors, Mapping):
            raise ValueError(f"an instance's errors are {_shown(errors)}, not counts by cause")
        buckets = decode_buckets(data.get("latency", []), of="an instance")
        return cls(
            second=second,
            connections=_count(data.get("connections", 0), "connections"),
            refused=_count(data.get("refused", 0), "refused"),
            requests=_count(data.get("requests", 0), "requests"),
            errors={str(cause): _count(n, "errors") for cause, n in errors.items()},
            latency=buckets,
        )


@dataclass(frozen=True, kw_only=True)
class InstanceTraffic:
    """One instance of a target: its story (when it started, when it left the balancer) and
    what it served, second by second."""

    id: str
    started_at: float = 0.0  # epoch seconds its process started; 0: not known
    # When the balancer stopped sending to it (terminated, died, rebooting); None: still
    # taking traffic when the counts were read.
    gone_at: float | None = None
    seconds: tuple[InstanceSecond, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "gone_at": self.gone_at,
            "seconds": [second.to_json() for second in self.seconds],
        }

    @classmethod
    def from_json(cls, data: object) -> InstanceTraffic:
        if not isinstance(data, Mapping):
            raise ValueError(f"an instance is {_shown(data)}, not an object")
        instance_id = data.get("id")
        if not isinstance(instance_id, str):
            raise ValueError(f"an instance's id is {_shown(instance_id)}, not text")
        gone_at = data.get("gone_at")
        seconds = data.get("seconds", [])
        if not isinstance(seconds, list):
            raise ValueError(f"instance {instance_id}'s seconds are {_shown(seconds)}, not a list")
        return cls(
            id=instance_id,
            started_at=_moment(data.get("started_at", 0.0), f"instance {instance_id}'s started_at"),
            gone_at=None
            if gone_at is None
            else _moment(gone_at, f"instance {instance_id}'s gone_at"),
            seconds=tuple(InstanceSecond.from_json(second) for second in seconds),
        )


@dataclass(frozen=True, kw_only=True)
class InstanceTotals:
    """An instance's seconds added up (a phase of the report)."""

    connections: int
    refused: int
    requests: int
    errors: Mapping[str, int]
    latency: Mapping[int, int]

    @property
    def failures(self) -> int:
        return sum(self.errors.values())

    @property
    def answered(self) -> int:
        return sum(self.latency.values())

    def percentile_ms(self, percentile: float) -> float | None:
        """The answered requests' latency at ``percentile``, in ms; None without one."""
        values = bucket_percentiles_ms(self.latency, [percentile])
        return values[0] if values else None


def totals(seconds: Iterable[InstanceSecond]) -> InstanceTotals:
    connections = refused = requests = 0
    errors: dict[str, int] = {}
    latency: dict[int, int] = {}
    for second in seconds:
        connections += second.connections
        refused += second.refused
        requests += second.requests
        for cause, count in second.errors.items():
            errors[cause] = errors.get(cause, 0) + count
        add_buckets(latency, second.latency)
    return InstanceTotals(
        connections=connections, refused=refused, requests=requests, errors=errors, latency=latency
    )


def busiest(instances: Sequence[InstanceTraffic]) -> tuple[InstanceTraffic, ...]:
    """At most ``MAX_INSTANCES``, the busiest kept, in their given order."""
    if len(instances) <= MAX_INSTANCES:
        return tuple(instances)
    load = {id(i): sum(s.requests + s.connections for s in i.seconds) for i in instances}
    kept = {id(i) for i in sorted(instances, key=lambda i: -load[id(i)])[:MAX_INSTANCES]}
    return tuple(i for i in instances if id(i) in kept)


def encode_instances(instances: Iterable[InstanceTraffic]) -> list[dict[str, object]]:
    return [instance.to_json() for instance in instances]


def decode_instances(data: object) -> tuple[InstanceTraffic, ...]:
    """ValueError when ``data`` is not instances as ``encode_instances`` writes them."""
    if not isinstance(data, list):
        raise ValueError(f"instances is {_shown(data)}, not a list of instances")
    return tuple(InstanceTraffic.from_json(item) for item in data)


def _moment(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or abs(value) > 1e11
    ):
        raise ValueError(f"{name} is {_shown(value)}, not an epoch time")
    return float(value)


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"an instance's {name} holds {_shown(value)}, not a count")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
