"""An AWS environment's way to FIS: the runner (``FisService``) made from the environment's
clients and settings, once, and checked when the first FIS fault is planned.

Checking needs read-only calls only, so a dry-run checks too: the environment must name the
role FIS assumes (``fis_role_arn``), and every alarm of ``stop_alarms`` must exist in the
region (CloudWatch DescribeAlarms turns the names into the ARNs FIS takes as stop
conditions). Either failing is a ConfigError before anything is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaoskit.config.aws import AwsSettings
from chaoskit.errors import ConfigError
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_runner import FisService, FisSettings
from chaoskit.typing import Clock

# DescribeAlarms takes at most 100 names per request.
_ALARMS_PER_CALL = 100


@dataclass(kw_only=True)
class FisAccess:
    env: str
    settings: AwsSettings
    run_id: str
    clients: AwsClients
    clock: Clock
    account: str  # the account checked when the environment opened, for examples in errors
    _service: FisService | None = field(default=None, init=False)

    def check(self, fault: str) -> None:
        """ConfigError naming ``fault`` and the setting when FIS cannot run here as set up."""
        self.service(fault)

    def service(self, fault: str) -> FisService:
        """The runner, made on first use (read-only calls only)."""
        if self._service is None:
            role = self.settings.fis_role_arn
            if role is None:
                raise ConfigError(
                    f"{fault} runs as an AWS FIS experiment, and environment {self.env!r} has "
                    f"no fis_role_arn (the IAM role FIS assumes to act); set fis_role_arn = "
                    f'"arn:aws:iam::{self.account}:role/chaoskit-fis" in '
                    f"[tool.chaoskit.env.{self.env}] (docs/aws.md lists the role's policy)"
                    + (
                        ', or instance_faults = "ec2" for instance faults through direct EC2 calls.'
                        if self.settings.instance_faults == "fis"
                        else "."
                    )
                )
            self._service = FisService(
                client=self.clients.retrying_fis,
                settings=FisSettings(
                    role_arn=role,
                    run_id=self.run_id,
                    stop_alarm_arns=self._alarm_arns(),
                    clock=self.clock,
                ),
            )
        return self._service

    def _alarm_arns(self) -> tuple[str, ...]:
        names = list(dict.fromkeys(self.settings.stop_alarms))
        found: dict[str, str] = {}
        for start in range(0, len(names), _ALARMS_PER_CALL):
            for page in self.clients.pages(
                self.clients.cloudwatch.describe_alarms,
                AlarmNames=names[start : start + _ALARMS_PER_CALL],
                AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            ):
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    found[alarm["AlarmName"]] = alarm["AlarmArn"]
        missing = [name for name in names if name not in found]
        if missing:
            raise ConfigError(
                f"[tool.chaoskit.env.{self.env}] stop_alarms: no CloudWatch alarm named "
                f"{', '.join(repr(name) for name in missing)} in region "
                f"{self.settings.region} (account {self.account}); FIS could not watch it. "
                f"Create the alarm, or correct or remove the name."
            )
        return tuple(found[name] for name in names)
