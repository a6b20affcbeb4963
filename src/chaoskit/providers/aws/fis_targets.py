"""What the targets of an FIS template would hit now, found with read-only calls, for plans
and dry-runs (FIS's own preview, ``actionsMode: skip-all``, creates and starts an experiment,
which a dry-run must not).

A target naming ``resourceArns`` is those ARNs. An ``aws:ec2:instance`` target selected by
``resourceTags`` and ``filters`` is the instances DescribeInstances finds with those tags,
kept when every filter's path through the instance's description ends at one of the
filter's values, as FIS applies them; FIS then picks among them by ``selectionMode`` when the
experiment starts. Any other target is resolved by FIS only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chaoskit.providers.aws.clients import AwsClients

INSTANCE = "aws:ec2:instance"


def resolve_targets(clients: AwsClients, template: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each target of ``template`` by name: its ARNs, the instance ids its tags and filters
    select, or () when only FIS can tell."""
    return {
        name: _resolve(clients, target) for name, target in (template.get("targets") or {}).items()
    }


def _resolve(clients: AwsClients, target: Mapping[str, Any]) -> tuple[str, ...]:
    if target.get("resourceArns"):
        return tuple(target["resourceArns"])
    tags = target.get("resourceTags") or {}
    if target.get("resourceType") != INSTANCE or not tags:
        return ()
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(tags.items())]
    found = [
        instance
        for page in clients.pages("ec2", "DescribeInstances", Filters=filters)
        for reservation in page.get("Reservations", [])
        for instance in reservation.get("Instances", [])
    ]
    return tuple(
        sorted(
            instance["InstanceId"]
            for instance in found
            if all(_matches(instance, f["path"], f["values"]) for f in target.get("filters") or ())
        )
    )


def _matches(description: Mapping[str, Any], path: str, values: Sequence[str]) -> bool:
    return any(str(value) in values for value in _walk(description, path.split(".")))


def _walk(node: Any, steps: Sequence[str]) -> Iterator[Any]:
    """The values at the end of ``steps`` (a list on the way: each of its items)."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, steps)
        return
    if not steps:
        yield node
        return
    if isinstance(node, Mapping) and steps[0] in node:
        yield from _walk(node[steps[0]], steps[1:])
