"""What an environment's targets are made of, as their provider describes them from its
settings alone (no network call, nothing started): a local target's replicas or upstreams,
an AWS target's selectors, blast radius and url. The report shows it under "the experiment
as written"; the pytest process reads it once per run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaoskit.errors import ConfigError

if TYPE_CHECKING:
    from chaoskit.config import EnvironmentConfig

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class TargetMakeup:
    """One target: ``makeup`` pairs such as ``("replicas", "3")`` or ``("url", "https://…")``."""

    name: str
    provider: str
    makeup: Pairs = ()

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "provider": self.provider, "makeup": dict(self.makeup)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TargetMakeup:
        return cls(
            name=str(data["name"]),
            provider=str(data.get("provider", "")),
            makeup=pairs(data.get("makeup", {})),
        )


def describe_targets(config: EnvironmentConfig) -> tuple[TargetMakeup, ...]:
    """Each target of ``config``; empty when its settings do not read (the run refuses them
    elsewhere, with the reason)."""
    if config.provider == "aws":
        assert config.aws is not None  # resolve_environment sets it for every aws environment
        return tuple(
            TargetMakeup(
                name=name,
                provider="aws",
                makeup=_present(
                    ("resource type", spec.resource_type),
                    ("tags", _tags(spec.tags)),
                    ("auto scaling group", spec.asg),
                    ("availability zones", ", ".join(spec.availability_zones)),
                    ("max count", spec.max_count),
                    ("max percent", spec.max_percent),
                    ("url", spec.url),
                ),
            )
            for name, spec in config.aws.targets.items()
        )
    from chaoskit.providers.local.config import DEFAULT_TARGETS, parse_targets

    try:
        targets = parse_targets(config.targets or DEFAULT_TARGETS)
    except ConfigError:
        return ()
    return tuple(
        TargetMakeup(
            name=name,
            provider="local",
            makeup=_present(
                ("upstreams", ", ".join(spec.upstreams) if spec.upstreams is not None else None),
                ("replicas", None if spec.external else spec.replicas),
                ("command", " ".join(spec.command) if spec.command else None),
                ("runs", None if spec.command or spec.external else "the built-in demo shop"),
                ("replaced after", None if spec.external else f"{spec.replace_delay:g}s"),
                ("protocol", spec.protocol),
                ("tags", _tags(spec.tags)),
                ("proxy port", spec.port or None),
            ),
        )
        for name, spec in targets.items()
    )


def pairs(data: object) -> Pairs:
    """Pairs read back from JSON (an object), or a list of pairs."""
    if isinstance(data, Mapping):
        return tuple((str(key), str(value)) for key, value in data.items())
    if isinstance(data, Sequence) and not isinstance(data, str):
        return tuple((str(item[0]), str(item[1])) for item in data)
    return ()


def _tags(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in tags.items())


def _present(*items: tuple[str, object]) -> Pairs:
    """The items with a value, as text: an unset selector is not part of the make-up."""
    return tuple(
        (key, f"{value:g}" if isinstance(value, float) else str(value))
        for key, value in items
        if value not in (None, "")
    )
