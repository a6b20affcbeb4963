"""Every AWS control-plane call chaoskit makes, and what its failures mean.

Throttling, server errors (5xx) and lost connections are retried with jittered exponential
backoff, bounded in attempts and time (tenacity). Refusals are not retried: an access denial
fails at once naming the operation and the IAM permission it needs, a request AWS finds
invalid fails at once with AWS's reason. botocore's own retries are off (``clients.py``) so
that this is the one retry policy.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

from botocore.client import BaseClient
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

P = ParamSpec("P")
# A reply: botocore answers a dict (the stubs type it as the operation's TypedDict).
R = TypeVar("R", bound=Mapping[str, object])
T = TypeVar("T")
C = TypeVar("C", bound=BaseClient)


def permission(client: BaseClient, operation: str) -> str:
    """The IAM action an operation needs, e.g. ``ec2:TerminateInstances``."""
    signing = client.meta.service_model.signing_name
    return f"{_IAM_PREFIX.get(signing, signing)}:{operation}"


def operation_name(method: Callable[..., object]) -> str:
    """The API name of a client's bound operation (``ec2.terminate_instances`` is
    ``TerminateInstances``), as AWS and IAM spell it."""
    name = getattr(method, "__name__", "")
    client = getattr(method, "__self__", None)
    if isinstance(client, BaseClient) and name in client.meta.method_to_api_mapping:
        return client.meta.method_to_api_mapping[name]
    return "".join(part.capitalize() for part in name.split("_"))


def call(policy: RetryPolicy, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``method`` (a client's operation, e.g. ``ec2.describe_instances``) with its
    arguments, retried while the failure is transient; an AwsAccessDenied, AwsRequestInvalid
    or AwsCallFailed naming the operation otherwise."""
    try:
        return _retrying(policy)(method, *args, **kwargs)
    except ClientError as error:
        raise _client_error(method, error, policy) from error
    except ParamValidationError as error:
        raise AwsRequestInvalid(
            f"{operation_name(method)} was not sent: botocore found the request invalid ({error})."
        ) from error
    except NoCredentialsError as error:
        raise AwsCallFailed(
            f"{operation_name(method)}: no AWS credentials were found; set profile in the "
            f"environment's settings, or provide credentials the usual way (AWS_PROFILE, "
            f"environment variables, an instance role)."
        ) from error
    except BotoCoreError as error:
        raise AwsCallFailed(
            f"{operation_name(method)} failed after {policy.attempts} attempts within "
            f"{policy.deadline:g}s: {error}; check the network path to AWS (or endpoint_url)."
        ) from error


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


class _RetryingClient:
    """A botocore client whose operations are retried like ``call`` but fail with botocore's
    own exceptions; see ``retrying``."""

    def __init__(self, client: BaseClient, policy: RetryPolicy) -> None:
        self._client = client
        self._policy = policy

    def __getattr__(self, name: str) -> object:
        attribute: object = getattr(self._client, name)
        if name not in self._client.meta.method_to_api_mapping or not callable(attribute):
            return attribute
        operation = attribute

        # Named as the operation, so that errors raised through it can name it.
        @functools.wraps(operation)
        def retried(*args: object, **params: object) -> object:
            return _retrying(self._policy)(operation, *args, **params)

        return retried


def retrying(client: C, *, policy: RetryPolicy = DEFAULT_POLICY) -> C:
    """``client`` with its operations retried like ``call`` (transient failures only, within
    the policy's bounds) but failing with botocore's own exceptions, for code that reads AWS's
    error codes itself (the FIS runner and recovery). Everything else, ``meta`` included, is
    the client's."""
    # The wrapper answers every attribute the client has, each operation with the same
    # signature and reply: typed as the client it stands for.
    return cast(C, _RetryingClient(client, policy))


def pages(
    policy: RetryPolicy, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> Iterator[R]:
    """Every page of a paginated operation (EC2, Auto Scaling, CloudWatch: ``NextToken``),
    each page's call retried on its own (``call``)."""

    def page(*more: P.args, **given: P.kwargs) -> R:
        return call(policy, method, *more, **given)

    return paginate(page, "NextToken", *args, **kwargs)


def paginate(
    method: Callable[P, R], token_key: str, /, *args: P.args, **kwargs: P.kwargs
) -> Iterator[R]:
    """Every page of a listing: ``method`` is called with ``args``, and from the second page
    on the token of the next page under ``token_key`` (EC2 and Auto Scaling: ``NextToken``,
    FIS: ``nextToken``), until a page carries none."""
    # The token is one more keyword of the same operation, which its signature has.
    paged: Callable[..., R] = method
    reply = paged(*args, **kwargs)
    while True:
        yield reply
        token = reply.get(token_key)
        if not isinstance(token, str) or not token:
            return
        reply = paged(*args, **kwargs, **{token_key: token})


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
    method: Callable[..., object], error: ClientError, policy: RetryPolicy
) -> ProviderError:
    operation = operation_name(method)
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "")
    if code in DENIED:
        client = getattr(method, "__self__", None)
        needed = permission(client, operation) if isinstance(client, BaseClient) else operation
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
