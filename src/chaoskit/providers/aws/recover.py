"""Settling what a killed run left in an AWS account (``chaoskit recover``).

It reconnects with the settings the run recorded (region, profile, endpoint) and checks that
the credentials reach the same account before anything else. Then, per fault left open:

- a stop (its undo names the instances) is undone by starting again those of its instances
  that still carry the run's ``chaoskit:stopped-by-run`` tag;
- a fault whose undo never reached the journal is looked for the same way, by the tag, on
  its instances: a stop found is undone, and nothing else of ours can still be active;
- a termination or a reboot ends by itself (``wait_healthy``): nothing to undo;
- an FIS experiment (``stop_fis_experiment``) is stopped unless it has ended, waited for
  until it has, its template deleted, and the instances it stopped (``start_instances``)
  started again.

Then, for a run that could start FIS experiments (it recorded an FIS role, or its journal
names an experiment), every experiment tagged with the run's id that has not ended is
stopped and the run's templates are deleted (``fis_recover.recover_run``), whether or not
their ids reached the journal. Anything else (an undo of a kind this version does not know)
is left for a human.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chaoskit.clock import SystemClock
from chaoskit.config.aws import AwsSettings
from chaoskit.errors import ChaoskitError
from chaoskit.providers.aws.account import caller_identity
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_calls import FisCallError, WaitTimeout
from chaoskit.providers.aws.fis_recover import FisRecovery, settle_experiment, stop_tagged
from chaoskit.providers.aws.fis_recover import recover_run as recover_fis_run
from chaoskit.providers.aws.instance_actions import STOPPING_TIMEOUT
from chaoskit.providers.aws.stopping import start_again
from chaoskit.typing import Clock

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_fis import FISClient


@dataclass(frozen=True, kw_only=True)
class LeftOpen:
    """A fault intent no revert closed, with the undo its injection recorded (None: the run
    died before it was written)."""

    injection_id: str
    fault: str
    instance_ids: tuple[str, ...]
    undo: Mapping[str, object] | None


@dataclass(frozen=True, kw_only=True)
class Settlement:
    injection_id: str
    settled: bool  # False: a human must look
    note: str


def recover_run(
    *,
    run_id: str,
    env: str,
    settings: Mapping[str, object],
    left: Sequence[LeftOpen],
    session: boto3.Session | None = None,
    clock: Clock | None = None,
    poll: float = 5.0,
) -> list[Settlement]:
    """Settle ``left`` of the run ``run_id`` in the account ``settings`` recorded."""
    region, account = settings.get("region"), settings.get("account")
    if not isinstance(region, str) or not isinstance(account, str):
        return _all_for_a_human(
            left, "the journal does not record the run's AWS region and account"
        )
    profile, endpoint = settings.get("profile"), settings.get("endpoint_url")
    try:
        clients = AwsClients(
            region=region,
            profile=profile if isinstance(profile, str) else None,
            endpoint_url=endpoint if isinstance(endpoint, str) else None,
            session=session,
        )
        identity = caller_identity(clients)
    except ChaoskitError as error:
        return _all_for_a_human(left, f"could not reach AWS to check the account: {error}")
    if identity.account != account:
        return _all_for_a_human(
            left,
            f"the credentials in use reach account {identity.account} as {identity.arn}, but "
            f"the run of environment {env!r} changed account {account}; run chaoskit recover "
            f"with credentials of account {account}",
        )
    undoing = _Undoing(clients=clients, run_id=run_id, clock=clock or SystemClock(), poll=poll)
    settled = [undoing.settle(intent) for intent in left]
    if not settings.get("fis_role_arn") and not any(_is_fis(i.undo) for i in left):
        return settled  # the run could not start an FIS experiment
    swept = recover_fis_run(undoing.fis, run_id, clock=undoing.clock, poll=poll)
    # What the sweep found belongs to the intents that may be an FIS experiment: those
    # whose undo says so, and those whose undo never reached the journal.
    ours = [i.injection_id for i in left if i.undo is None or _is_fis(i.undo)] or [
        i.injection_id for i in left
    ]
    return [
        _with_sweep(settlement, swept.describe(), swept.settled)
        if settlement.injection_id in ours and (swept.stopped or not swept.settled)
        else settlement
        for settlement in settled
    ]


def _is_fis(undo: Mapping[str, object] | None) -> bool:
    return undo is not None and undo.get("op") == "stop_fis_experiment"


def _with_sweep(settlement: Settlement, swept: str, ok: bool) -> Settlement:
    return replace(
        settlement, settled=settlement.settled and ok, note=f"{settlement.note}; {swept}"
    )


@dataclass(frozen=True, kw_only=True)
class _Undoing:
    clients: AwsClients
    run_id: str
    clock: Clock
    poll: float

    @property
    def fis(self) -> FISClient:
        return self.clients.retrying_fis

    def settle(self, intent: LeftOpen) -> Settlement:
        undo = intent.undo
        op = None if undo is None else undo.get("op")
        if undo is not None and op == "stop_fis_experiment":
            return self._settle_fis(intent, undo)
        try:
            if undo is None or (
                op == "remove_fault" and str(undo.get("handle", "")).startswith("ec2-stop/")
            ):
                ids = _instance_ids(undo) or intent.instance_ids
                return self._start(intent, ids)
        except ChaoskitError as error:
            return Settlement(
                injection_id=intent.injection_id,
                settled=False,
                note=f"starting {', '.join(intent.instance_ids)} again failed: {error}",
            )
        if op == "wait_healthy":
            return Settlement(
                injection_id=intent.injection_id,
                settled=True,
                note="it ends by itself (terminated instances are replaced by their group, "
                "rebooted ones come back); nothing to undo",
            )
        return Settlement(
            injection_id=intent.injection_id,
            settled=False,
            note=f"this version cannot undo {dict(undo or {})!r}; revert it by hand",
        )

    def _settle_fis(self, intent: LeftOpen, undo: Mapping[str, object]) -> Settlement:
        experiment_id, template_id = undo.get("experiment_id"), undo.get("template_id")
        if not isinstance(experiment_id, str):
            return Settlement(
                injection_id=intent.injection_id,
                settled=False,
                note=f"the undo names no FIS experiment ({dict(undo)!r}); look for experiments "
                f"tagged chaoskit:run-id = {self.run_id} (aws fis list-experiments)",
            )
        try:
            note = settle_experiment(
                self.fis,
                experiment_id,
                template_id if isinstance(template_id, str) else None,
                clock=self.clock,
                poll=self.poll,
            )
            restarts = _instance_ids(undo, key="start_instances")
            if restarts:
                restarted = self._start(intent, restarts)
                note = f"{note}; {restarted.note}"
        except (ChaoskitError, FisCallError, WaitTimeout) as error:
            return Settlement(
                injection_id=intent.injection_id,
                settled=False,
                note=f"FIS experiment {experiment_id} may still be running: {error}; stop it "
                f"with `aws fis stop-experiment --id {experiment_id}`",
            )
        return Settlement(injection_id=intent.injection_id, settled=True, note=note)

    def _start(self, intent: LeftOpen, instance_ids: Sequence[str]) -> Settlement:
        restarted = start_again(
            self.clients,
            instance_ids,
            run_id=self.run_id,
            clock=self.clock,
            timeout=STOPPING_TIMEOUT,
            poll=self.poll,
        )
        return Settlement(injection_id=intent.injection_id, settled=True, note=restarted.describe())


def _instance_ids(
    undo: Mapping[str, object] | None, *, key: str = "instance_ids"
) -> tuple[str, ...]:
    ids = None if undo is None else undo.get(key)
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        return tuple(ids)
    return ()


def _all_for_a_human(left: Sequence[LeftOpen], why: str) -> list[Settlement]:
    return [
        Settlement(injection_id=intent.injection_id, settled=False, note=why) for intent in left
    ]


def stop_fis_experiments(
    settings: AwsSettings, *, session: boto3.Session | None = None
) -> FisRecovery:
    """The emergency stop in one AWS environment: every running FIS experiment carrying
    chaoskit's run tag, whichever run started it, is stopped (``fis_recover.stop_tagged``)."""
    try:
        clients = AwsClients(
            region=settings.region,
            profile=settings.profile,
            endpoint_url=settings.endpoint_url,
            session=session,
        )
        return stop_tagged(clients.fis)
    except ChaoskitError as error:
        return FisRecovery(run_id="*", problems=(f"could not reach AWS: {error}",))
