"""Choosing which instances of a target a fault hits, within its blast radius."""

from __future__ import annotations

import random

from chaoskit.errors import ConfigError
from chaoskit.typing import Instance


def validate_count(count: object, *, fault: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(
            f"{fault}(count={count!r}): count is the number of instances to hit; "
            f"pass a whole number of 1 or more."
        )
    return count


def select_instances(
    instances: list[Instance], *, count: int, target: str, rng: random.Random
) -> tuple[str, ...]:
    """``count`` healthy instances chosen by ``rng`` (seeded by --chaos-seed, so reproducible)."""
    healthy = [instance for instance in instances if instance.state == "healthy"]
    if count > len(healthy):
        raise ConfigError(
            f"count={count} exceeds the blast radius of target {target!r} "
            f"({len(healthy)} healthy of {len(instances)} instances); lower count."
        )
    chosen = rng.sample(healthy, count)
    return tuple(sorted(instance.id for instance in chosen))
