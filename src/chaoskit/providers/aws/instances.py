"""A target's EC2 instances and their health, found with Describe calls only.

An instance is healthy when EC2 says ``running`` and, if it belongs to an Auto Scaling group,
the group has it ``InService`` and ``Healthy``. Terminated and shutting-down instances are
not part of a target any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoskit.config.aws import AwsTargetSettings
from chaoskit.errors import ConfigError
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.vocabulary import Instance

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import AutoScalingInstanceDetailsTypeDef
    from mypy_boto3_ec2.type_defs import FilterTypeDef

LIVE_STATES = ("pending", "running", "stopping", "stopped")
# DescribeAutoScalingInstances takes at most 50 ids; EC2 filters take a few hundred values.
_ASG_IDS_PER_CALL = 50
_EC2_IDS_PER_CALL = 100


@dataclass(frozen=True, kw_only=True)
class Ec2Instance:
    id: str
    state: str  # EC2's: pending, running, stopping, stopped, shutting-down, terminated
    zone: str
    address: str
    tags: Mapping[str, str] = field(default_factory=dict)
    group: str | None = None  # its Auto Scaling group
    lifecycle: str | None = None  # in the group: InService, Pending, Terminating, ...
    health: str | None = None  # in the group: Healthy or Unhealthy

    @property
    def healthy(self) -> bool:
        in_service = self.group is None or (
            self.lifecycle == "InService" and self.health == "Healthy"
        )
        return self.state == "running" and in_service

    def as_instance(self, target: str) -> Instance:
        if self.healthy:
            state = "healthy"
        elif self.state in ("stopping", "stopped"):
            state = "stopped"
        else:
            state = "unhealthy"
        return Instance(
            id=self.id, target=target, address=self.address, state=state, tags=self.tags
        )


@dataclass(frozen=True, kw_only=True)
class GroupCapacity:
    """An Auto Scaling group against its desired capacity."""

    name: str
    desired: int
    healthy: int  # InService, Healthy and running in EC2

    @property
    def restored(self) -> bool:
        return self.healthy >= self.desired

    def describe(self) -> str:
        return f"group {self.name} has {self.healthy} healthy of {self.desired} desired"


def find_instances(clients: AwsClients, env: str, spec: AwsTargetSettings) -> list[Ec2Instance]:
    """The live instances ``spec`` selects, sorted by id."""
    filters: list[FilterTypeDef] = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
    filters += [{"Name": f"tag:{key}", "Values": [value]} for key, value in spec.tags.items()]
    if spec.availability_zones:
        filters.append({"Name": "availability-zone", "Values": list(spec.availability_zones)})
    if spec.asg is not None:
        members = _group_members(clients, env, spec.name, spec.asg)
        if not members:
            return []
        found = [
            instance
            for chunk in _chunks(members, _EC2_IDS_PER_CALL)
            for instance in describe(
                clients, [*filters, {"Name": "instance-id", "Values": list(chunk)}]
            )
        ]
    else:
        found = describe(clients, filters)
    return sorted(with_groups(clients, found), key=lambda instance: instance.id)


def describe(clients: AwsClients, filters: Sequence[FilterTypeDef]) -> list[Ec2Instance]:
    """DescribeInstances with ``filters``, every page."""
    found = []
    for page in clients.pages(clients.ec2.describe_instances, Filters=filters):
        for reservation in page.get("Reservations", []):
            for raw in reservation.get("Instances", []):
                found.append(
                    Ec2Instance(
                        id=raw["InstanceId"],
                        state=raw.get("State", {}).get("Name", ""),
                        zone=raw.get("Placement", {}).get("AvailabilityZone", ""),
                        address=raw.get("PrivateIpAddress", ""),
                        tags={tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])},
                    )
                )
    return found


def describe_ids(clients: AwsClients, instance_ids: Sequence[str]) -> list[Ec2Instance]:
    """The instances with these ids, whatever their state (an empty list asks for none)."""
    return [
        instance
        for chunk in _chunks(instance_ids, _EC2_IDS_PER_CALL)
        for instance in describe(clients, [{"Name": "instance-id", "Values": list(chunk)}])
    ]


def with_groups(clients: AwsClients, instances: Sequence[Ec2Instance]) -> list[Ec2Instance]:
    """``instances`` with their Auto Scaling group, lifecycle state and health, if any."""
    membership: dict[str, AutoScalingInstanceDetailsTypeDef] = {}
    for chunk in _chunks([i.id for i in instances], _ASG_IDS_PER_CALL):
        for page in clients.pages(
            clients.autoscaling.describe_auto_scaling_instances, InstanceIds=list(chunk)
        ):
            for raw in page.get("AutoScalingInstances", []):
                membership[raw["InstanceId"]] = raw
    return [
        Ec2Instance(
            id=i.id,
            state=i.state,
            zone=i.zone,
            address=i.address,
            tags=i.tags,
            group=membership[i.id].get("AutoScalingGroupName"),
            lifecycle=membership[i.id].get("LifecycleState"),
            health=membership[i.id].get("HealthStatus"),
        )
        if i.id in membership
        else i
        for i in instances
    ]


def group_capacities(clients: AwsClients, names: Iterable[str]) -> list[GroupCapacity]:
    """Each named group's desired capacity and how many of its instances are healthy."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    groups = [
        group
        for page in clients.pages(
            clients.autoscaling.describe_auto_scaling_groups, AutoScalingGroupNames=wanted
        )
        for group in page.get("AutoScalingGroups", [])
    ]
    in_service = {
        member["InstanceId"]
        for group in groups
        for member in group.get("Instances", [])
        if member.get("LifecycleState") == "InService" and member.get("HealthStatus") == "Healthy"
    }
    running = {i.id for i in describe_ids(clients, sorted(in_service)) if i.state == "running"}
    return [
        GroupCapacity(
            name=group["AutoScalingGroupName"],
            desired=int(group.get("DesiredCapacity", 0)),
            healthy=sum(1 for m in group.get("Instances", []) if m["InstanceId"] in running),
        )
        for group in groups
    ]


def _group_members(clients: AwsClients, env: str, target: str, asg: str) -> list[str]:
    groups = [
        group
        for page in clients.pages(
            clients.autoscaling.describe_auto_scaling_groups, AutoScalingGroupNames=[asg]
        )
        for group in page.get("AutoScalingGroups", [])
    ]
    if not groups:
        raise ConfigError(
            f"[tool.chaoskit.env.{env}.targets.{target}] asg={asg!r}: no Auto Scaling "
            f"group of that name in region {clients.region}; check the name and the region."
        )
    return sorted(member["InstanceId"] for group in groups for member in group.get("Instances", []))


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
