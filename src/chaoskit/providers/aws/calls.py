"""Every AWS control-plane call chaoskit makes, and what its failures mean.

Throttling, server errors (5xx) and lost connections are retried with jittered exponential
backoff, bounded in attempts and time (tenacity). Refusals are not retried: an access denial
fails at once naming the operation and the IAM permission it needs, a request AWS finds
invalid fails at once with AWS's reason. botocore's own retries are off (``clients.py``) so
that this is the one retry policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from chaoskit.errors import ProviderError

# Error codes AWS services answer when they throttle a caller.
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
# Codes that mean the caller may not do this: retrying cannot help.
DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthFailure",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "OptInRequired",
    }
)
# Codes that mean the request itself is wrong.
INVALID = frozenset(
    {
        "ValidationError",
        "ValidationException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameter",
        "MissingParameter",
        "InvalidRequest",
    }
)
# IAM's service prefix where it differs from the API's signing name.
_IAM_PREFIX = {"monitoring": "cloudwatch"}


class AwsAccessDenied(ProviderError):
    """AWS refused an operation to the credentials in use; the message names the permission."""


class AwsRequestInvalid(ProviderError):
    """AWS (or botocore, before sending) found a request invalid."""


class AwsCallFailed(ProviderError):
    """An operation failed for another reason, or kept failing past the retry bounds."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long transient failures are retried: at most ``attempts`` tries within about
    ``deadline`` seconds, waiting ``initial`` doubling up to ``maximum`` (with jitter)."""

    attempts: int = 5
    deadline: float = 30.0
    initial: float = 0.5
    maximum: float = 8.0
    sleep: Callable[[float], None] = time.sleep


DEFAULT_POLICY = RetryPolicy()


def permission(client: Any, operation: str) -> str:
    """The IAM action an operation needs, e.g. ``ec2:TerminateInstances``."""
    signing = client.meta.service_model.signing_name
    return f"{_IAM_PREFIX.get(signing, signing)}:{operation}"


def call(
    client: Any, operation: str, *, policy: RetryPolicy = DEFAULT_POLICY, **params: Any
) -> dict[str, Any]:
    """``operation`` (its API name, e.g. ``"DescribeInstances"``) with ``params``, retried
    while the failure is transient; an AwsAccessDenied, AwsRequestInvalid or AwsCallFailed
    naming the operation otherwise."""
    method = getattr(client, xform_name(operation))
    try:
        reply: dict[str, Any] = _retrying(policy)(method, **params)
    except ClientError as error:
        raise _client_error(client, operation, error, policy) from error
    except ParamValidationError as error:
        raise AwsRequestInvalid(
            f"{operation} was not sent: botocore found the request invalid ({error})."
        ) from error
    except NoCredentialsError as error:
        raise AwsCallFailed(
            f"{operation}: no AWS credentials were found; set profile in the environment's "
            f"settings, or provide credentials the usual way (AWS_PROFILE, environment "
            f"variables, an instance role)."
        ) from error
    except BotoCoreError as error:
        raise AwsCallFailed(
            f"{operation} failed after {policy.attempts} attempts within "
            f"{policy.deadline:g}s: {error}; check the network path to AWS (or endpoint_url)."
        ) from error
    return reply


def _retrying(policy: RetryPolicy) -> Retrying:
    return Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline),
        # Exponential with jitter, so that runners throttled together do not retry together.
        wait=wait_exponential(multiplier=policy.initial, max=policy.maximum)
        + wait_random(0, policy.initial),
        retry=retry_if_exception(_transient),
        sleep=policy.sleep,
        reraise=True,
    )


class RetryingClient:
    """A botocore client whose operations are retried like ``call`` (transient failures
    only, within the policy's bounds) but fail with botocore's own exceptions, for code that
    reads AWS's error codes itself (the FIS runner and recovery). Everything else, ``meta``
    included, is the client's."""

    def __init__(self, client: Any, *, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self._client = client
        self._policy = policy

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._client.meta.method_to_api_mapping:
            return attribute

        def retried(**params: Any) -> Any:
            return _retrying(self._policy)(attribute, **params)

        return retried


def pages(
    client: Any, operation: str, *, policy: RetryPolicy = DEFAULT_POLICY, **params: Any
) -> Iterator[dict[str, Any]]:
    """Every page of a paginated ``operation``, each page's call retried on its own."""
    return paginate(
        lambda token: call(client, operation, policy=policy, **params, **token), "NextToken"
    )


def paginate(
    request: Callable[[dict[str, str]], dict[str, Any]], token_key: str
) -> Iterator[dict[str, Any]]:
    """Every page of a listing: ``request`` is called with the token of the next page (none
    for the first) under ``token_key`` (EC2 and Auto Scaling: ``NextToken``, FIS:
    ``nextToken``) until a page carries none."""
    token: str | None = None
    while True:
        reply = request({} if token is None else {token_key: token})
        yield reply
        token = reply.get(token_key)
        if not token:
            return


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _transient(error: BaseException) -> bool:
    """Whether ``error`` (a botocore exception) may pass if the call is made again:
    throttling, a server error (5xx), a lost or timed-out connection. Not a refusal, an
    invalid request, missing credentials or a request botocore would not send."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error_code(error)
    if code in DENIED or code in INVALID:
        return False
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in THROTTLED or (isinstance(status, int) and status >= 500)


def _client_error(
    client: Any, operation: str, error: ClientError, policy: RetryPolicy
) -> ProviderError:
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "")
    if code in DENIED:
        needed = permission(client, operation)
        return AwsAccessDenied(
            f"AWS denied {operation} ({code}: {message}). The credentials in use need the IAM "
            f"permission {needed}; grant it to the role or user chaoskit runs as (docs/aws.md "
            f"lists the policy)."
        )
    if code in INVALID:
        return AwsRequestInvalid(f"AWS rejected {operation} as invalid ({code}: {message}).")
    if _transient(error):
        return AwsCallFailed(
            f"{operation} kept failing ({code}: {message}) through {policy.attempts} attempts "
            f"within {policy.deadline:g}s; AWS is throttling or unavailable, try again later."
        )
    return AwsCallFailed(f"{operation} failed ({code}: {message}).")
