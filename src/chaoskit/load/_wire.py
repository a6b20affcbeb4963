"""The messages between the driver (pytest process), the coordinator and its workers.

One concern, about 520 lines: the load wire's one protocol. Each message's fields, its
encoding and its checks sit together so both ends agree by construction; split, a field
added at one end could be missed at the other.

Each message is a frozen dataclass with ``to_json``/``from_json``; both ends use them. Stdlib
only: both sides import this module, and the driver side must never import locust or gevent.

Between the driver and the coordinator, one JSON object per line, UTF-8 (``encode`` and
``decode_command``/``decode_event``).

Driver -> coordinator (stdin), each with an ``id`` echoed in its acknowledgement::

    {"command": "start", "id": 1, "users": 10, "spawn_rate": 10.0, "rate_per_user": 15.0,
     "locust_stats": null, "max_users": 100}                            Start
    {"command": "stop", "id": 2}                                        Stop
    {"command": "quit", "id": 3}                                        Quit

Coordinator -> driver (stdout)::

    {"event": "ready", "port": 40123, "stop_timeout": 22.0, "request_timeout": 20.0,
     "shape": null}                                                     Ready
    {"event": "workers", "ids": ["host_1f3a...", "host_9c2e..."]}       WorkersConnected
    {"event": "ack", "id": 1, "command": "start", "error": null}        Ack
    {"event": "seconds", "worker": "host_1f3a...", "pid": 4242, "watermark": 1717171717.0,
     "seconds": [<SecondStats.to_json()>, ...], "partial": [<SecondStats.to_json()>, ...]}
                                                                        Seconds
    {"event": "live", "worker": "host_1f3a...", "pid": 4242, "at": 1717171718.25,
     "seconds": [<SecondStats.to_json()>, ...]}                         Live
    {"event": "error", "message": "..."}                                CoordinatorFailed
                                                (then the coordinator exits non-zero)

``ready``: the locust file loaded and the master listens on 127.0.0.1:``port``; workers may
connect. ``request_timeout`` is the longest a request can take with the clients' timeouts,
``stop_timeout`` how long stopping waits for requests in flight; ``shape`` names the locust
file's ``LoadTestShape`` class, if it has one. ``workers``: every expected worker connected.
``seconds``: a batch from one worker; every request that worker started before
``watermark`` (epoch seconds) is in this batch or an earlier one. A second can come again in
a later batch (a late addition): receivers merge batches by addition. ``partial``: seconds
at or past the watermark that are over, with what of them completed so far; each batch's
partial seconds replace that worker's previous ones (for peeking, never merged).
``live``: the same snapshots of seconds that are over and not complete, taken at ``at``
(epoch seconds) and sent four times a second, between batches, so that the guardrail sees a
slow or stalled second while its requests are still outstanding; each replaces that
worker's previous partial seconds, as a batch's do. A snapshot's ``in_flight`` counts its
requests still outstanding (sent and not back, or due and not sent because their user is
busy), each at least ``in_flight_age_us`` old: the time since the second ended.

Between the coordinator (locust master) and its workers, locust's own custom messages carry
a ``WorkerBatch`` (``SECONDS_MESSAGE``, worker -> master; relayed as ``Seconds``), a
``WorkerLive`` (``LIVE_MESSAGE``, worker -> master; relayed as ``Live``) and a
``Schedule`` (``SCHEDULE_MESSAGE``, master -> each worker, before each start: the rate, and
that worker's share of ``max_users``); ``STOPPING_MESSAGE`` (master -> workers, no data,
just before locust's own stop: the schedules end there).

The seconds stay in their compact encoding (``SecondStats.to_json()``, the histogram
encoded) all the way to the driver's measurements, which decode them once: a message
carries them as JSON objects (``EncodedSecond``), checked to be objects and nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

# Commands (driver -> coordinator).
START: Final = "start"
STOP: Final = "stop"
QUIT: Final = "quit"

# Events (coordinator -> driver).
READY: Final = "ready"
WORKERS: Final = "workers"
ACK: Final = "ack"
SECONDS: Final = "seconds"
LIVE: Final = "live"
ERROR: Final = "error"

# The locust custom message a worker sends its batches to the master with (``WorkerBatch``).
SECONDS_MESSAGE: Final = "chaoskit_seconds"
# The locust custom message a worker sends its live seconds to the master with (``WorkerLive``).
LIVE_MESSAGE: Final = "chaoskit_live"
# The locust custom message the master sends workers before each start (``Schedule``).
SCHEDULE_MESSAGE: Final = "chaoskit_schedule"
# The locust custom message the master sends workers just before locust's own stop (no
# data): locust's stop first inspects its caller's stack, which can hold the event loop for
# tens of milliseconds, and runs due meanwhile would count as missed by the stop.
STOPPING_MESSAGE: Final = "chaoskit_stopping"
# Locust's own default master port, where remote workers look first.
DEFAULT_MASTER_PORT: Final = 5557

JsonObject: TypeAlias = dict[str, object]
# One second as ``SecondStats.to_json()`` encodes it; decoded by the driver's measurements.
EncodedSecond: TypeAlias = Mapping[str, object]


class WireError(ValueError):
    """A JSON object that is not a message of this protocol; the message says why."""


# -- driver -> coordinator -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Start:
    """Start ``users`` users at ``spawn_rate`` a second; each runs ``rate_per_user`` task runs
    a second (None: its own ``wait_time``); ``locust_stats``: record locust's own request
    statistics (None: the worker's default); ``max_users``: the most users the open model's
    pools may grow the load to, over all workers (None: no growth)."""

    NAME: ClassVar[str] = START

    id: int
    users: int
    spawn_rate: float
    rate_per_user: float | None = None
    locust_stats: bool | None = None
    max_users: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "command": self.NAME,
            "id": self.id,
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "rate_per_user": self.rate_per_user,
            "locust_stats": self.locust_stats,
            "max_users": self.max_users,
        }

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Start:
        return cls(
            id=_int(line, "id"),
            users=_int(line, "users"),
            spawn_rate=_float(line, "spawn_rate"),
            rate_per_user=_optional_float(line, "rate_per_user"),
            locust_stats=_optional_bool(line, "locust_stats"),
            max_users=_optional_int(line, "max_users"),
        )


@dataclass(frozen=True, kw_only=True)
class Stop:
    """Stop the users, waiting for their requests in flight."""

    NAME: ClassVar[str] = STOP

    id: int

    def to_json(self) -> JsonObject:
        return {"command": self.NAME, "id": self.id}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Stop:
        return cls(id=_int(line, "id"))


@dataclass(frozen=True, kw_only=True)
class Quit:
    """Quit the master and its workers (the end of stdin means the same)."""

    NAME: ClassVar[str] = QUIT

    id: int

    def to_json(self) -> JsonObject:
        return {"command": self.NAME, "id": self.id}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Quit:
        return cls(id=_int(line, "id"))


Command: TypeAlias = Start | Stop | Quit
_COMMANDS: Final[Mapping[str, type[Start] | type[Stop] | type[Quit]]] = {
    START: Start,
    STOP: Stop,
    QUIT: Quit,
}


def decode_command(raw: str | bytes) -> Command | None:
    """The command on a line; None when the line is not a JSON object (not for us).

    Raises WireError for a JSON object that is no command, or a command with bad fields.
    """
    line = load(raw)
    if line is None:
        return None
    name = line.get("command")
    kind = _COMMANDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise WireError(f"unknown command {name!r}")
    return kind.from_json(line)


# -- coordinator -> driver -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Ready:
    """The master listens on ``port``; see the module docstring for the timeouts."""

    port: int
    stop_timeout: float
    request_timeout: float
    shape: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "event": READY,
            "port": self.port,
            "stop_timeout": self.stop_timeout,
            "request_timeout": self.request_timeout,
            "shape": self.shape,
        }

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Ready:
        return cls(
            port=_int(line, "port"),
            stop_timeout=_float(line, "stop_timeout"),
            request_timeout=_float(line, "request_timeout"),
            shape=_optional_str(line, "shape"),
        )


@dataclass(frozen=True, kw_only=True)
class WorkersConnected:
    """Every expected worker is connected; their locust client ids."""

    ids: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"event": WORKERS, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> WorkersConnected:
        ids = _list(line, "ids")
        if not all(isinstance(worker, str) for worker in ids):
            raise WireError(f"'ids' holds something other than strings: {ids!r}")
        return cls(ids=tuple(str(worker) for worker in ids))


@dataclass(frozen=True, kw_only=True)
class Ack:
    """Command ``id`` (named ``command``) is done: it worked, or failed with ``error``."""

    id: int
    command: str
    error: str | None = None

    def to_json(self) -> JsonObject:
        return {"event": ACK, "id": self.id, "command": self.command, "error": self.error}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Ack:
        return cls(
            id=_int(line, "id"),
            command=_str(line, "command"),
            error=_optional_str(line, "error"),
        )


@dataclass(frozen=True, kw_only=True)
class WorkerBatch:
    """What one worker ships at a time (see ``Seconds``), from the process ``pid``."""

    pid: int | None
    watermark: float
    seconds: tuple[EncodedSecond, ...]
    partial: tuple[EncodedSecond, ...] = ()

    def to_json(self) -> JsonObject:
        return {
            "pid": self.pid,
            "watermark": self.watermark,
            "seconds": list(self.seconds),
            "partial": list(self.partial),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WorkerBatch:
        return cls(
            pid=_optional_int(data, "pid"),
            watermark=_float(data, "watermark"),
            seconds=_objects(data, "seconds"),
            partial=_objects(data, "partial") if data.get("partial") is not None else (),
        )


@dataclass(frozen=True, kw_only=True)
class Seconds:
    """A worker's batch, relayed by the coordinator; ``worker`` is its locust client id."""

    worker: str
    batch: WorkerBatch

    def to_json(self) -> JsonObject:
        return {"event": SECONDS, "worker": self.worker, **self.batch.to_json()}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Seconds:
        return cls(worker=_str(line, "worker"), batch=WorkerBatch.from_json(line))


@dataclass(frozen=True, kw_only=True)
class WorkerLive:
    """A worker's snapshots, taken at ``at``, of its seconds that are over and not complete
    (see ``Live``), from the process ``pid``."""

    pid: int | None
    at: float
    seconds: tuple[EncodedSecond, ...]

    def to_json(self) -> JsonObject:
        return {"pid": self.pid, "at": self.at, "seconds": list(self.seconds)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WorkerLive:
        return cls(
            pid=_optional_int(data, "pid"), at=_float(data, "at"), seconds=_objects(data, "seconds")
        )


@dataclass(frozen=True, kw_only=True)
class Live:
    """A worker's live seconds, relayed by the coordinator; ``worker`` is its locust client
    id."""

    worker: str
    live: WorkerLive

    def to_json(self) -> JsonObject:
        return {"event": LIVE, "worker": self.worker, **self.live.to_json()}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> Live:
        return cls(worker=_str(line, "worker"), live=WorkerLive.from_json(line))


@dataclass(frozen=True, kw_only=True)
class CoordinatorFailed:
    """The coordinator cannot go on (a locust file it cannot use, workers that did not
    connect); it exits non-zero after this."""

    message: str

    def to_json(self) -> JsonObject:
        return {"event": ERROR, "message": self.message}

    @classmethod
    def from_json(cls, line: Mapping[str, object]) -> CoordinatorFailed:
        return cls(message=_str(line, "message"))


Event: TypeAlias = Ready | WorkersConnected | Ack | Seconds | Live | CoordinatorFailed
_EVENTS: Final[
    Mapping[
        str,
        type[Ready]
        | type[WorkersConnected]
        | type[Ack]
        | type[Seconds]
        | type[Live]
        | type[CoordinatorFailed],
    ]
] = {
    READY: Ready,
    WORKERS: WorkersConnected,
    ACK: Ack,
    SECONDS: Seconds,
    LIVE: Live,
    ERROR: CoordinatorFailed,
}


def decode_event(raw: str | bytes) -> Event | None:
    """The event on a line; None when the line is not a JSON object (not for us).

    Raises WireError for a JSON object that is no event, or an event with bad fields.
    """
    line = load(raw)
    if line is None:
        return None
    name = line.get("event")
    kind = _EVENTS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise WireError(f"unknown event {name!r}")
    return kind.from_json(line)


# -- coordinator -> workers ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How the next users run: ``rate_per_user`` task runs a second each (None: keep their
    wait times); ``locust_stats``: record locust's own request statistics (True, False, or
    None for the worker's default); ``max_users``: this worker's share of the load's
    ``max_users``, the most users its open-model pool may grow to (None: no growth)."""

    rate_per_user: float | None = None
    locust_stats: bool | None = None
    max_users: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "rate_per_user": self.rate_per_user,
            "locust_stats": self.locust_stats,
            "max_users": self.max_users,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Schedule:
        return cls(
            rate_per_user=_optional_float(data, "rate_per_user"),
            locust_stats=_optional_bool(data, "locust_stats"),
            max_users=_optional_int(data, "max_users"),
        )


def shares(total: int | None, workers: int) -> list[int | None]:
    """``total`` (the load's ``max_users``) split between ``workers`` as evenly as whole
    users allow, so that the shares add up to it (None: None for each)."""
    if total is None:
        return [None] * workers
    base, extra = divmod(total, workers)
    return [base + (1 if index < extra else 0) for index in range(workers)]


# -- framing -------------------------------------------------------------------------------


def encode(message: Command | Event) -> str:
    """The line that carries ``message``."""
    return dump(message.to_json())


def dump(line: Mapping[str, object]) -> str:
    return json.dumps(line, separators=(",", ":")) + "\n"


def load(raw: str | bytes) -> JsonObject | None:
    """The object on a line, or None when the line is not a JSON object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -- field readers: each raises WireError naming the field ---------------------------------


def _present(line: Mapping[str, object], key: str) -> object:
    if key not in line:
        raise WireError(f"{key!r} is missing")
    return line[key]


def _int(line: Mapping[str, object], key: str) -> int:
    value = _present(line, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{key!r} is not an integer: {value!r}")
    return value


def _optional_int(line: Mapping[str, object], key: str) -> int | None:
    return None if line.get(key) is None else _int(line, key)


def _float(line: Mapping[str, object], key: str) -> float:
    value = _present(line, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"{key!r} is not a number: {value!r}")
    return float(value)


def _optional_float(line: Mapping[str, object], key: str) -> float | None:
    return None if line.get(key) is None else _float(line, key)


def _optional_bool(line: Mapping[str, object], key: str) -> bool | None:
    value = line.get(key)
    if value is not None and not isinstance(value, bool):
        raise WireError(f"{key!r} is not true, false or null: {value!r}")
    return value


def _str(line: Mapping[str, object], key: str) -> str:
    value = _present(line, key)
    if not isinstance(value, str):
        raise WireError(f"{key!r} is not a string: {value!r}")
    return value


def _optional_str(line: Mapping[str, object], key: str) -> str | None:
    return None if line.get(key) is None else _str(line, key)


def _list(line: Mapping[str, object], key: str) -> list[object]:
    value = _present(line, key)
    # msgpack may hand a list over as a tuple.
    if not isinstance(value, list | tuple):
        raise WireError(f"{key!r} is not a list: {value!r}")
    return list(value)


def _objects(line: Mapping[str, object], key: str) -> tuple[EncodedSecond, ...]:
    items = _list(line, key)
    objects: list[EncodedSecond] = []
    for item in items:
        if not isinstance(item, dict):
            raise WireError(f"{key!r} holds something other than objects: {item!r}")
        objects.append(item)
    return tuple(objects)
