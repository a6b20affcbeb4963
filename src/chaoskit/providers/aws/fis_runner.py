"""Running an AWS FIS experiment for chaoskit, and undoing it.

``FisService`` is what an AWS environment holds to offer the ``RunsFis`` capability
(``chaoskit.typing``): given the environment's boto3 ``fis`` client and ``FisSettings`` it

- creates the experiment template: the environment's role (``fis_role_arn``) as ``roleArn``,
  its stop alarms added as ``aws:cloudwatch:alarm`` stop conditions, the tag
  ``chaoskit:run-id`` = the run id, the whole validated against the FIS model first;
- starts the experiment with the same tag and a client token (a retried start starts one
  experiment, not two);
- waits (bounded) through ``pending`` and ``initiating`` until it runs. ``failed`` is an
  InjectionError carrying FIS's reason; stopped before chaoskit stopped it (a stop alarm, or
  someone in the console) is ``Halted``.

During the hold, ``halt_reason`` says when FIS failed the experiment, or it was stopped or
cancelled without chaoskit asking; after the revert, it says so of what the revert found.
The returned ``FisExperimentRun`` reverts by stopping the experiment unless it has ended,
waiting until it has, and deleting the template chaoskit created; reverting again does
nothing. Whatever a killed run leaves behind, ``fis_recover.recover_run`` finds by its tag.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from chaoskit.clock import SystemClock
from chaoskit.errors import ChaoskitError, ConfigError, Halted, InjectionError, RevertError
from chaoskit.faults.fis_template import as_create_input, check_template
from chaoskit.providers.aws.fis_calls import (
    ENDED,
    RUN_ID_TAG,
    STARTING,
    FisCallError,
    WaitTimeout,
    call,
    fis_pages,
    look_at,
    reason_of,
    status_of,
    stop_until_ended,
    wait_for,
)
from chaoskit.typing import Clock
from chaoskit.vocabulary import FisStopCondition, FisTemplateBody, JsonObject

if TYPE_CHECKING:
    from mypy_boto3_fis import FISClient
    from mypy_boto3_fis.type_defs import CreateExperimentTemplateRequestTypeDef, ExperimentTypeDef

# Seconds between two GetExperiment calls while waiting: FIS moves in seconds, not
# milliseconds, and every call counts against the account's FIS request quota.
DEFAULT_POLL = 2.0
# How long reverting waits for a stopped experiment to end (FIS rolls some actions back).
DEFAULT_STOP_TIMEOUT = 300.0


@dataclass(frozen=True, kw_only=True)
class FisSettings:
    """What an AWS environment tells the runner: the role FIS assumes, the CloudWatch alarms
    (ARNs) that stop every experiment, the run's id, and the clock waits sleep on."""

    role_arn: str
    run_id: str
    stop_alarm_arns: tuple[str, ...] = ()
    clock: Clock = field(default_factory=SystemClock)
    poll: float = DEFAULT_POLL
    stop_timeout: float = DEFAULT_STOP_TIMEOUT


def prepare_template(template: FisTemplateBody, settings: FisSettings) -> FisTemplateBody:
    """``template`` as chaoskit creates it: the environment's role, the template's own alarm
    stop conditions plus the environment's (``none`` only when there are none), the run id
    tag; validated, so a generated template that FIS would refuse never leaves the process."""
    conditions: list[FisStopCondition] = [
        condition
        for condition in template.get("stopConditions") or ()
        if condition.get("source") != "none"
    ]
    for alarm in settings.stop_alarm_arns:
        condition: FisStopCondition = {"source": "aws:cloudwatch:alarm", "value": alarm}
        if condition not in conditions:
            conditions.append(condition)
    body: FisTemplateBody = {
        **template,
        "roleArn": settings.role_arn,
        "stopConditions": conditions or [{"source": "none"}],
        "tags": {**(template.get("tags") or {}), RUN_ID_TAG: settings.run_id},
    }
    body.pop("clientToken", None)  # each creation gets a token of its own
    return check_template(body, source=f"the template for run {settings.run_id}").body


@dataclass(frozen=True, kw_only=True)
class FisService:
    """The ``RunsFis`` capability over one boto3 ``fis`` client."""

    client: FISClient
    settings: FisSettings

    def fis_template(self, template_id: str) -> FisTemplateBody:
        """The existing template as CreateExperimentTemplate input, validated (read-only)."""
        try:
            found = call(self.client.get_experiment_template, id=template_id)
        except FisCallError as error:
            if error.code == "ResourceNotFoundException":
                raise ConfigError(
                    f"FIS template {template_id} does not exist in region "
                    f"{self.client.meta.region_name}; check the id with `aws fis "
                    f"list-experiment-templates`, or give the template's file instead."
                ) from error
            raise
        body = as_create_input(found["experimentTemplate"])
        return check_template(body, source=f"template {template_id}").body

    def run_fis(self, template: FisTemplateBody, *, timeout: float) -> FisExperimentRun:
        """Create, start and wait until running (see the module); the run to revert."""
        body = prepare_template(template, self.settings)
        # The role again, as the request's type has it required (prepare_template set it).
        request: CreateExperimentTemplateRequestTypeDef = {
            **body,
            "roleArn": self.settings.role_arn,
            "clientToken": uuid.uuid4().hex,
        }
        created = call(self.client.create_experiment_template, **request)
        template_id = created["experimentTemplate"]["id"]
        try:
            started = call(
                self.client.start_experiment,
                clientToken=uuid.uuid4().hex,
                experimentTemplateId=template_id,
                tags={RUN_ID_TAG: self.settings.run_id},
            )
        except FisCallError as error:
            if error.code:  # AWS answered: nothing started
                raise self._without_template(template_id, error) from error
            raise self._after_unanswered_start(template_id, error) from error
        run = FisExperimentRun(
            client=self.client,
            settings=self.settings,
            experiment_id=started["experiment"]["id"],
            template_id=template_id,
            last=started["experiment"],
        )
        run.wait_started(timeout)
        return run

    def _without_template(self, template_id: str, error: FisCallError) -> InjectionError:
        """The start was refused: delete the template, and say why it did not start (and
        that the template is left, if it could not be deleted)."""
        failed = f"FIS experiment from template {template_id} did not start: {error}"
        try:
            _delete_template(self.client, template_id)
        except FisCallError as cleanup:
            failed += (
                f" Its template {template_id} was not deleted ({cleanup}); delete it with "
                f"`aws fis delete-experiment-template --id {template_id}`."
            )
        return InjectionError(failed)

    def _after_unanswered_start(self, template_id: str, error: FisCallError) -> ChaoskitError:
        """StartExperiment got no answer (a timeout, a lost connection): it may have started.
        Stop whatever experiments the template has, delete it, and say the fault was not
        injected; RevertError (the intent stays open) when that cannot be found out."""
        try:
            found = [
                summary
                for page in fis_pages(
                    self.client.list_experiments, experimentTemplateId=template_id
                )
                for summary in page.get("experiments") or ()
            ]
            for summary in found:
                stop_until_ended(
                    self.client,
                    str(summary["id"]),
                    seen=summary,
                    clock=self.settings.clock,
                    timeout=self.settings.stop_timeout,
                    poll=self.settings.poll,
                )
            _delete_template(self.client, template_id)
        except (FisCallError, WaitTimeout) as cleanup:
            return RevertError(
                f"FIS StartExperiment for template {template_id} got no answer ({error}), and "
                f"looking for what it started failed ({cleanup}): an experiment of template "
                f"{template_id} may be running. Look with `aws fis list-experiments "
                f"--experiment-template-id {template_id}` and stop it, or run `chaoskit "
                f"recover`."
            )
        ids = ", ".join(str(summary["id"]) for summary in found)
        return InjectionError(
            f"FIS experiment from template {template_id} did not start: StartExperiment got no "
            f"answer ({error}); "
            + (
                f"it had started {ids}, which {'was' if len(found) == 1 else 'were'} stopped"
                if found
                else "no experiment of it had started"
            )
            + f", and template {template_id} was deleted."
        )


@dataclass(kw_only=True)
class FisExperimentRun:
    """One experiment chaoskit started; implements ``chaoskit.typing.FisRun``."""

    client: FISClient
    settings: FisSettings
    experiment_id: str
    template_id: str
    last: ExperimentTypeDef  # the experiment as GetExperiment last returned it
    _stop_requested: bool = field(default=False, init=False)
    _reverted: bool = field(default=False, init=False)

    @property
    def undo(self) -> JsonObject:
        return {
            "op": "stop_fis_experiment",
            "experiment_id": self.experiment_id,
            "template_id": self.template_id,
            "run_id": self.settings.run_id,
            "region": self.client.meta.region_name,
        }

    @property
    def details(self) -> JsonObject:
        actions = self.last.get("actions") or {}
        return {
            "experiment_id": self.experiment_id,
            "template_id": self.template_id,
            "state": status_of(self.last),
            "reason": reason_of(self.last),
            "actions": {
                name: str(action.get("state", {}).get("status", ""))
                for name, action in sorted(actions.items())
            },
        }

    def wait_started(self, timeout: float) -> None:
        """Wait until the experiment leaves pending and initiating; see the module for what
        each outcome raises. Whatever it raises, nothing of it is left running."""
        self._wait_until(lambda seen: status_of(seen) not in STARTING, timeout, "start")

    def wait_completed(self, timeout: float) -> None:
        """Wait until the experiment has ended, for one whose actions are over in a moment (a
        termination, a reboot): ``completed`` returns, anything else raises as a start that
        went wrong does. Whatever it raises, nothing of it is left running."""
        self._wait_until(lambda seen: status_of(seen) in ENDED, timeout, "complete")

    def _wait_until(
        self, done: Callable[[ExperimentTypeDef], bool], timeout: float, what: str
    ) -> None:
        try:
            self.last = wait_for(
                self._look,
                done,
                clock=self.settings.clock,
                timeout=timeout,
                poll=self.settings.poll,
            )
        except WaitTimeout as waited:
            self._cleanup_after(
                InjectionError(
                    f"FIS experiment {self.experiment_id} (template {self.template_id}) did "
                    f"not {what} within {timeout:g}s: still {status_of(waited.last)} "
                    f"({reason_of(waited.last)}). It was stopped; raise the timeout if "
                    f"target resolution takes longer in this account."
                )
            )
        except FisCallError as error:
            self._cleanup_after(InjectionError(f"FIS experiment {self.experiment_id}: {error}"))
        except BaseException as interrupted:
            # Ctrl-C or SIGTERM before the caller holds the run: nobody else could stop it.
            self._stop_interrupted(interrupted)
            raise
        if status_of(self.last) in ("running", "completed"):
            return
        self._raise_for_status()

    def _raise_for_status(self) -> NoReturn:
        status = status_of(self.last)
        what = f"FIS experiment {self.experiment_id} (template {self.template_id})"
        if status in ("stopping", "stopped"):
            self._cleanup_after(Halted(f"{what} was stopped before it ran: {reason_of(self.last)}"))
        self._cleanup_after(InjectionError(f"{what} {status}: {reason_of(self.last)}"))

    def halt_reason(self) -> str | None:
        """Why the experiment ended without chaoskit: FIS failed it (its reason), or it was
        stopped or cancelled by a stop condition or someone outside chaoskit; None while it
        runs or after chaoskit stopped it. Once reverted, what the revert found."""
        if not self._reverted:
            self.last = self._look()
        status = status_of(self.last)
        if status == "failed":
            return (
                f"FIS experiment {self.experiment_id} (template {self.template_id}) failed: "
                f"{reason_of(self.last)}"
            )
        if status in ("stopping", "stopped", "cancelled") and not self._stop_requested:
            return (
                f"FIS {'cancelled' if status == 'cancelled' else 'stopped'} experiment "
                f"{self.experiment_id} (a stop condition, or someone outside chaoskit): "
                f"{reason_of(self.last)}"
            )
        return None

    def revert(self) -> None:
        if self._reverted:
            return
        try:
            self._stop_and_wait()
            _delete_template(self.client, self.template_id)
        except (FisCallError, WaitTimeout) as error:
            raise RevertError(
                f"FIS experiment {self.experiment_id} (template {self.template_id}) may still "
                f"be running: {error}. Stop it with `aws fis stop-experiment --id "
                f"{self.experiment_id}`, or run `chaoskit recover`."
            ) from error
        self._reverted = True

    def _stop_and_wait(self) -> None:
        self.last = self._look()
        self.last, requested = stop_until_ended(
            self.client,
            self.experiment_id,
            seen=self.last,
            clock=self.settings.clock,
            timeout=self.settings.stop_timeout,
            poll=self.settings.poll,
        )
        self._stop_requested = self._stop_requested or requested

    def _stop_interrupted(self, interrupted: BaseException) -> None:
        """Stop the experiment (bounded by ``stop_timeout``) and delete its template while
        ``interrupted`` propagates; a failure is noted on it, so a Ctrl-C stays a Ctrl-C."""
        try:
            self.revert()
        except RevertError as failed:
            interrupted.add_note(f"chaoskit: {failed}")

    def _cleanup_after(self, error: InjectionError) -> NoReturn:
        """Leave nothing behind of an experiment that did not become a fault, then raise
        ``error``; RevertError instead when that fails (it may still start)."""
        try:
            self.revert()
        except RevertError as failed:
            raise RevertError(f"{error} Cleaning up failed as well: {failed}") from error
        raise error

    def _look(self) -> ExperimentTypeDef:
        return {**self.last, **look_at(self.client, self.experiment_id)}


def _delete_template(client: FISClient, template_id: str) -> None:
    try:
        call(client.delete_experiment_template, id=template_id)
    except FisCallError as error:
        if error.code != "ResourceNotFoundException":  # deleted already: what we wanted
            raise
