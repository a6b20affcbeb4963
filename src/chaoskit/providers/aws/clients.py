"""One boto3 session per AWS environment and its clients, all aimed at the same place.

The region comes from the environment's settings and wins over ``AWS_DEFAULT_REGION``; the
profile, when set, picks the credentials (else boto3's usual chain); ``endpoint_url``, when
set (moto, LocalStack), is used by every client. botocore's own retries are off: ``calls.py``
retries, once, with bounds of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from chaoskit.errors import ConfigError
from chaoskit.providers.aws.calls import DEFAULT_POLICY, P, R, RetryPolicy, T, call, pages, retrying

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_fis import FISClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class AwsClients:
    """The clients of the services chaoskit calls, each made on first use, and calls through
    them (``calls.py``)."""

    def __init__(
        self,
        *,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.Session | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.policy = policy
        if session is None:
            try:
                session = boto3.Session(profile_name=profile, region_name=region)
            except ProfileNotFound as error:
                raise ConfigError(
                    f"AWS profile {profile!r} is not configured on this machine ({error}); "
                    f"set profile to one in ~/.aws/config, or leave it out to use the usual "
                    f"credential chain."
                ) from error
        self.session = session
        self._config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            user_agent_extra="chaoskit",
        )

    # One property a service, so that each client is typed as its own service's.
    @cached_property
    def ec2(self) -> EC2Client:
        return self.session.client(
            "ec2", region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
        )

    @cached_property
    def autoscaling(self) -> AutoScalingClient:
        return self.session.client(
            "autoscaling",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=self._config,
        )

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self.session.client(
            "cloudwatch",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=self._config,
        )

    @cached_property
    def fis(self) -> FISClient:
        return self.session.client(
            "fis", region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
        )

    @cached_property
    def s3(self) -> S3Client:
        return self.session.client(
            "s3", region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
        )

    @cached_property
    def sts(self) -> STSClient:
        return self.session.client(
            "sts", region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
        )

    @property
    def retrying_fis(self) -> FISClient:
        """The FIS client with transient failures retried, that fails with botocore's own
        exceptions (``calls.retrying``): the FIS runner and recovery read AWS's codes."""
        return retrying(self.fis, policy=self.policy)

    def call(self, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``method``, an operation of one of these clients (``clients.ec2.stop_instances``),
        retried while transient (``calls.call``)."""
        return call(self.policy, method, *args, **kwargs)

    def pages(self, method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        """Every page of a paginated operation (``calls.pages``)."""
        return pages(self.policy, method, *args, **kwargs)
