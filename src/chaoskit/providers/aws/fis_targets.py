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
from typing import TYPE_CHECKING

from chaoskit.providers.aws.clients import AwsClients
from chaoskit.vocabulary import FisTarget, FisTemplateBody

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, InstanceTypeDef

INSTANCE = "aws:ec2:instance"
# The states of an instance an FIS action can still act on.
_SELECTABLE = ("pending", "running", "stopping", "stopped")


def resolve_targets(clients: AwsClients, template: FisTemplateBody) -> dict[str, tuple[str, ...]]:
    """Each target of ``template`` by name: its ARNs, the instance ids its tags and filters
    select, or () when only FIS can tell."""
    return {
        name: _resolve(clients, target) for name, target in (template.get("targets") or {}).items()
    }


def _resolve(clients: AwsClients, target: FisTarget) -> tuple[str, ...]:
    if target.get("resourceArns"):
        return tuple(target["resourceArns"])
    tags = target.get("resourceTags") or {}
    if target.get("resourceType") != INSTANCE or not tags:
        return ()
    return _described(clients, target, selectable=False)


def selectable_instances(clients: AwsClients, target: FisTarget) -> tuple[str, ...]:
    """The ids of every instance an ``aws:ec2:instance`` target could select now, before
    FIS applies its selection mode: its ARNs' instances, or what its tags and filters select
    (without tags: every instance the filters keep). Terminated instances cannot be hit."""
    arns = target.get("resourceArns") or ()
    if arns:
        return tuple(sorted({str(arn).rpartition("/")[2] for arn in arns}))
    return _described(clients, target, selectable=True)


def _described(clients: AwsClients, target: FisTarget, *, selectable: bool) -> tuple[str, ...]:
    tags = target.get("resourceTags") or {}
    filters: list[FilterTypeDef] = [
        {"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(tags.items())
    ]
    if selectable:
        filters.append({"Name": "instance-state-name", "Values": list(_SELECTABLE)})
    found = [
        instance
        for page in clients.pages(clients.ec2.describe_instances, Filters=filters)
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


def _matches(description: InstanceTypeDef, path: str, values: Sequence[str]) -> bool:
    return any(str(value) in values for value in _walk(description, path.split(".")))


def _walk(node: object, steps: Sequence[str]) -> Iterator[object]:
    """The values at the end of ``steps`` (a list on the way: each of its items), in an
    instance's description walked by the names a template's filter ``path`` gives."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, steps)
        return
    if not steps:
        yield node
        return
    if isinstance(node, Mapping) and steps[0] in node:
        yield from _walk(node[steps[0]], steps[1:])
