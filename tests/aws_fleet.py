"""What the AWS tests run against: moto, seeded by docs/aws/seed_moto.py (the script docs/aws.md
tells users to run, so the tests keep it working), and the environment settings that match.

moto differs from AWS in ways these tests lean on, each named where used; the main ones:
instances are ``running`` on the first Describe after RunInstances (AWS: ``pending`` first),
an Auto Scaling group replaces a terminated instance at once and synchronously (AWS: after its
health check, minutes), and a stopped instance stays ``InService``/``Healthy`` in its group
(AWS marks it unhealthy and replaces it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from chaoskit.config.aws import AwsSettings, parse_aws_settings

ROOT = Path(__file__).resolve().parents[1]
SEED_SCRIPT = ROOT / "docs" / "aws" / "seed_moto.py"
REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"  # the account moto answers GetCallerIdentity with
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def seed_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_moto", SEED_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed(endpoint_url: str | None = None) -> list[str]:
    seeded: list[str] = seed_script().seed(endpoint_url)
    return seeded


def settings(**overrides: Any) -> AwsSettings:
    """The example environment of docs/aws.md: target web = the group's instances."""
    table: dict[str, Any] = {
        "provider": "aws",
        "region": REGION,
        "allowed_accounts": [MOTO_ACCOUNT],
        "instance_faults": "ec2",
        "targets": {
            "web": {
                "resource_type": "aws:ec2:instance",
                "tags": {"app": "shop", "tier": "web"},
                "max_count": 2,
                "url": "http://127.0.0.1:1",
            }
        },
    }
    table.update(overrides)
    return parse_aws_settings("staging", table)


def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url)


def states(endpoint_url: str | None = None) -> dict[str, str]:
    """Every instance's EC2 state, by id."""
    return {
        instance["InstanceId"]: instance["State"]["Name"]
        for reservation in client("ec2", endpoint_url).describe_instances()["Reservations"]
        for instance in reservation["Instances"]
    }


def tier(endpoint_url: str | None, name: str) -> list[str]:
    """The ids of the live instances tagged tier=``name``."""
    found = client("ec2", endpoint_url).describe_instances(
        Filters=[
            {"Name": "tag:tier", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["running", "stopped", "pending"]},
        ]
    )
    return sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])
