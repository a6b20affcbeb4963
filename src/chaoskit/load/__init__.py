"""Load specifications, as users write them in ``chaos(load=...)`` markers.

This module stays light on purpose: markers are evaluated when pytest imports a test module,
and importing locust there would gevent-patch the pytest process. The driver that runs the
load lives in ``chaoskit.load.driver`` and starts locust in separate processes.
"""

from __future__ import annotations

import math
import os
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

from chaoskit.errors import ConfigError

__all__ = ["Locust"]


@dataclass(frozen=True)
class Locust:
    """Load from a locust file: ``users`` locust users spread over ``workers`` processes.

    ``locustfile`` is resolved against the current directory once, when the spec is made, and
    kept as an absolute ``Path``. ``spawn_rate`` (users started per second) defaults to
    ``users``: all users start at once. ``target`` names the environment target whose url the
    load goes to.

    What is measured (see ``chaoskit.load.driver``): each request's latency from the moment
    it was sent, keyed by the epoch second it was sent in; failures counted by a short reason.
    """

    locustfile: str | os.PathLike[str]
    _: KW_ONLY
    users: int = 10
    spawn_rate: float | None = None
    workers: int = 1
    target: str = "web"

    def __post_init__(self) -> None:
        object.__setattr__(self, "locustfile", _locustfile(self.locustfile))
        _require_count(self.users, field="users", noun="users")
        _require_count(self.workers, field="workers", noun="worker processes")
        object.__setattr__(self, "spawn_rate", _spawn_rate(self.spawn_rate, users=self.users))
        if not isinstance(self.target, str) or not self.target.strip():
            raise ConfigError(
                f"target={self.target!r} is not a target name; pass the name of a target of "
                f"the environment, e.g. target='web'."
            )

    @property
    def path(self) -> Path:
        """The locust file, absolute."""
        return Path(self.locustfile)

    @property
    def users_per_second(self) -> float:
        """The spawn rate, with the default (all users at once) filled in."""
        return float(self.spawn_rate if self.spawn_rate is not None else self.users)


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


def _require_count(value: object, *, field: str, noun: str) -> None:
    # bool is an int subclass, and users=True is never meant.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{field}={value!r} is not a whole number of {noun}; pass an int, "
            f"e.g. {field}=1 or more."
        )
    if value < 1:
        raise ConfigError(
            f"{field}={value!r} is not a positive number of {noun}; pass {field}=1 or more."
        )


def _spawn_rate(value: object, *, users: int) -> float:
    if value is None:
        return float(users)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"spawn_rate={value!r} is not a number; pass users started per second, e.g. "
            f"spawn_rate=5, or leave it out to start all users at once."
        )
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"spawn_rate={value!r} is not a positive rate; pass users started per second, "
            f"e.g. spawn_rate=5, or leave it out to start all users at once."
        )
    return float(value)
