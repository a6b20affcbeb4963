"""The line protocol between the driver (pytest process) and the coordinator process.

One JSON object per line, UTF-8. Stdlib only: both sides import it, and the driver side
must never import locust or gevent.

Driver -> coordinator (stdin), each with an ``id`` echoed in its acknowledgement::

    {"command": "start", "id": 1, "users": 10, "spawn_rate": 10.0, "rate_per_user": 15.0,
     "locust_stats": null}
    {"command": "stop", "id": 2}
    {"command": "quit", "id": 3}

Coordinator -> driver (stdout)::

    {"event": "ready", "port": 40123, "stop_timeout": 22.0, "request_timeout": 20.0}
    {"event": "workers", "ids": ["host_1f3a...", "host_9c2e..."]}
    {"event": "ack", "id": 1, "command": "start", "error": null}
    {"event": "seconds", "worker": "host_1f3a...", "pid": 4242, "watermark": 1717171717.0,
     "seconds": [<SecondStats.to_json()>, ...], "partial": [<SecondStats.to_json()>, ...]}
    {"event": "error", "message": "..."}            (then the coordinator exits non-zero)

``ready``: the locust file loaded and the master listens on 127.0.0.1:``port``; workers may
connect. ``request_timeout`` is the longest a request can take with the clients' timeouts,
``stop_timeout`` how long stopping waits for requests in flight. ``workers``: every expected
worker connected. ``seconds``: a batch from one worker; every request that worker started
before ``watermark`` (epoch seconds) is in this batch or an earlier one. A second can come
again in a later batch (a late addition): receivers merge batches by addition. ``partial``:
seconds at or past the watermark that are over, with what of them completed so far; each
batch's partial seconds replace that worker's previous ones (for peeking, never merged).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

# Commands (driver -> coordinator).
START: Final = "start"
STOP: Final = "stop"
QUIT: Final = "quit"

# Events (coordinator -> driver).
READY: Final = "ready"
WORKERS: Final = "workers"
ACK: Final = "ack"
SECONDS: Final = "seconds"
ERROR: Final = "error"

# The locust custom message a worker sends its batches to the master with.
SECONDS_MESSAGE: Final = "chaoskit_seconds"
# The locust custom message the master sends workers before each start:
# {"rate_per_user": <task runs per second per user, or null to keep the wait times>,
#  "locust_stats": <record locust's own request statistics: true, false, or null for the
#  worker's default>}.
SCHEDULE_MESSAGE: Final = "chaoskit_schedule"
# Locust's own default master port, where remote workers look first.
DEFAULT_MASTER_PORT: Final = 5557


def dump(line: Mapping[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":")) + "\n"


def load(raw: str | bytes) -> dict[str, Any] | None:
    """The object on a line, or None when the line is not a protocol line."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
