"""The worker's time: epoch seconds read from the monotonic clock, shifted once to the epoch,
so that the schedules do not burst or skip when NTP steps the system clock.

Runs in a load worker process (stdlib only). The request wrappers inline ``clock()`` as
``monotonic() + EPOCH_OFFSET``: they run once per request.
"""

from __future__ import annotations

import time
from typing import Final

EPOCH_OFFSET: Final = time.time() - time.monotonic()


def clock() -> float:
    """Epoch seconds that never step: the monotonic clock, aligned to the epoch once."""
    return time.monotonic() + EPOCH_OFFSET
