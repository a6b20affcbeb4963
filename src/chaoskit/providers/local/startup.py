"""How the pytest side starts the system process, and how it answers: the two messages that
cross the process boundary before the control port exists.

``SystemConfig`` goes as JSON to the system's stdin (or as its argument); ``ReadyLine`` is the
one line the system prints to stdout once every replica is healthy. Imported by both sides;
it must not import ``system/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaoskit.errors import ConfigError
from chaoskit.providers.local.config import TargetSpec, parse_targets

DEFAULT_READY_TIMEOUT = 20.0


@dataclass(frozen=True, kw_only=True)
class SystemConfig:
    """What the system runs: written as JSON to its stdin (or given as its argument)."""

    targets: Mapping[str, TargetSpec]
    parent_pid: int | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    prometheus: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "targets": {name: spec.to_json() for name, spec in self.targets.items()},
            "parent_pid": self.parent_pid,
            "ready_timeout": self.ready_timeout,
            "prometheus": self.prometheus,
        }


def parse_config(raw: object) -> SystemConfig:
    """The config from its JSON form; ConfigError naming the bad setting."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the local system config must be a JSON object, not {raw!r}.")
    unknown = sorted(set(raw) - {"targets", "parent_pid", "ready_timeout", "prometheus"})
    if unknown:
        raise ConfigError(
            f"unknown local system setting(s) {unknown}; expected targets, parent_pid, "
            f"ready_timeout, prometheus."
        )
    prometheus = raw.get("prometheus", False)
    if not isinstance(prometheus, bool):
        raise ConfigError(f"prometheus={prometheus!r} must be true or false.")
    parent_pid = raw.get("parent_pid")
    if parent_pid is not None and (isinstance(parent_pid, bool) or not isinstance(parent_pid, int)):
        raise ConfigError(f"parent_pid={parent_pid!r} must be a process id.")
    ready_timeout = raw.get("ready_timeout", DEFAULT_READY_TIMEOUT)
    if (
        isinstance(ready_timeout, bool)
        or not isinstance(ready_timeout, int | float)
        or not math.isfinite(ready_timeout)
        or ready_timeout <= 0
    ):
        raise ConfigError(f"ready_timeout={ready_timeout!r} must be a positive number of seconds.")
    return SystemConfig(
        targets=parse_targets(raw.get("targets")),
        parent_pid=parent_pid,
        ready_timeout=float(ready_timeout),
        prometheus=prometheus,
    )


@dataclass(frozen=True, kw_only=True)
class ReadyLine:
    """The system's announcement that it is ready, and where to reach it::

    {"ready": true, "pid": 4321, "control": "127.0.0.1:PORT", "token": "...",
     "targets": {"web": {"url": "http://127.0.0.1:PORT"}},
     "prometheus": "http://127.0.0.1:PORT" or null}
    """

    pid: int
    control: str  # host:port of the control API
    token: str  # every control request carries it
    target_urls: Mapping[str, str] = field(default_factory=dict)
    prometheus: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ready": True,
            "pid": self.pid,
            "control": self.control,
            "token": self.token,
            "targets": {name: {"url": url} for name, url in self.target_urls.items()},
            "prometheus": self.prometheus,
        }

    @classmethod
    def from_json(cls, line: object) -> ReadyLine:
        """The ready line, or ValueError when ``line`` is something else."""
        if not isinstance(line, Mapping) or line.get("ready") is not True:
            raise ValueError("not a ready line")
        pid, control, token = line.get("pid"), line.get("control"), line.get("token")
        targets, prometheus = line.get("targets"), line.get("prometheus")
        if (
            not isinstance(pid, int)
            or not isinstance(control, str)
            or not isinstance(token, str)
            or not isinstance(targets, Mapping)
            or not (prometheus is None or isinstance(prometheus, str))
        ):
            raise ValueError("a ready line lacking a field")
        urls = {}
        for name, endpoint in targets.items():
            url = endpoint.get("url") if isinstance(endpoint, Mapping) else None
            if not isinstance(url, str):
                raise ValueError(f"no url for target {name!r}")
            urls[str(name)] = url
        return cls(pid=pid, control=control, token=token, target_urls=urls, prometheus=prometheus)


@dataclass(frozen=True, kw_only=True)
class NotReadyLine:
    """The system's last line when it gives up starting: why, in words::

    {"ready": false, "reason": "...", "log": true}

    ``log``: whether the replicas' output may explain it (False when the reason is complete).
    """

    reason: str
    log: bool = True

    def to_json(self) -> dict[str, object]:
        return {"ready": False, "reason": self.reason, "log": self.log}

    @classmethod
    def from_json(cls, line: object) -> NotReadyLine:
        """The not-ready line, or ValueError when ``line`` is something else."""
        if not isinstance(line, Mapping) or line.get("ready") is not False:
            raise ValueError("not a not-ready line")
        reason, log = line.get("reason"), line.get("log", True)
        if not isinstance(reason, str) or not isinstance(log, bool):
            raise ValueError("a not-ready line lacking a field")
        return cls(reason=reason, log=log)
