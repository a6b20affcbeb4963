"""Which account the credentials reach, checked before anything else is asked of AWS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.errors import EnvironmentRefused
from chaoskit.providers.aws.clients import AwsClients


@dataclass(frozen=True, kw_only=True)
class CallerIdentity:
    account: str
    arn: str


def caller_identity(clients: AwsClients) -> CallerIdentity:
    """STS GetCallerIdentity: needs no permission, changes nothing."""
    reply = clients.call(clients.sts.get_caller_identity)
    return CallerIdentity(account=str(reply["Account"]), arn=str(reply["Arn"]))


def check_account(clients: AwsClients, *, env: str, allowed: Sequence[str]) -> CallerIdentity:
    """The caller's identity, or EnvironmentRefused when its account is not ``allowed``."""
    identity = caller_identity(clients)
    if identity.account not in allowed:
        raise EnvironmentRefused(
            f"environment {env!r}: the credentials in use reach AWS account "
            f"{identity.account} as {identity.arn}, which is not in allowed_accounts "
            f"{list(allowed)} of [tool.chaoskit.env.{env}]; nothing was touched. Use "
            f"credentials (or a profile) of an allowed account, or add {identity.account} "
            f"to allowed_accounts if that account is meant to be tested."
        )
    return identity
