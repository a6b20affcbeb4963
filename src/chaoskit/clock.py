"""The real clock. Tests pass ``chaoskit.testing.FakeClock`` instead."""

from __future__ import annotations

import time


class SystemClock:
    """Wall-clock time (epoch seconds: it keys the per-second measurements) and a real sleep."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
