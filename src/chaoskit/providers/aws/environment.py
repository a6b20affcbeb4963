"""An AWS environment: an account and region reached through one boto3 session, its targets
EC2 instances selected by tags, Auto Scaling group and zones.

Opening it makes one AWS call, STS GetCallerIdentity, and refuses (EnvironmentRefused) when
the account is not in ``allowed_accounts``: nothing else is asked of AWS before that, in a
dry-run too. Everything after it is a Describe call until a fault is injected.

It runs FIS experiments (``chaoskit.typing.RunsFis``) through one ``FisService`` made from
its clients and settings (``fis_access.py``), and checks FIS faults when they are planned
(``PlansFis``): the role, the stop alarms, what a template's targets resolve to, and that
a template stays within the account, the region and its targets' blast radius
(``fis_reach.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chaoskit.clock import SystemClock
from chaoskit.config.aws import AwsSettings
from chaoskit.errors import ConfigError
from chaoskit.providers.aws.account import CallerIdentity, check_account
from chaoskit.providers.aws.calls import DEFAULT_POLICY, RetryPolicy
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_access import FisAccess
from chaoskit.providers.aws.fis_instance_actions import FisInstanceActions
from chaoskit.providers.aws.fis_reach import Reach
from chaoskit.providers.aws.fis_runner import FisExperimentRun
from chaoskit.providers.aws.fis_targets import resolve_targets
from chaoskit.providers.aws.instance_actions import (
    ActionContext,
    Ec2InstanceActions,
    InstanceActions,
)
from chaoskit.providers.aws.target import AwsTarget
from chaoskit.typing import Clock
from chaoskit.vocabulary import FisTemplateBody

if TYPE_CHECKING:
    import boto3

# How often waits (capacity back, instances stopped) ask AWS again.
DEFAULT_POLL = 5.0


class AwsEnvironment:
    """What a provider-specific fault (an FIS experiment, ...) may use besides ``target``:
    ``config`` (the checked settings: region, fis_role_arn, stop_alarms, ...), ``clients``
    (calls retried by ``calls.py``), ``identity`` (the account checked), ``run_id`` (tag what
    the run creates with it), ``clock`` and ``poll``."""

    def __init__(
        self,
        *,
        name: str,
        config: AwsSettings,
        run_id: str,
        clients: AwsClients,
        identity: CallerIdentity,
        clock: Clock,
        poll: float = DEFAULT_POLL,
    ) -> None:
        self.name = name
        self.config = config
        self.run_id = run_id
        self.clients = clients
        self.identity = identity
        self.clock = clock
        self.poll = poll
        self.fis = FisAccess(
            env=name,
            settings=config,
            run_id=run_id,
            clients=clients,
            clock=clock,
            account=identity.account,
        )
        context = ActionContext(
            env=name,
            run_id=run_id,
            settings=config,
            clients=clients,
            clock=clock,
            fis=self.fis,
            poll=poll,
        )
        # One keeper of FIS experiments per environment, for latency as for instance faults.
        fis_actions = FisInstanceActions(context=context)
        self.instance_actions: InstanceActions = (
            fis_actions if config.instance_faults == "fis" else Ec2InstanceActions(context=context)
        )
        self._targets = {
            target_name: AwsTarget(
                env=name,
                spec=spec,
                clients=clients,
                actions=self.instance_actions,
                fis=fis_actions,
                clock=clock,
                poll=poll,
            )
            for target_name, spec in config.targets.items()
        }

    @classmethod
    def open(
        cls,
        *,
        name: str,
        settings: AwsSettings,
        run_id: str,
        session: boto3.Session | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        poll: float = DEFAULT_POLL,
    ) -> AwsEnvironment:
        """Connect and check the account; ``session`` (a boto3 Session) replaces the one made
        from the settings' profile, e.g. to watch every call in a test."""
        clients = AwsClients(
            region=settings.region,
            profile=settings.profile,
            endpoint_url=settings.endpoint_url,
            session=session,
            policy=policy,
        )
        identity = check_account(clients, env=name, allowed=settings.allowed_accounts)
        return cls(
            name=name,
            config=settings,
            run_id=run_id,
            clients=clients,
            identity=identity,
            clock=clock or SystemClock(),
            poll=poll,
        )

    @property
    def settings(self) -> Mapping[str, object]:
        """What ``chaoskit recover`` reconnects with (``run_started`` records it): where, as
        which account; never credentials."""
        return {
            "region": self.config.region,
            "profile": self.config.profile,
            "endpoint_url": self.config.endpoint_url,
            "account": self.identity.account,
            "caller_arn": self.identity.arn,
            "allowed_accounts": list(self.config.allowed_accounts),
            "instance_faults": self.config.instance_faults,
            # Whether the run could start FIS experiments, which recover then looks for.
            "fis_role_arn": self.config.fis_role_arn,
        }

    def check_fis(self, fault: str) -> None:
        self.fis.check(fault)

    def fis_targets(self, template: FisTemplateBody) -> Mapping[str, tuple[str, ...]]:
        return resolve_targets(self.clients, template)

    def check_fis_reach(self, fault: str, template: FisTemplateBody) -> None:
        Reach(
            env=self.name,
            region=self.config.region,
            account=self.identity.account,
            allowed_accounts=self.config.allowed_accounts,
            clients=self.clients,
            targets=self._targets,
        ).check(fault, template)

    def fis_template(self, template_id: str) -> FisTemplateBody:
        return self.fis.service(f"FIS template {template_id}").fis_template(template_id)

    def run_fis(self, template: FisTemplateBody, *, timeout: float) -> FisExperimentRun:
        return self.fis.service("an FIS experiment").run_fis(template, timeout=timeout)

    def target(self, name: str) -> AwsTarget:
        if name not in self._targets:
            known = ", ".join(sorted(self._targets)) or "none"
            raise ConfigError(
                f"target {name!r} is not defined in environment {self.name!r}; known targets: "
                f"{known}. Define it as [tool.chaoskit.env.{self.name}.targets.{name}]."
            )
        return self._targets[name]

    def close(self) -> None:
        """Nothing to stop: the clients hold no processes and their connections close with
        the process."""
