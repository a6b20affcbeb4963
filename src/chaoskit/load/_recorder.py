"""What a load worker records: requests into per-second ``SecondStats``, and a watermark.

Pure Python with no locust import, so it is unit tested in the pytest process; the worker
process feeds it from locust's request event and ships what ``drain`` returns.

A request belongs to the epoch second of its ``start_time``. Successes go into that second's
latency histogram (microseconds, clamped by ``SecondStats``, never dropped); failures into its
counters under a short reason. The **watermark** is a whole epoch second W such that every
request that started before W has been recorded and handed out by ``drain``: seconds below W
are complete. It is bounded by the oldest request still in flight (``begin``/``end`` bracket
every request the worker's HTTP clients send), so it lags "now" only as long as requests do.

A request the brackets did not see (a user's own client firing the request event) can
complete behind the watermark. It is still recorded and shipped as a late addition to its
second (the receiver merges by addition), and from then on the recorder stops trusting the
brackets: the watermark becomes "now minus ``grace``", the longest a request can take.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from chaoskit.slo.seconds import SecondStats

HTTP_ERROR_STATUS: Final = 400


@dataclass(frozen=True, kw_only=True)
class Batch:
    """Seconds ready to ship (sorted, each with something recorded) and the watermark."""

    watermark: float
    seconds: tuple[SecondStats, ...]


class SecondRecorder:
    def __init__(self, *, grace: float) -> None:
        self._grace = grace
        self._open: dict[int, SecondStats] = {}
        self._in_flight: dict[int, float] = {}
        self._tokens = itertools.count()
        self._shipped_until = -math.inf
        self._brackets_trusted = True

    @property
    def brackets_trusted(self) -> bool:
        """False once a request completed behind the watermark."""
        return self._brackets_trusted

    def begin(self, now: float) -> int:
        """A request is about to be sent; pass the returned token to ``end``."""
        token = next(self._tokens)
        self._in_flight[token] = now
        return token

    def end(self, token: int) -> None:
        self._in_flight.pop(token, None)

    def record_ok(self, *, start_time: float, latency_ms: float) -> None:
        self._second(start_time).record_ok(latency_ms * 1000.0)

    def record_failure(self, *, start_time: float, reason: str) -> None:
        self._second(start_time).record_failure(reason)

    def watermark(self, now: float) -> float:
        if self._brackets_trusted:
            bound = min(now, *self._in_flight.values()) if self._in_flight else now
        else:
            bound = now - self._grace
        # Never move backwards: the receiver has been told everything before it is complete.
        return max(float(math.floor(bound)), self._shipped_until)

    def drain(self, now: float) -> Batch:
        """Hand out every second below the watermark (and late additions to them)."""
        watermark = self.watermark(now)
        ready = sorted(second for second in self._open if second < watermark)
        self._shipped_until = watermark
        return Batch(watermark=watermark, seconds=tuple(self._open.pop(s) for s in ready))

    def restore(self, seconds: Iterable[SecondStats]) -> None:
        """Take back seconds that could not be shipped; the next ``drain`` hands them out."""
        for stats in seconds:
            self._slot(stats.second).merge(stats)

    def _second(self, start_time: float) -> SecondStats:
        if start_time < self._shipped_until:
            self._brackets_trusted = False
        return self._slot(math.floor(start_time))

    def _slot(self, second: int) -> SecondStats:
        stats = self._open.get(second)
        if stats is None:
            stats = self._open[second] = SecondStats(second=second)
        return stats


def failure_reason(exception: object, status_code: object) -> str:
    """A short, bounded label for a failed request: ``HTTP 503`` or an exception class name.

    Never the message: messages carry urls, ids and addresses, which would make every
    failure its own category.
    """
    if isinstance(status_code, int) and status_code >= HTTP_ERROR_STATUS:
        return f"HTTP {status_code}"
    # geventhttpclient wraps the real cause (a timeout, a refused connection) in
    # RetriesExceeded(original=...); the cause is what the report should show.
    original = getattr(exception, "original", None)
    if isinstance(original, BaseException):
        exception = original
    if isinstance(exception, BaseException):
        return type(exception).__name__
    return "Failure"
