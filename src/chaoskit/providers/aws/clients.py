"""One boto3 session per AWS environment and its clients, all aimed at the same place.

The region comes from the environment's settings and wins over ``AWS_DEFAULT_REGION``; the
profile, when set, picks the credentials (else boto3's usual chain); ``endpoint_url``, when
set (moto, LocalStack), is used by every client. botocore's own retries are off: ``calls.py``
retries, once, with bounds of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from chaoskit.errors import ConfigError
from chaoskit.providers.aws.calls import DEFAULT_POLICY, RetryPolicy, call, pages

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class AwsClients:
    """Clients by service name, made on first use, and calls through them (``calls.py``)."""

    def __init__(
        self,
        *,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
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
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The botocore client of ``service`` (``"ec2"``, ``"autoscaling"``, ``"fis"``, ...)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=Config(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                    user_agent_extra="chaoskit",
                ),
            )
        return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """``operation`` of ``service`` (e.g. ``"ec2"``, ``"TerminateInstances"``), retried
        while transient (``calls.call``)."""
        return call(self.client(service), operation, policy=self.policy, **params)

    def pages(self, service: str, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation (``calls.pages``)."""
        return pages(self.client(service), operation, policy=self.policy, **params)
