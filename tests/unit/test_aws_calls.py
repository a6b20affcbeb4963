"""Control-plane calls: transient failures retried within bounds, refusals not retried and
named with the operation and the permission it needs.

botocore's Stubber stands in for AWS here: moto neither throttles nor denies (it answers every
call as an administrator), and the Stubber still checks each request against the service model.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from chaoskit.errors import ProviderError
from chaoskit.providers.aws.calls import (
    DEFAULT_POLICY,
    AwsAccessDenied,
    AwsCallFailed,
    AwsRequestInvalid,
    RetryPolicy,
    call,
    pages,
)

RUNNING = {"TerminatingInstances": []}


def ec2() -> Any:
    return boto3.client(
        "ec2",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def policy(slept: list[float]) -> RetryPolicy:
    return RetryPolicy(attempts=4, deadline=60, initial=1, maximum=4, sleep=slept.append)


@pytest.mark.parametrize(
    ("code", "status"),
    [("RequestLimitExceeded", 503), ("Throttling", 400), ("InternalError", 500)],
)
def test_throttling_and_server_errors_are_retried_with_backoff_until_the_call_succeeds(
    code: str, status: int, policy: RetryPolicy, slept: list[float]
) -> None:
    client = ec2()
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error(
                "terminate_instances", service_error_code=code, http_status_code=status
            )
        stub.add_response("terminate_instances", RUNNING, {"InstanceIds": ["i-1"]})
        reply = call(policy, client.terminate_instances, InstanceIds=["i-1"])
        stub.assert_no_pending_responses()
    assert reply["TerminatingInstances"] == []
    assert len(slept) == 2 and all(0 < pause <= 4 for pause in slept)


def test_retries_are_bounded_and_the_error_names_the_operation(
    policy: RetryPolicy, slept: list[float]
) -> None:
    client = ec2()
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_client_error(
                "describe_instances",
                service_error_code="RequestLimitExceeded",
                service_message="Request limit exceeded.",
                http_status_code=503,
            )
        with pytest.raises(AwsCallFailed) as raised:
            call(policy, client.describe_instances)
        stub.assert_no_pending_responses()
    assert len(slept) == 3  # 4 attempts, 3 pauses, then it gives up
    assert str(raised.value) == (
        "DescribeInstances kept failing (RequestLimitExceeded: Request limit exceeded.) through "
        "4 attempts within 60s; AWS is throttling or unavailable, try again later."
    )


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "AccessDenied"])
def test_an_access_denial_fails_at_once_naming_the_missing_permission(
    code: str, policy: RetryPolicy, slept: list[float]
) -> None:
    client = ec2()
    with Stubber(client) as stub:
        stub.add_client_error(
            "terminate_instances",
            service_error_code=code,
            service_message="You are not authorized to perform this operation.",
            http_status_code=403,
        )
        with pytest.raises(AwsAccessDenied) as raised:
            call(policy, client.terminate_instances, InstanceIds=["i-1"])
    assert slept == []
    assert isinstance(raised.value, ProviderError)
    assert "AWS denied TerminateInstances" in str(raised.value)
    assert "need the IAM permission ec2:TerminateInstances" in str(raised.value)


def test_the_permission_uses_iams_prefix_of_the_service() -> None:
    autoscaling = boto3.client(
        "autoscaling", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(autoscaling) as stub:
        stub.add_client_error(
            "describe_auto_scaling_groups", service_error_code="AccessDenied", http_status_code=403
        )
        with pytest.raises(AwsAccessDenied, match="autoscaling:DescribeAutoScalingGroups"):
            call(DEFAULT_POLICY, autoscaling.describe_auto_scaling_groups)


def test_a_request_aws_finds_invalid_fails_at_once(policy: RetryPolicy, slept: list[float]) -> None:
    client = ec2()
    with Stubber(client) as stub:
        stub.add_client_error(
            "stop_instances",
            service_error_code="InvalidParameterValue",
            service_message="Value (x) for parameter instanceId is invalid.",
            http_status_code=400,
        )
        with pytest.raises(AwsRequestInvalid, match=r"AWS rejected StopInstances as invalid"):
            call(policy, client.stop_instances, InstanceIds=["x"])
    assert slept == []


def test_a_request_botocore_finds_invalid_is_never_sent(policy: RetryPolicy) -> None:
    with pytest.raises(AwsRequestInvalid, match="StopInstances was not sent"):
        call(policy, ec2().stop_instances, InstanceIds="i-1")


def test_a_lost_connection_is_retried(policy: RetryPolicy, slept: list[float]) -> None:
    # The Stubber cannot drop a connection; a stand-in method can.
    failures = [EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")]

    class Client:
        class meta:
            class service_model:
                signing_name = "ec2"

        def describe_instances(self) -> dict[str, Any]:
            if failures:
                raise failures.pop()
            return {"Reservations": []}

    assert call(policy, Client().describe_instances) == {"Reservations": []}
    assert len(slept) == 1


def test_pages_follow_next_token() -> None:
    client = ec2()
    with Stubber(client) as stub:
        stub.add_response("describe_instances", {"Reservations": [], "NextToken": "t2"}, {})
        stub.add_response("describe_instances", {"Reservations": []}, {"NextToken": "t2"})
        assert len(list(pages(DEFAULT_POLICY, client.describe_instances))) == 2
        stub.assert_no_pending_responses()
