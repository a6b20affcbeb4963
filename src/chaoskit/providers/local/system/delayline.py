"""Chunks of a byte stream held back until their due time, released in arrival order."""

from __future__ import annotations

import math
from collections import deque


class DelayLine:
    """A FIFO of chunks, each released no earlier than its own due time.

    Every chunk is scheduled at ``arrival + delay`` rather than behind the previous chunk's
    delay, so a 200 ms fault adds 200 ms to a response however many packets it spans. A chunk
    whose due time falls before its predecessor's (jitter can do that) waits for the
    predecessor: a TCP byte stream must never be reordered.
    """

    def __init__(self) -> None:
        self._chunks: deque[tuple[float, bytes]] = deque()
        self._last_due = -math.inf
        self.queued_bytes = 0

    def __len__(self) -> int:
        return len(self._chunks)

    def push(self, chunk: bytes, *, due: float) -> None:
        due = max(due, self._last_due)
        self._last_due = due
        self._chunks.append((due, chunk))
        self.queued_bytes += len(chunk)

    def pop_due(self, now: float, *, max_bytes: int | None = None) -> list[bytes]:
        """Remove and return, in order, the chunks due at or before ``now``: at most
        ``max_bytes`` of them, the last one cut if need be (its rest keeps its place)."""
        released: list[bytes] = []
        budget = math.inf if max_bytes is None else max_bytes
        while self._chunks and self._chunks[0][0] <= now and budget > 0:
            due, chunk = self._chunks.popleft()
            if len(chunk) > budget:
                cut = int(budget)
                self._chunks.appendleft((due, chunk[cut:]))
                chunk = chunk[:cut]
            budget -= len(chunk)
            self.queued_bytes -= len(chunk)
            released.append(chunk)
        return released

    @property
    def next_due(self) -> float | None:
        return self._chunks[0][0] if self._chunks else None

    def clear(self) -> None:
        self._chunks.clear()
        self.queued_bytes = 0
