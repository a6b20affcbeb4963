"""What the local system runs per target, validated before any process starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError

PLACEHOLDERS = ("{port}", "{instance_id}", "{parent_pid}")
# Tags the fleet sets itself; like AWS's "aws:" prefix, users cannot set keys under it.
RESERVED_TAG_PREFIX = "chaoskit:"
# Each replica is a process on this machine, started and health-checked before the first
# experiment, next to the load workers and the proxy: a few dozen already outnumber the cores
# of any workstation or CI runner many times over. A larger number is a typo (replicas =
# 100000000 would fork until the machine gave out), refused before anything starts.
MAX_REPLICAS = 64

# What only a fleet chaoskit runs uses: a target with upstreams refuses them.
FLEET_ONLY = ("command", "replicas", "replace_delay")


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """One local target: ``replicas`` copies of a command behind one load-balancing proxy.

    ``command`` is an argv template run once per replica; ``{port}`` (required),
    ``{instance_id}`` and ``{parent_pid}`` are substituted in every argument. ``None`` runs the
    built-in demo shop.

    Every replica carries ``tags``, then the entry of ``replica_tags`` for its slot (entries are
    cycled over the slots 0, 1, ...; a replacement keeps the slot of the replica it replaces),
    then ``chaoskit:slot`` = its slot index.
    """

    replicas: int = 3
    replace_delay: float = 2.0
    tags: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    # An HTTP path answering 200 when healthy; '' for a TCP connect check. None (the default):
    # "/health" on a fleet speaking HTTP, a TCP connect otherwise.
    health_path: str | None = None
    replica_tags: tuple[Mapping[str, str], ...] = ()
    # A service chaoskit does not run (e.g. a docker-compose port): the proxy fronts these
    # "host:port" addresses instead of a fleet, one instance each (tagged like a replica in
    # that slot). Their health is a TCP connect unless health_path is set explicitly. Not
    # together with the FLEET_ONLY settings.
    upstreams: tuple[str, ...] | None = None
    # "http": the proxy follows requests and responses (per-request latency, HttpErrors);
    # "tcp": bytes only, and the health check is a TCP connect.
    protocol: str = "http"
    # Where the proxy listens on 127.0.0.1; 0 picks a free port (clients then use the URL).
    port: int = 0

    @property
    def external(self) -> bool:
        return self.upstreams is not None

    @property
    def probe_path(self) -> str | None:
        """The HTTP health-check path, or None for a TCP connect."""
        if self.protocol == "tcp" or self.health_path == "":
            return None
        if self.health_path is None:
            return None if self.external else "/health"
        return self.health_path

    def to_json(self) -> dict[str, object]:
        settings = {
            "replicas": self.replicas,
            "replace_delay": self.replace_delay,
            "tags": dict(self.tags),
            "command": list(self.command) if self.command is not None else None,
            "health_path": self.health_path,
            "replica_tags": [dict(tags) for tags in self.replica_tags],
            "upstreams": list(self.upstreams) if self.upstreams is not None else None,
            "protocol": self.protocol,
            "port": self.port,
        }
        if self.external:
            for name in FLEET_ONLY:  # their defaults; written out, they would be refused
                del settings[name]
        return settings


DEFAULT_TARGETS: Mapping[str, TargetSpec] = {
    "web": TargetSpec(replicas=3, replace_delay=2.0, tags={"app": "shop", "tier": "web"}),
}

_FIELDS = tuple(spec_field.name for spec_field in dataclasses.fields(TargetSpec))
_DEFAULT = TargetSpec()


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
    if value.get("upstreams") is not None:
        # Refused even when set to the default: the setting would be silently ignored.
        _refuse_fleet_only(f"targets.{name}", [key for key in FLEET_ONLY if key in value])
    settings = dict(value)
    if "replace_delay" in settings:
        settings["replace_delay"] = parse_duration(
            settings["replace_delay"], field=f"targets.{name}.replace_delay"
        )
    if isinstance(settings.get("command"), list):
        settings["command"] = tuple(settings["command"])
    if settings.get("tags") is not None and isinstance(settings["tags"], Mapping):
        settings["tags"] = dict(settings["tags"])
    if isinstance(settings.get("replica_tags"), list):
        settings["replica_tags"] = tuple(settings["replica_tags"])
    if isinstance(settings.get("upstreams"), list):
        settings["upstreams"] = tuple(settings["upstreams"])
    return TargetSpec(**settings)


def _checked(name: str, spec: TargetSpec) -> TargetSpec:
    """``spec`` with its duration normalised to seconds, or ConfigError naming the field."""
    where = f"targets.{name}"
    if isinstance(spec.replicas, bool) or not isinstance(spec.replicas, int) or spec.replicas < 1:
        raise ConfigError(f"{where}.replicas={spec.replicas!r} must be a whole number >= 1.")
    if spec.replicas > MAX_REPLICAS:
        raise ConfigError(
            f"{where}.replicas={spec.replicas!r} is more than {MAX_REPLICAS}, the most replicas "
            f"chaoskit runs on one machine (each is a process of its own); pass a smaller number."
        )
    replace_delay = parse_duration(spec.replace_delay, field=f"{where}.replace_delay")
    if not isinstance(spec.tags, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in spec.tags.items()
    ):
        raise ConfigError(f"{where}.tags={spec.tags!r} must map strings to strings.")
    _check_reserved(f"{where}.tags", spec.tags)
    replica_tags = _checked_replica_tags(where, spec.replica_tags)
    if spec.health_path is not None and (
        not isinstance(spec.health_path, str)
        or not (spec.health_path.startswith("/") or spec.health_path == "")
    ):
        raise ConfigError(
            f"{where}.health_path={spec.health_path!r} must be a path such as '/health', or "
            f"'' for a TCP connect check."
        )
    _check_external(where, spec, replace_delay)
    if spec.command is not None:
        _check_command(where, spec.command)
    return dataclasses.replace(
        spec, replace_delay=replace_delay, tags=dict(spec.tags), replica_tags=replica_tags
    )


def _checked_replica_tags(where: str, replica_tags: object) -> tuple[dict[str, str], ...]:
    if not isinstance(replica_tags, tuple | list) or not all(
        isinstance(tags, Mapping)
        and all(isinstance(key, str) and isinstance(value, str) for key, value in tags.items())
        for tags in replica_tags
    ):
        raise ConfigError(
            f"{where}.replica_tags={replica_tags!r} must be a list of tables mapping strings to "
            f'strings, one per replica slot (cycled), e.g. replica_tags = [{{zone = "a"}}, '
            f'{{zone = "b"}}].'
        )
    for index, tags in enumerate(replica_tags):
        _check_reserved(f"{where}.replica_tags[{index}]", tags)
    return tuple(dict(tags) for tags in replica_tags)


def _check_reserved(where: str, tags: Mapping[str, str]) -> None:
    reserved = sorted(key for key in tags if key.startswith(RESERVED_TAG_PREFIX))
    if reserved:
        raise ConfigError(
            f"{where} sets {', '.join(map(repr, reserved))}: tag keys starting with "
            f"{RESERVED_TAG_PREFIX!r} are set by chaoskit itself; rename the tag."
        )


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


def _refuse_fleet_only(where: str, names: list[str]) -> None:
    if names:
        raise ConfigError(
            f"{where} sets {' and '.join(names)} together with upstreams. upstreams fronts a "
            f"service that already runs: chaoskit does not run its processes, count them or "
            f"replace them, so {' and '.join(names)} would be ignored. Remove "
            f"{'them' if len(names) > 1 else 'it'}, or remove upstreams and give a command for "
            f"chaoskit to run the service."
        )


def _check_external(where: str, spec: TargetSpec, replace_delay: float) -> None:
    if spec.protocol not in ("http", "tcp"):
        raise ConfigError(f"{where}.protocol={spec.protocol!r} must be 'http' or 'tcp'.")
    if isinstance(spec.port, bool) or not isinstance(spec.port, int) or not 0 <= spec.port < 65536:
        raise ConfigError(
            f"{where}.port={spec.port!r} must be a TCP port (0 picks a free one) for the proxy "
            f"to listen on."
        )
    if spec.upstreams is None:
        return
    _refuse_fleet_only(
        where,
        [
            name
            for name, differs in (
                ("command", spec.command is not None),
                ("replicas", spec.replicas != _DEFAULT.replicas),
                ("replace_delay", replace_delay != _DEFAULT.replace_delay),
            )
            if differs
        ],
    )
    upstreams = spec.upstreams
    if not isinstance(upstreams, tuple) or not upstreams:
        raise ConfigError(
            f"{where}.upstreams={upstreams!r} must be a non-empty list of 'host:port' addresses, "
            f"e.g. upstreams = ['127.0.0.1:5432']."
        )
    for address in upstreams:
        host, colon, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"{where}.upstreams entry {address!r} must be 'host:port', e.g. '127.0.0.1:5432'."
            )
