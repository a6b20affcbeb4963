"""The settings of an AWS environment, ``[tool.chaoskit.env.NAME]`` with ``provider = "aws"``,
checked when pytest starts: every bad value is a ConfigError naming the table, the field and
what to write instead, long before any AWS call.

Plain values only (no boto3): the plugin reads them while ``pytest --co`` must stay light.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from chaoskit.config_checks import ENV_KEYS, TARGET_KEYS
from chaoskit.errors import ConfigError

INSTANCE_FAULTS = ("fis", "ec2")
# The most instances a target's blast radius may allow: the most one fault may ask for
# (``chaoskit.faults._selection.MAX_COUNT``, a layer above). A larger max_count could never
# bind, so it is a typo, not a limit.
MAX_COUNT = 10_000
RESOURCE_TYPES = ("aws:ec2:instance",)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ACCOUNT = re.compile(r"\d{12}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+")
# The keys an AWS environment and its targets take: one list, which the check of the
# whole [tool.chaoskit] table uses too.
_ENV_KEYS = tuple(sorted(ENV_KEYS["aws"]))
_TARGET_KEYS = tuple(sorted(TARGET_KEYS["aws"]))


@dataclass(frozen=True, kw_only=True)
class AwsTargetSettings:
    """Which EC2 instances a target name stands for, and how many of them a fault may hit.

    The selectors narrow each other: instances carrying every tag, in the Auto Scaling group,
    in one of the zones. ``max_count`` and ``max_percent`` (of the target's live instances,
    rounded down) are the blast radius; when both are set, both apply.
    """

    name: str
    resource_type: str = "aws:ec2:instance"
    tags: Mapping[str, str] = field(default_factory=dict)
    asg: str | None = None
    availability_zones: tuple[str, ...] = ()
    max_count: int | None = None
    max_percent: float | None = None
    url: str | None = None


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    """An AWS environment: where (region, profile, endpoint), which accounts it may touch,
    how instance faults reach AWS, and its targets."""

    region: str
    allowed_accounts: tuple[str, ...]
    profile: str | None = None
    endpoint_url: str | None = None
    fis_role_arn: str | None = None
    stop_alarms: tuple[str, ...] = ()
    instance_faults: Literal["fis", "ec2"] = "fis"
    targets: Mapping[str, AwsTargetSettings] = field(default_factory=dict)


def parse_aws_settings(env: str, table: Mapping[str, Any]) -> AwsSettings:
    """``[tool.chaoskit.env.<env>]`` as AwsSettings, or ConfigError naming the bad field."""
    where = f"[tool.chaoskit.env.{env}]"
    _refuse_unknown(where, table, _ENV_KEYS)
    region = table.get("region")
    if region is None:
        raise ConfigError(
            f'{where} has no region; set region = "eu-west-1" (or your region): an AWS '
            f"environment names its region itself rather than take AWS_DEFAULT_REGION."
        )
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigError(
            f"{where} region={region!r} is not an AWS region name; write one such as "
            f'"eu-west-1" or "us-east-1".'
        )
    accounts = _accounts(where, table.get("allowed_accounts"))
    instance_faults = table.get("instance_faults", "fis")
    if instance_faults not in INSTANCE_FAULTS:
        raise ConfigError(
            f'{where} instance_faults={instance_faults!r} must be "fis" (instance faults as '
            f'FIS experiments) or "ec2" (direct EC2 calls).'
        )
    role = table.get("fis_role_arn")
    if role is not None:
        match = _ROLE_ARN.fullmatch(role) if isinstance(role, str) else None
        if match is None:
            raise ConfigError(
                f"{where} fis_role_arn={role!r} is not an IAM role ARN; write one such as "
                f'"arn:aws:iam::123456789012:role/chaoskit-fis".'
            )
        if match.group(1) not in accounts:
            raise ConfigError(
                f"{where} fis_role_arn={role!r} belongs to account {match.group(1)}, which is "
                f"not in allowed_accounts {list(accounts)}; use a role of an allowed account."
            )
    targets = table.get("targets", {})
    if not isinstance(targets, Mapping):
        raise ConfigError(f"[tool.chaoskit.env.{env}.targets] must be a table of targets.")
    return AwsSettings(
        region=region,
        allowed_accounts=accounts,
        profile=_optional_text(where, "profile", table.get("profile")),
        endpoint_url=_optional_url(where, "endpoint_url", table.get("endpoint_url")),
        fis_role_arn=role,
        stop_alarms=_texts(where, "stop_alarms", table.get("stop_alarms", []), "alarm names"),
        instance_faults="ec2" if instance_faults == "ec2" else "fis",
        targets={name: _target(env, name, settings) for name, settings in targets.items()},
    )


def _target(env: str, name: object, table: object) -> AwsTargetSettings:
    where = f"[tool.chaoskit.env.{env}.targets.{name}]"
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: a target's name is a non-empty string, such as web.")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table (resource_type, tags, max_count, ...).")
    _refuse_unknown(where, table, _TARGET_KEYS)
    resource_type = table.get("resource_type")
    if resource_type not in RESOURCE_TYPES:
        raise ConfigError(
            f"{where} resource_type={resource_type!r}: this version of chaoskit targets "
            f'EC2 instances; set resource_type = "aws:ec2:instance".'
        )
    tags = table.get("tags", {})
    if not isinstance(tags, Mapping) or not all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in tags.items()
    ):
        raise ConfigError(
            f"{where} tags={tags!r} must map tag keys to values, both strings, such as "
            f'tags = {{ app = "shop", tier = "web" }}.'
        )
    asg = _optional_text(where, "asg", table.get("asg"))
    zones = _texts(where, "availability_zones", table.get("availability_zones", []), "zone names")
    if not tags and asg is None and not zones:
        raise ConfigError(
            f"{where} selects no instances in particular; set tags, asg or availability_zones "
            f"(or several: they narrow each other) so that a fault cannot reach every "
            f"instance of the region."
        )
    max_count, max_percent = table.get("max_count"), table.get("max_percent")
    if max_count is None and max_percent is None:
        raise ConfigError(
            f"{where} has no blast radius; set max_count (the most instances one fault may "
            f"hit, e.g. max_count = 1) or max_percent (a share of the target, e.g. 50)."
        )
    if max_count is not None and (
        isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1
    ):
        raise ConfigError(
            f"{where} max_count={max_count!r} must be a whole number of instances, 1 or more."
        )
    if max_count is not None and max_count > MAX_COUNT:
        raise ConfigError(
            f"{where} max_count={max_count!r} is more than {MAX_COUNT}, the most instances one "
            f"fault may hit; a blast radius that large never limits anything, so pass the most "
            f"instances a fault of this target may really hit."
        )
    if max_percent is not None and (
        isinstance(max_percent, bool)
        or not isinstance(max_percent, int | float)
        or not math.isfinite(max_percent)
        or not 0 < max_percent <= 100
    ):
        raise ConfigError(
            f"{where} max_percent={max_percent!r} must be a share of the target's instances, "
            f"more than 0 and at most 100."
        )
    return AwsTargetSettings(
        name=name,
        resource_type=resource_type,
        tags=dict(tags),
        asg=asg,
        availability_zones=zones,
        max_count=max_count,
        max_percent=None if max_percent is None else float(max_percent),
        url=_optional_url(where, "url", table.get("url")),
    )


def _refuse_unknown(where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(str(key) for key in table if key not in known)
    if unknown:
        raise ConfigError(
            f"{where} has unknown setting(s) {', '.join(unknown)}; the settings are "
            f"{', '.join(known)}."
        )


def _accounts(where: str, value: object) -> tuple[str, ...]:
    if value is None:
        raise ConfigError(
            f'{where} has no allowed_accounts; set allowed_accounts = ["123456789012"], the '
            f"account ids chaoskit may touch (any other account stops the run)."
        )
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{where} allowed_accounts={value!r} must be a non-empty list of 12-digit account "
            f'ids, such as ["123456789012"].'
        )
    for account in value:
        if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
            hint = " (quote it: a number loses leading zeros)" if isinstance(account, int) else ""
            raise ConfigError(
                f"{where} allowed_accounts: {account!r} is not a 12-digit account id written "
                f'as a string{hint}; write "123456789012".'
            )
    return tuple(value)


def _optional_text(where: str, key: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} {key}={value!r} must be a non-empty string.")
    return value


def _optional_url(where: str, key: str, value: object) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    try:
        valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        if parts is not None:
            parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(
            f'{where} {key}={value!r} must be an http(s) URL, such as "http://127.0.0.1:5000".'
        )
    assert isinstance(value, str)
    return value


def _texts(where: str, key: str, value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() for item in value
    ):
        raise ConfigError(
            f"{where} {key}={value!r} must be a list of {what}, each a non-empty string."
        )
    return tuple(value)
