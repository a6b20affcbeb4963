"""Load specifications, as users write them in ``chaos(load=...)`` markers.

This module stays light on purpose: markers are evaluated when pytest imports a test module,
and importing locust there would gevent-patch the pytest process. The driver that runs the
load lives in ``chaoskit.load.driver`` and starts locust in separate processes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from chaoskit.errors import ConfigError
from chaoskit.load._wire import DEFAULT_MASTER_PORT

__all__ = ["Locust"]


@dataclass(frozen=True, kw_only=True)
class _LocustFields:
    """A load spec's checked, normalised values (``Locust`` builds them)."""

    locustfile: Path  # absolute
    users: int
    spawn_rate: float  # users started per second
    workers: int  # local worker processes
    target: str
    rate: float | None  # task runs per second over all users, or None
    max_users: int  # the most users an open-model load's pool grows to, over all workers
    remote_workers: int
    master_bind: str
    master_port: int  # 0: a free port
    locust_stats: bool | None


class Locust(_LocustFields):
    """Load from a locust file: ``users`` locust users spread over worker processes.

    ``locustfile`` is resolved against the current directory once, when the spec is made, and
    kept as an absolute ``Path``. ``spawn_rate`` (users started per second) defaults to
    ``users``: all users start at once. ``target`` names the environment target whose url the
    load goes to. A ``LoadTestShape`` in the locust file replaces ``users``/``spawn_rate``.

    ``rate``: task runs per second over all ``users`` (each user runs ``rate / users`` per
    second on a fixed schedule, whatever its ``wait_time``); not with a ``LoadTestShape``,
    which changes the number of users (the driver refuses the combination). Without it, users whose
    ``wait_time`` is ``constant_throughput``/``constant_pacing`` run on that schedule, and
    other users keep their ``wait_time`` (closed loop).

    Scheduled users run an **open model**: each task run starts at its intended time on a
    free user of its class, whatever the others are waiting for; the users of a class share
    its schedule, spread evenly (``rate=R`` expects about R runs in every second). The pool
    starts with ``users`` and grows when a run is due and every user is busy (a new user
    runs ``on_start`` first), up to ``max_users`` over all workers; a run that finds no free
    user and no room is dropped: expected, never sent, counted per second. By default
    ``max_users`` is ten times ``users``, at least 1,000 and at most 10,000 (never below
    ``users``): a pool user costs about 22 KB and one connection to the target, and ten
    times the users rides out responses ten times as long as one user's interval (at least
    a one-second stall at 1,000 runs a second) before runs are dropped. With a
    ``LoadTestShape``, which changes the users itself, each user keeps its own schedule.

    ``workers``: local worker processes; by default half the cores (at least one), since a
    worker keeps one core busy and a local target needs the rest. ``remote_workers``: workers
    started on other machines with ``chaoskit worker --master-host HOST --master-port PORT
    LOCUSTFILE``; the load waits for all of them. The locust master listens on
    ``master_bind``:``master_port`` (default: 127.0.0.1 on a free port; with remote workers,
    port 5557, locust's default, and ``master_bind`` must be an address they can reach).
    With remote workers, ``workers`` defaults to 0.

    ``locust_stats``: whether the workers also record locust's own request statistics
    (``runner.stats``, ``environment.stats``, ``runner.errors``), which chaoskit does not
    use and which slow a saturated worker down (README, "What is measured"). By default
    only when the locust file's own text mentions ``stats`` (a ``LoadTestShape`` that reads
    ``self.runner.stats``); pass True when code it imports reads them, False to never record
    them.

    What is measured (see ``chaoskit.load.driver``): each request's latency from its intended
    send time, keyed by the epoch second it was intended in; expected and sent requests;
    failures counted by a short reason; seconds in which the generator lagged, marked.
    """

    def __init__(
        self,
        locustfile: str | os.PathLike[str],
        *,
        users: int = 10,
        spawn_rate: float | None = None,
        workers: int | None = None,
        target: str = "web",
        rate: float | None = None,
        max_users: int | None = None,
        remote_workers: int = 0,
        master_bind: str = "127.0.0.1",
        master_port: int | None = None,
        locust_stats: bool | None = None,
    ) -> None:
        # Every argument is checked before any field is set, in the order of the signature
        # users know, so the first bad one is the one named.
        path = _locustfile(locustfile)
        _require_count(users, field="users", noun="users")
        _require_count(
            remote_workers,
            field="remote_workers",
            noun="remote workers",
            least=0,
            most=MAX_REMOTE_WORKERS,
        )
        if workers is None:
            workers = 0 if remote_workers else default_workers()
        _require_count(
            workers,
            field="workers",
            noun="worker processes",
            least=0 if remote_workers else 1,
            most=MAX_WORKERS,
        )
        checked_spawn_rate = _spawn_rate(spawn_rate, users=users)
        checked_rate = _rate(rate)
        checked_max_users = _max_users(max_users, users=users)
        if not isinstance(master_bind, str) or not master_bind.strip():
            raise ConfigError(
                f"master_bind={master_bind!r} is not an address; pass the address the "
                f"locust master listens on, e.g. master_bind='0.0.0.0' for remote workers."
            )
        if master_port is None:
            master_port = DEFAULT_MASTER_PORT if remote_workers else 0
        _require_count(master_port, field="master_port", noun="port", least=0)
        if master_port > MAX_PORT:
            raise ConfigError(
                f"master_port={master_port} is more than {MAX_PORT}, the highest TCP port; pass "
                f"a port the locust master can listen on, e.g. master_port={DEFAULT_MASTER_PORT}."
            )
        if remote_workers and not master_port:
            raise ConfigError(
                f"master_port=0 with remote_workers={remote_workers}: remote workers "
                f"need a port known in advance; pass master_port={DEFAULT_MASTER_PORT} or "
                f"another fixed port."
            )
        if locust_stats is not None and not isinstance(locust_stats, bool):
            raise ConfigError(
                f"locust_stats={locust_stats!r} is not True or False; pass True to have "
                f"locust's own request statistics recorded, or leave it out."
            )
        if not isinstance(target, str) or not target.strip():
            raise ConfigError(
                f"target={target!r} is not a target name; pass the name of a target of "
                f"the environment, e.g. target='web'."
            )
        super().__init__(
            locustfile=path,
            users=users,
            spawn_rate=checked_spawn_rate,
            workers=workers,
            target=target,
            rate=checked_rate,
            max_users=checked_max_users,
            remote_workers=remote_workers,
            master_bind=master_bind,
            master_port=master_port,
            locust_stats=locust_stats,
        )

    @property
    def path(self) -> Path:
        """The locust file, absolute."""
        return self.locustfile

    @property
    def users_per_second(self) -> float:
        """The spawn rate, with the default (all users at once) filled in."""
        return self.spawn_rate

    @property
    def rate_per_user(self) -> float | None:
        """Task runs per second of each user, when the load has a ``rate``."""
        return None if self.rate is None else self.rate / self.users

    @property
    def local_workers(self) -> int:
        """Worker processes started on this machine."""
        return self.workers


def default_workers() -> int:
    """Half the cores this process may use, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def _locustfile(value: object) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(
            f"locustfile={value!r} is not a path; pass the path of a locust file, e.g. "
            f"load.Locust('experiments/locustfile.py')."
        )
    path = Path(value).expanduser().absolute()
    if not path.exists():
        raise ConfigError(
            f"locustfile={str(value)!r} does not exist (looked for {path}); pass the path of a "
            f"locust file, relative to the directory pytest runs in or absolute."
        )
    if path.is_dir():
        raise ConfigError(
            f"locustfile={str(value)!r} is a directory; pass the path of one locust file "
            f"(a .py file) inside it."
        )
    if path.suffix != ".py":
        raise ConfigError(
            f"locustfile={str(value)!r} is not a Python file; pass a .py locust file that "
            f"defines a locust User class."
        )
    return path


# Upper bounds, far above what one machine's workers can drive: a larger value is a typo,
# and would otherwise be found only once load processes are starting.
MAX_USERS = 100_000
MAX_WORKERS = 256
MAX_REMOTE_WORKERS = 1024
MAX_RATE = 1_000_000.0
MAX_PORT = 65535


def _require_count(
    value: object, *, field: str, noun: str, least: int = 1, most: int = MAX_USERS
) -> None:
    # bool is an int subclass, and users=True is never meant.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{field}={value!r} is not a whole number of {noun}; pass an int, "
            f"e.g. {field}={max(least, 1)} or more."
        )
    if value < least:
        kind = "positive" if least == 1 else "valid"
        raise ConfigError(
            f"{field}={value!r} is not a {kind} number of {noun}; pass {field}={least} or more."
        )
    if value > most:
        raise ConfigError(
            f"{field}={value!r} is more than {most}, the most {noun} chaoskit starts; pass a "
            f"smaller number."
        )


# The default pool cap (``Locust``'s docstring says why): ten times the users, within these.
POOL_FACTOR = 10
POOL_FLOOR = 1_000
POOL_CEILING = 10_000


def default_max_users(users: int) -> int:
    """How far an open-model load's pool grows by default."""
    return max(users, min(max(POOL_FACTOR * users, POOL_FLOOR), POOL_CEILING))


def _max_users(value: object, *, users: int) -> int:
    if value is None:
        return default_max_users(users)
    _require_count(value, field="max_users", noun="users")
    assert isinstance(value, int)
    if value < users:
        raise ConfigError(
            f"max_users={value!r} is fewer than users={users}: the pool of users starts "
            f"with users and grows up to max_users when every user is busy; pass "
            f"max_users={users} or more, or leave it out for the default "
            f"({default_max_users(users)})."
        )
    return value


def _rate(value: object) -> float | None:
    if value is None:
        return None
    return _positive_rate(
        value,
        field="rate",
        meaning="task runs per second over all users, e.g. rate=300",
        otherwise="keep the users' own wait_time",
    )


def _spawn_rate(value: object, *, users: int) -> float:
    if value is None:
        return float(users)
    return _positive_rate(
        value,
        field="spawn_rate",
        meaning="users started per second, e.g. spawn_rate=5",
        otherwise="start all users at once",
    )


def _positive_rate(value: object, *, field: str, meaning: str, otherwise: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{field}={value!r} is not a number; pass {meaning}, or leave it out to {otherwise}."
        )
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{field}={value!r} is not a positive rate; pass {meaning}, or leave it out to "
            f"{otherwise}."
        )
    if value > MAX_RATE:
        raise ConfigError(
            f"{field}={value!r} is more than {MAX_RATE:.0f} per second, far beyond what the "
            f"load can send; pass {meaning}, or leave it out to {otherwise}."
        )
    return float(value)
