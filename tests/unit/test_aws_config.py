"""AWS environments in pyproject.toml: every setting checked when pytest starts, every bad
value a ConfigError naming the table, the field and what to write instead."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit.config import resolve_environment
from chaoskit.config.aws import AwsSettings, AwsTargetSettings
from chaoskit.errors import ConfigError

GOOD: dict[str, Any] = {
    "provider": "aws",
    "region": "eu-west-1",
    "profile": "chaos",
    "endpoint_url": "http://127.0.0.1:5000",
    "allowed_accounts": ["123456789012"],
    "fis_role_arn": "arn:aws:iam::123456789012:role/chaoskit-fis",
    "stop_alarms": ["web-5xx"],
    "instance_faults": "ec2",
    "targets": {
        "web": {
            "resource_type": "aws:ec2:instance",
            "tags": {"app": "shop", "tier": "web"},
            "asg": "shop-web",
            "availability_zones": ["eu-west-1a", "eu-west-1b"],
            "max_count": 2,
            "url": "https://staging.example.com",
        }
    },
}


def resolve(env: dict[str, Any]) -> Any:
    return resolve_environment({"env": {"staging": env}}, "staging")


def with_target(**changes: Any) -> dict[str, Any]:
    target = {**GOOD["targets"]["web"], **changes}
    return {**GOOD, "targets": {"web": {k: v for k, v in target.items() if v is not None}}}


def test_the_contracts_example_reads_into_typed_settings() -> None:
    config = resolve(GOOD)
    assert config.provider == "aws" and config.destructive
    assert config.aws == AwsSettings(
        region="eu-west-1",
        profile="chaos",
        endpoint_url="http://127.0.0.1:5000",
        allowed_accounts=("123456789012",),
        fis_role_arn="arn:aws:iam::123456789012:role/chaoskit-fis",
        stop_alarms=("web-5xx",),
        instance_faults="ec2",
        targets={
            "web": AwsTargetSettings(
                name="web",
                tags={"app": "shop", "tier": "web"},
                asg="shop-web",
                availability_zones=("eu-west-1a", "eu-west-1b"),
                max_count=2,
                url="https://staging.example.com",
            )
        },
    )


def test_instance_faults_defaults_to_fis_and_the_local_environment_is_not_destructive() -> None:
    minimal = {"provider": "aws", "region": "us-east-1", "allowed_accounts": ["000000000001"]}
    assert resolve(minimal).aws.instance_faults == "fis"
    assert not resolve_environment({}, None).destructive


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**GOOD, "region": None}, "[tool.chaoskit.env.staging] has no region"),
        ({**GOOD, "region": "Ireland"}, "region='Ireland' is not an AWS region name"),
        ({**GOOD, "allowed_accounts": None}, "has no allowed_accounts; set allowed_accounts"),
        ({**GOOD, "allowed_accounts": []}, "allowed_accounts=[] must be a non-empty list"),
        ({**GOOD, "allowed_accounts": [12345678901]}, "quote it: a number loses leading zeros"),
        ({**GOOD, "allowed_accounts": ["1234"]}, "'1234' is not a 12-digit account id"),
        ({**GOOD, "instance_faults": "ssm"}, "instance_faults='ssm' must be \"fis\""),
        ({**GOOD, "fis_role_arn": "chaoskit-fis"}, "fis_role_arn='chaoskit-fis' is not an IAM"),
        (
            {**GOOD, "fis_role_arn": "arn:aws:iam::999999999999:role/x"},
            "belongs to account 999999999999, which is not in allowed_accounts",
        ),
        ({**GOOD, "endpoint_url": "localhost:5000"}, "endpoint_url='localhost:5000' must be"),
        ({**GOOD, "endpoint_url": "http://h:port"}, "endpoint_url='http://h:port' must be"),
        ({**GOOD, "profile": ""}, "profile='' must be a non-empty string"),
        ({**GOOD, "stop_alarms": "web-5xx"}, "stop_alarms='web-5xx' must be a list of alarm"),
        ({**GOOD, "allowed_account": ["1"]}, "unknown setting(s) allowed_account; the settings"),
        ({**GOOD, "targets": ["web"]}, "[tool.chaoskit.env.staging.targets] must be a table"),
        (
            with_target(resource_type="aws:ecs:task"),
            "[tool.chaoskit.env.staging.targets.web] resource_type='aws:ecs:task'",
        ),
        (with_target(tags={"app": 1}), "targets.web] tags={'app': 1} must map tag keys"),
        (with_target(tags=None, asg=None, availability_zones=None), "selects no instances"),
        (with_target(max_count=None), "has no blast radius; set max_count"),
        (with_target(max_count=0), "max_count=0 must be a whole number of instances"),
        (with_target(max_count=True), "max_count=True must be a whole number"),
        (with_target(max_count=10**8), "max_count=100000000 is more than 10000"),
        (with_target(max_count=None, max_percent=150), "max_percent=150 must be a share"),
        (with_target(url="staging.example.com"), "targets.web] url='staging.example.com'"),
        (with_target(replicas=3), "targets.web] has unknown setting(s) replicas"),
        (with_target(availability_zones="eu-west-1a"), "availability_zones='eu-west-1a' must"),
    ],
)
def test_a_bad_setting_is_named_with_its_table_and_what_to_write(
    env: dict[str, Any], named: str
) -> None:
    env = {key: value for key, value in env.items() if value is not None}
    with pytest.raises(ConfigError) as raised:
        resolve(env)
    assert named in str(raised.value)
    assert "[tool.chaoskit.env.staging" in str(raised.value)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=14)
    | st.sampled_from(["aws", "eu-west-1", "123456789012", "aws:ec2:instance", "ec2", "fis"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
env_keys = st.sampled_from(
    [
        "region",
        "profile",
        "endpoint_url",
        "allowed_accounts",
        "fis_role_arn",
        "stop_alarms",
        "instance_faults",
        "targets",
        "typo",
    ]
)
target_keys = st.sampled_from(
    ["resource_type", "tags", "asg", "availability_zones", "max_count", "max_percent", "url"]
)


@given(
    env=st.dictionaries(env_keys, values, max_size=6),
    target=st.dictionaries(target_keys, values, max_size=6),
    target_name=st.text(max_size=6),
)
def test_a_malformed_aws_environment_is_a_config_error_never_a_traceback(
    env: dict[str, Any], target: dict[str, Any], target_name: str
) -> None:
    table = {**env, "provider": "aws"}
    if "targets" not in table:
        table["targets"] = {target_name: target}
    try:
        config = resolve(table)
    except ConfigError as error:
        assert "[tool.chaoskit" in str(error)
    else:
        assert config.aws is not None and config.aws.allowed_accounts


@given(table=values)
def test_any_tool_table_resolves_or_is_a_config_error(table: Any) -> None:
    if not isinstance(table, dict):
        table = {"env": table}
    with contextlib.suppress(ConfigError):  # anything else fails the test
        resolve_environment(table, None)
