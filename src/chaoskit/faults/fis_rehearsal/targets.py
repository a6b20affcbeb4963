"""A template's targets resolved to local instances, as FIS resolves them at the start of an
experiment: candidates by ``resourceTags`` (every pair carried by the instance) or
``resourceArns`` (the id at the end of the ARN), narrowed by ``filters``, then picked by
``selectionMode`` with the run's random stream, so a seed repeats the choice.

``targets={"Instances": "web"}`` says a template target *is* a local target: its
``resourceTags`` and ``resourceArns`` are not matched then (they name AWS resources), while
``filters`` and ``selectionMode`` still apply.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaoskit.errors import ConfigError
from chaoskit.faults._selection import format_tags
from chaoskit.faults.fis_template import selection_count
from chaoskit.typing import RehearsesFis
from chaoskit.vocabulary import FisTarget, Instance

# EC2's names for the states of a local instance, which is what a State.Name filter names.
_EC2_STATES = {
    "healthy": "running",
    "unhealthy": "running",
    "rebooting": "running",
    "stopped": "stopped",
    "terminated": "terminated",
}


@dataclass(frozen=True, kw_only=True)
class ResolvedTarget:
    """The instances a template target selected: ``hits`` maps each local target to its ids."""

    name: str
    resource_type: str
    how: str  # how they were found, for the plan: "tagged FIS-Ready=True", "mapped onto web"
    hits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    candidates: int = 0  # instances identified before the selection mode picked

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return tuple(i for ids in self.hits.values() for i in ids)

    def describe(self) -> str:
        picked = len(self.instance_ids)
        chosen = ", ".join(f"{', '.join(ids)} of {name}" for name, ids in self.hits.items())
        return f"{self.name} ({self.how}): {picked} of {self.candidates}" + (
            f" -> {chosen}" if chosen else ""
        )


def resolve_target(
    name: str,
    spec: FisTarget,
    *,
    env: RehearsesFis,
    mapped: str | None,
    rng: random.Random,
) -> ResolvedTarget:
    where = f"targets.{name}"
    if mapped is not None:
        sources = [mapped]
        how = f"mapped onto {mapped}"
    else:
        sources = list(env.target_names())
        how = _identified_by(spec)
    candidates: list[Instance] = []
    for source in sources:
        for instance in env.target(source).instances():
            if mapped is not None or _identifies(spec, instance):
                candidates.append(instance)
    for index, found in enumerate(spec.get("filters") or ()):
        candidates = [i for i in candidates if _passes(found, i, where=f"{where}.filters[{index}]")]
    wanted = selection_count(
        spec.get("selectionMode", "ALL"), len(candidates), field=f"{where}.selectionMode"
    )
    ordered = sorted(candidates, key=lambda i: (i.target, i.id))
    chosen = sorted(rng.sample(ordered, wanted), key=lambda i: (i.target, i.id))
    hits: dict[str, tuple[str, ...]] = {}
    for instance in chosen:
        hits[instance.target] = (*hits.get(instance.target, ()), instance.id)
    return ResolvedTarget(
        name=name,
        resource_type=str(spec.get("resourceType", "")),
        how=how,
        hits=hits,
        candidates=len(candidates),
    )


def _identified_by(spec: FisTarget) -> str:
    if spec.get("resourceTags"):
        return f"tagged {format_tags(spec['resourceTags'])}"
    if spec.get("resourceArns"):
        return f"{len(spec['resourceArns'])} ARN(s)"
    return "no tags or ARNs a local instance can carry"


def _identifies(spec: FisTarget, instance: Instance) -> bool:
    tags: Mapping[str, str] = spec.get("resourceTags") or {}
    if tags:
        return all(instance.tags.get(key) == value for key, value in tags.items())
    arns: Sequence[str] = spec.get("resourceArns") or ()
    return any(arn.rpartition("/")[2] == instance.id for arn in arns)


def _passes(found: Mapping[str, Any], instance: Instance, *, where: str) -> bool:
    """FIS filters name a field of the resource's description; locally ``State.Name`` is the
    instance's state in EC2's words, and any other path a tag of the instance by that name."""
    path, values = found.get("path"), found.get("values") or ()
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path={path!r} must name a field, e.g. 'State.Name'.")
    if path == "State.Name":
        return _EC2_STATES.get(instance.state, instance.state) in values
    return instance.tags.get(path) in values
