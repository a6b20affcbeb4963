"""Choosing which instances of a target a fault hits, within its blast radius.

Like an AWS FIS target: a tag filter (``tags``: instances carrying every given pair) narrows
the candidates, then a selection mode picks among them: ``count`` instances, or ``percent`` of
them (rounded up, at least one, as FIS's ``PERCENT(n)``). Only healthy instances are picked.

Every fault that selects instances derives from ``SelectsInstances`` and calls
``check_selection`` in its constructor (see ``chaoskit.faults`` for the pattern).
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar, TypedDict

from chaoskit.errors import ConfigError
from chaoskit.typing import ChecksFaults, Environment, Target
from chaoskit.vocabulary import FaultPlan, Instance

DEFAULT_COUNT = 1
# More instances than one fault may hit, whatever the target: a typo, not a plan.
MAX_COUNT = 10_000
# Instances listed by name in an error before the rest are only counted.
_LISTED_IN_ERRORS = 10


@dataclass(frozen=True, kw_only=True)
class Selection:
    """A validated selection: exactly one of ``count`` and ``percent`` is set."""

    count: int | None
    percent: float | None
    tags: dict[str, str] | None


def validate_count(count: object, *, fault: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ConfigError(
            f"{fault}(count={count!r}): count is the number of instances to hit; "
            f"pass a whole number from 1 to {MAX_COUNT}."
        )
    return count


def validate_selection(
    *, count: object = None, percent: object = None, tags: object = None, fault: str
) -> Selection:
    """The selection a fault was given, or ConfigError naming the fault and the bad argument.

    Neither ``count`` nor ``percent``: one instance.
    """
    if count is not None and percent is not None:
        raise ConfigError(
            f"{fault}(count={count!r}, percent={percent!r}): both set how many instances to "
            f"hit; pass count (a number of instances) or percent (a share of them), not both."
        )
    checked_tags = None if tags is None else _checked_tags(tags, fault=fault)
    if percent is not None:
        return Selection(
            count=None, percent=_checked_percent(percent, fault=fault), tags=checked_tags
        )
    checked_count = validate_count(DEFAULT_COUNT if count is None else count, fault=fault)
    return Selection(count=checked_count, percent=None, tags=checked_tags)


def _checked_percent(percent: object, *, fault: str) -> float:
    if (
        isinstance(percent, bool)
        or not isinstance(percent, int | float)
        or not math.isfinite(percent)
        or not 0 < percent <= 100
    ):
        raise ConfigError(
            f"{fault}(percent={percent!r}): percent is the share of the target's instances to "
            f"hit, more than 0 and at most 100 (rounded up to at least one instance)."
        )
    return float(percent)


def _checked_tags(tags: object, *, fault: str) -> dict[str, str]:
    if not isinstance(tags, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in tags.items()
    ):
        raise ConfigError(
            f"{fault}(tags={tags!r}): tags must map tag names to values, both strings, "
            f"e.g. tags={{'zone': 'a'}}."
        )
    if not tags:
        raise ConfigError(
            f"{fault}(tags={{}}): an empty filter matches every instance; leave tags out instead."
        )
    return dict(tags)


def describe_selection(
    *, count: int | None, percent: float | None, tags: Mapping[str, str] | None, target: str
) -> str:
    """``1 of web``, ``50% of web``, ``2 of web tagged zone=a``."""
    how_many = f"{percent:g}%" if percent is not None else str(count)
    tagged = f" tagged {format_tags(tags)}" if tags else ""
    return f"{how_many} of {target}{tagged}"


def format_tags(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(tags.items()))


def share_of(percent: float, total: int) -> int:
    """``percent`` of ``total`` instances, rounded up, at least one (FIS's ``PERCENT(n)``)."""
    # Exact decimal arithmetic: 10% of 30 is 3, not the 3.0000000000000004 floats make of it.
    return max(1, math.ceil(Fraction(str(percent)) * total / 100))


def select_instances(
    instances: Sequence[Instance],
    *,
    count: int | None = None,
    percent: float | None = None,
    tags: Mapping[str, str] | None = None,
    target: str,
    rng: random.Random,
) -> tuple[str, ...]:
    """The ids of the healthy instances a fault hits, chosen by ``rng`` (seeded by
    --chaos-seed, so reproducible), sorted.

    ``tags`` keeps the instances carrying every given pair; ``count`` then picks that many
    of the healthy ones, ``percent`` that share of all the matching ones (rounded up).
    ConfigError when the filter matches nothing or too few of the matches are healthy.
    Neither ``count`` nor ``percent``: one instance.
    """
    if count is not None and percent is not None:
        raise ConfigError(f"count={count} and percent={percent:g} are exclusive; pass one.")
    matching = list(instances)
    where = f"target {target!r}"
    if tags:
        matching = [i for i in instances if all(i.tags.get(k) == v for k, v in tags.items())]
        where = f"target {target!r} tagged {format_tags(tags)}"
        if not matching:
            raise ConfigError(
                f"tags {dict(tags)!r} match no instance of target {target!r}; its live "
                f"instances are {_describe_tags(instances)}. Change tags, or check the "
                f"target's tags and replica_tags."
            )
    healthy = [instance for instance in matching if instance.state == "healthy"]
    if percent is not None:
        wanted = share_of(percent, len(matching))
        if wanted > len(healthy):
            raise ConfigError(
                f"percent={percent:g} means {wanted} of the {len(matching)} instances of "
                f"{where}, but only {len(healthy)} of them are healthy "
                f"({_describe_states(matching)}); lower percent, or let the target recover first."
            )
    else:
        wanted = DEFAULT_COUNT if count is None else count
        if wanted > len(healthy):
            raise ConfigError(
                f"count={wanted} exceeds the blast radius of {where} "
                f"({len(healthy)} healthy of {len(matching)} instances); lower count."
            )
    chosen = rng.sample(healthy, wanted)
    return tuple(sorted(instance.id for instance in chosen))


def _describe_tags(instances: Sequence[Instance]) -> str:
    if not instances:
        return "none"
    listed = [
        f"{instance.id} {{{format_tags(instance.tags)}}}"
        for instance in instances[:_LISTED_IN_ERRORS]
    ]
    more = len(instances) - len(listed)
    return "; ".join(listed) + (f"; and {more} more" if more else "")


def _describe_states(instances: Sequence[Instance]) -> str:
    listed = [f"{instance.id} {instance.state}" for instance in instances[:_LISTED_IN_ERRORS]]
    more = len(instances) - len(listed)
    return ", ".join(listed) + (f", and {more} more" if more else "")


class SelectionArgs(TypedDict):
    """The selection fields of a fault, checked: exactly one of ``count`` and ``percent``."""

    target: str
    count: int | None
    percent: float | None
    tags: Mapping[str, str] | None


def check_selection(
    fault: str, *, target: object, count: object, percent: object, tags: object
) -> SelectionArgs:
    """The selection fields ``fault`` was given, checked and normalised, or ConfigError."""
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{fault}(target={target!r}): name a target, e.g. target='web'.")
    selection = validate_selection(count=count, percent=percent, tags=tags, fault=fault)
    return SelectionArgs(
        target=target, count=selection.count, percent=selection.percent, tags=selection.tags
    )


@dataclass(frozen=True, kw_only=True)
class SelectsInstances(ABC):
    """What every fault that picks instances of a target shares: its fields (checked by
    ``check_selection`` in the fault's constructor), how the choice reads, and the choice."""

    # The Target method the fault acts through, which a target that checks faults is told.
    action: ClassVar[str]

    target: str
    count: int | None  # exactly one of count and percent is set
    percent: float | None
    # Not hashed (a dict is not hashable); equal faults still hash equal without it.
    tags: Mapping[str, str] | None = field(hash=False)

    def selection_text(self) -> str:
        return describe_selection(
            count=self.count, percent=self.percent, tags=self.tags, target=self.target
        )

    def plan_capacity_loss(
        self, env: Environment, rng: random.Random, *, least: float
    ) -> FaultPlan:
        """The plan of a fault that takes the chosen instances out of service: its severity
        is ``least``, plus 1 when it hits every instance of the target (in proportion)."""
        target = env.target(self.target)
        instances = target.instances()
        chosen = self.choose_on(target, instances, rng)
        return FaultPlan(
            fault=self.describe(),
            target=self.target,
            instance_ids=chosen,
            severity=least + len(chosen) / max(1, len(instances)),
        )

    @abstractmethod
    def describe(self) -> str:
        """The fault in words, e.g. ``TerminateInstances 1 of web``."""

    def choose_on(
        self, target: Target, instances: Sequence[Instance], rng: random.Random
    ) -> tuple[str, ...]:
        """``choose`` among ``instances`` of ``target``, then let the target refuse the choice
        (a fault it cannot do, a blast radius of its own) before anything is written."""
        chosen = self.choose(instances, rng)
        if isinstance(target, ChecksFaults):
            target.check_fault(
                fault=type(self).__name__,
                action=self.action,
                instance_ids=chosen,
                of=len(instances),
            )
        return chosen

    def choose(self, instances: Sequence[Instance], rng: random.Random) -> tuple[str, ...]:
        return select_instances(
            instances,
            count=self.count,
            percent=self.percent,
            tags=self.tags,
            target=self.target,
            rng=rng,
        )
