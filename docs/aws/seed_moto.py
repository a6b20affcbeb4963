"""Seed a moto server with what docs/aws.md's example environment expects.

    python docs/aws/seed_moto.py http://127.0.0.1:5000

Creates, in eu-west-1 of moto's account 123456789012: an Auto Scaling group ``shop-web`` of 3
instances tagged app=shop, tier=web (spread over the region's default subnets), and one
instance outside it tagged app=shop, tier=batch that no fault of the example may touch.
Prints the instances it made. Run it once per fresh server (it refuses to seed twice).
"""

from __future__ import annotations

import sys
from typing import Any

import boto3

REGION = "eu-west-1"
GROUP = "shop-web"


def seed(endpoint_url: str | None) -> list[str]:
    """Seed the server at ``endpoint_url`` (None: moto's in-process mock); the ids made."""

    def client(service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    ec2, autoscaling = client("ec2"), client("autoscaling")
    if autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]:
        raise SystemExit(f"{endpoint_url} is seeded already (group {GROUP} exists)")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = [subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]]
    ec2.create_launch_template(
        LaunchTemplateName=GROUP,
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": GROUP, "Version": "$Latest"},
        MinSize=3,
        MaxSize=6,
        DesiredCapacity=3,
        VPCZoneIdentifier=",".join(subnets),
        Tags=[
            {"Key": "app", "Value": "shop", "PropagateAtLaunch": True},
            {"Key": "tier", "Value": "web", "PropagateAtLaunch": True},
        ],
    )
    ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "app", "Value": "shop"}, {"Key": "tier", "Value": "batch"}],
            }
        ],
    )
    made = []
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
            made.append(instance["InstanceId"])
            print(
                f"{instance['InstanceId']} {instance['Placement']['AvailabilityZone']} "
                f"tier={tags.get('tier')} group={tags.get('aws:autoscaling:groupName', '-')}"
            )
    return made


if __name__ == "__main__":
    seed(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000")
