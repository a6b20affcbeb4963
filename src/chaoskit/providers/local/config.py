"""What the local system runs per target, validated before any process starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError

PLACEHOLDERS = ("{port}", "{instance_id}", "{parent_pid}")


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """One local target: ``replicas`` copies of a command behind one load-balancing proxy.

    ``command`` is an argv template run once per replica; ``{port}`` (required),
    ``{instance_id}`` and ``{parent_pid}`` are substituted in every argument. ``None`` runs the
    built-in demo shop.
    """

    replicas: int = 3
    replace_delay: float = 2.0
    tags: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    health_path: str = "/health"

    def to_json(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "replace_delay": self.replace_delay,
            "tags": dict(self.tags),
            "command": list(self.command) if self.command is not None else None,
            "health_path": self.health_path,
        }


DEFAULT_TARGETS: Mapping[str, TargetSpec] = {
    "web": TargetSpec(replicas=3, replace_delay=2.0, tags={"app": "shop", "tier": "web"}),
}

_FIELDS = tuple(spec_field.name for spec_field in dataclasses.fields(TargetSpec))


def parse_targets(raw: object) -> dict[str, TargetSpec]:
    """Targets from ``{name: TargetSpec | {field: value}}``; ConfigError naming the bad field."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"targets={raw!r} must be a non-empty mapping of target names to settings, "
            f"for example {{'web': {{'replicas': 3, 'replace_delay': '2s'}}}}."
        )
    targets = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"target name {name!r} must be a non-empty string.")
        spec = value if isinstance(value, TargetSpec) else _from_mapping(name, value)
        targets[name] = _checked(name, spec)
    return targets


def _from_mapping(name: str, value: object) -> TargetSpec:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"targets.{name}={value!r} must be a mapping with any of {', '.join(_FIELDS)}."
        )
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"targets.{name} has unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"the settings of a local target are {', '.join(_FIELDS)}."
        )
    settings = dict(value)
    if "replace_delay" in settings:
        settings["replace_delay"] = parse_duration(
            settings["replace_delay"], field=f"targets.{name}.replace_delay"
        )
    if isinstance(settings.get("command"), list):
        settings["command"] = tuple(settings["command"])
    if settings.get("tags") is not None and isinstance(settings["tags"], Mapping):
        settings["tags"] = dict(settings["tags"])
    return TargetSpec(**settings)


def _checked(name: str, spec: TargetSpec) -> TargetSpec:
    """``spec`` with its duration normalised to seconds, or ConfigError naming the field."""
    where = f"targets.{name}"
    if isinstance(spec.replicas, bool) or not isinstance(spec.replicas, int) or spec.replicas < 1:
        raise ConfigError(f"{where}.replicas={spec.replicas!r} must be a whole number >= 1.")
    replace_delay = parse_duration(spec.replace_delay, field=f"{where}.replace_delay")
    if not isinstance(spec.tags, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in spec.tags.items()
    ):
        raise ConfigError(f"{where}.tags={spec.tags!r} must map strings to strings.")
    if not isinstance(spec.health_path, str) or not spec.health_path.startswith("/"):
        raise ConfigError(
            f"{where}.health_path={spec.health_path!r} must be a path such as '/health'."
        )
    if spec.command is not None:
        _check_command(where, spec.command)
    return dataclasses.replace(spec, replace_delay=replace_delay, tags=dict(spec.tags))


def _check_command(where: str, command: object) -> None:
    if (
        not isinstance(command, tuple)
        or not command
        or not all(isinstance(argument, str) for argument in command)
    ):
        raise ConfigError(
            f"{where}.command={command!r} must be a non-empty list of strings (an argv)."
        )
    if not any("{port}" in argument for argument in command):
        raise ConfigError(
            f"{where}.command={list(command)!r} never mentions {{port}}; each replica needs "
            f"its own port, so pass it, e.g. ['my-server', '--port', '{{port}}']."
        )
