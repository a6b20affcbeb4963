"""Per-second measurements and their merge into windows.

One ``SecondStats`` holds what the load generators observed for the requests *started* in one
epoch second: an HDR histogram of successful-request latency in microseconds (3 significant
digits) and counters. Seconds from several workers, and seconds across a window, merge by
addition, so a window's percentiles are exactly those of the union of its requests (to the
histogram's 3-digit precision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour; anything slower is clamped to it and counted
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(kw_only=True)
class SecondStats:
    """Everything measured for requests started in epoch second ``second``."""

    second: int
    latency_us: HdrHistogram = field(default_factory=new_histogram)
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    clamped: int = 0

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    @property
    def completed(self) -> int:
        return self.ok + self.failures

    def record_ok(self, latency_us: float) -> None:
        value = max(LOWEST_US, round(latency_us))
        if value > HIGHEST_US:
            value = HIGHEST_US
            self.clamped += 1
        self.latency_us.record_value(value)
        self.ok += 1

    def record_failure(self, reason: str) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1

    def merge(self, other: SecondStats) -> None:
        """Add ``other`` (the same second, or any second when building a window) into self."""
        if other.ok:  # hdrh's add() of an empty histogram resets the minimum to 0
            self.latency_us.add(other.latency_us)
        self.ok += other.ok
        self.clamped += other.clamped
        for reason, count in other.failed.items():
            self.failed[reason] = self.failed.get(reason, 0) + count

    def to_json(self) -> dict[str, Any]:
        return {
            "second": self.second,
            "latency_us": self.latency_us.encode().decode("ascii") if self.ok else None,
            "ok": self.ok,
            "failed": dict(self.failed),
            "clamped": self.clamped,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecondStats:
        stats = cls(
            second=int(data["second"]),
            ok=int(data["ok"]),
            failed={str(k): int(v) for k, v in data.get("failed", {}).items()},
            clamped=int(data.get("clamped", 0)),
        )
        if data.get("latency_us"):
            stats.latency_us.decode_and_add(data["latency_us"])
        return stats


def merge_seconds(seconds: Iterable[SecondStats], *, label: int = 0) -> SecondStats:
    """One SecondStats holding the sum of ``seconds`` (used for windows)."""
    total = SecondStats(second=label)
    for stats in seconds:
        total.merge(stats)
    return total
