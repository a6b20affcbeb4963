"""The measurements the load workers shipped, as the driver (pytest process) keeps them:
merged by second over workers, with each worker's watermark and running totals, its latest
snapshots of seconds not complete yet, and when it last reported anything."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

from chaoskit.load._wire import EncodedSecond, WireError
from chaoskit.slo.seconds import SecondStats


class Measurements:
    """The batches workers shipped, kept as they came: ``SecondStats`` holding their
    histograms encoded (a decoded second histogram takes ~185 KiB, its encoding 1-2 KB),
    merged by second on demand without decoding. Thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._created = clock()
        # Per worker, when its last batch or live snapshot arrived.
        self._heard: dict[str, float] = {}
        self._lock = threading.Lock()
        self._parts: dict[int, list[SecondStats]] = {}
        self._watermarks: dict[str, float] = {}
        self._shipped: dict[str, SecondStats] = {}
        # Per worker, its latest snapshots of seconds still in flight (see ``Batch.partial``).
        self._partial: dict[str, dict[int, SecondStats]] = {}

    def add(
        self,
        worker: str,
        watermark: float,
        seconds: Iterable[EncodedSecond],
        partial: Iterable[EncodedSecond] = (),
    ) -> None:
        """Keep a worker's batch; WireError, and nothing kept, when a second of it has a
        missing or bad field."""
        parts = _decoded(seconds)
        snapshots = {snapshot.second: snapshot for snapshot in _decoded(partial)}
        with self._lock:
            self._heard[worker] = self._clock()
            self._partial[worker] = snapshots
            shipped = self._shipped.setdefault(worker, SecondStats(second=0))
            for part in parts:
                self._parts.setdefault(part.second, []).append(part)
                shipped.ok += part.ok
                shipped.expected += part.expected
                shipped.sent += part.sent
                for reason, count in part.failed.items():
                    shipped.failed[reason] = shipped.failed.get(reason, 0) + count
            self._watermarks[worker] = max(watermark, self._watermarks.get(worker, -math.inf))

    def add_live(self, worker: str, seconds: Iterable[EncodedSecond]) -> None:
        """Keep a worker's live snapshots of its seconds not complete yet (replacing its
        previous ones); WireError, and nothing kept, when one has a missing or bad field."""
        snapshots = {snapshot.second: snapshot for snapshot in _decoded(seconds)}
        with self._lock:
            self._heard[worker] = self._clock()
            self._partial[worker] = snapshots

    def progress(self, workers: Iterable[str]) -> tuple[float, float]:
        """Until when every second is complete (the lowest watermark of ``workers``), and when
        the quietest of them last reported anything (when these measurements began, for one
        that never did)."""
        with self._lock:
            watermarks = [self._watermarks.get(worker, -math.inf) for worker in workers]
            heard = [self._heard.get(worker, self._created) for worker in workers]
        return min(watermarks, default=-math.inf), min(heard, default=self._created)

    def lagging(self, workers: Iterable[str], until: float) -> list[str]:
        """Why the seconds before ``until`` are not complete yet (empty when they are)."""
        with self._lock:
            watermarks = {worker: self._watermarks.get(worker) for worker in workers}
        reasons = []
        for worker, watermark in watermarks.items():
            if watermark is None:
                reasons.append(f"worker {worker} has sent no measurements")
            elif watermark < until:
                reasons.append(
                    f"worker {worker} has sent the seconds before {watermark:.0f}, "
                    f"{until - watermark:.0f}s short"
                )
        return reasons

    def seconds(self, first: int, stop: int, *, partial: bool = False) -> list[SecondStats]:
        """The seconds in ``[first, stop)``, merged over workers; with ``partial``, each
        worker's seconds not complete yet count with what it has completed of them."""
        with self._lock:
            parts = {second: list(self._parts.get(second, ())) for second in range(first, stop)}
            if partial:
                for worker, snapshots in self._partial.items():
                    complete_until = self._watermarks.get(worker, -math.inf)
                    for second, snapshot in snapshots.items():
                        if second in parts and second >= complete_until:
                            parts[second].append(snapshot)
        merged = []
        for second, shipped in parts.items():
            stats = SecondStats(second=second)
            for part in shipped:
                stats.merge(part)
            merged.append(stats)
        return merged

    def shipped_by_worker(self) -> dict[str, SecondStats]:
        """Each worker's counters summed over everything it shipped (no histograms)."""
        with self._lock:
            return {
                worker: SecondStats(
                    second=0,
                    ok=total.ok,
                    failed=dict(total.failed),
                    expected=total.expected,
                    sent=total.sent,
                )
                for worker, total in self._shipped.items()
            }


def _decoded(seconds: Iterable[EncodedSecond]) -> list[SecondStats]:
    try:
        return [SecondStats.from_json(second) for second in seconds]
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        # The wire checks that each second is an object; its fields are SecondStats's to read.
        raise WireError(f"a shipped second has a missing or bad field: {error!r}") from error
