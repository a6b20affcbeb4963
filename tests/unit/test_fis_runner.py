"""The FIS runner where moto is silent, against botocore's Stubber (which checks every request
against the FIS model): an experiment that fails with FIS's reason, one a stop alarm ends
before or during the hold, one that never starts, what exactly is sent, the permission an
AccessDenied names, and recovery over several pages.

moto never reaches ``failed`` and never evaluates a stop condition, so those states are
answered here as AWS documents them. The reasons are FIS's free text: chaoskit tells a halt
from its own stop by whether it asked for the stop, never by the wording.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import NoCredentialsError, ReadTimeoutError
from botocore.stub import ANY, Stubber
from tests.fis_support import ACCOUNT, REGION, ROLE, FisOnlyEnvironment

from chaoskit import faults, slo
from chaoskit.errors import ConfigError, Halted, InjectionError, RevertError
from chaoskit.experiment import Experiment, ExperimentSettings, JournalWriter
from chaoskit.faults.fis_builders import latency_template
from chaoskit.providers.aws.fis_calls import FisCallError
from chaoskit.providers.aws.fis_recover import recover_run
from chaoskit.providers.aws.fis_runner import FisService, FisSettings
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver

ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:web-5xx"
INSTANCE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:checkout"
TEMPLATE = {
    "description": "wait a while",
    "roleArn": f"arn:aws:iam::{ACCOUNT}:role/from-the-file",
    "stopConditions": [{"source": "none"}],
    "actions": {"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT5M"}}},
}


@pytest.fixture
def fis() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "fis", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def env_over(client: Any, clock: FakeClock | None = None) -> FisOnlyEnvironment:
    settings = FisSettings(
        role_arn=ROLE,
        run_id="run-7",
        stop_alarm_arns=(ALARM,),
        clock=clock or FakeClock(),
        stop_timeout=30,
    )
    return FisOnlyEnvironment(name="staging", fis=FisService(client=client, settings=settings))


def experiment(status: str, reason: str = "", **actions: str) -> dict[str, Any]:
    state = {"status": status, **({"reason": reason} if reason else {})}
    return {
        "experiment": {
            "id": "EXP1",
            "experimentTemplateId": "EXT1",
            "state": state,
            "actions": {
                name: {"actionId": "aws:fis:wait", "state": {"status": s}}
                for name, s in actions.items()
            },
        }
    }


def started(stubber: Stubber, *, create_params: dict[str, Any] | None = None) -> None:
    stubber.add_response(
        "create_experiment_template", {"experimentTemplate": {"id": "EXT1"}}, create_params
    )
    stubber.add_response(
        "start_experiment",
        experiment("pending"),
        {"clientToken": ANY, "experimentTemplateId": "EXT1", "tags": {"chaoskit:run-id": "run-7"}},
    )


def looks(stubber: Stubber, *states: dict[str, Any]) -> None:
    for state in states:
        stubber.add_response("get_experiment", state, {"id": "EXP1"})


def deleted(stubber: Stubber) -> None:
    stubber.add_response(
        "delete_experiment_template", {"experimentTemplate": {"id": "EXT1"}}, {"id": "EXT1"}
    )


def inject(client: Any, fault: Any, clock: FakeClock | None = None) -> Any:
    env = env_over(client, clock)
    return fault.inject(fault.plan(env, random.Random(1)), env)


def test_the_template_is_sent_with_the_environments_role_alarms_and_run_tag(fis: Any) -> None:
    client, stubber = fis
    started(
        stubber,
        create_params={
            "clientToken": ANY,
            "description": "wait a while",
            "roleArn": ROLE,
            "stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM}],
            "actions": TEMPLATE["actions"],
            "tags": {"chaoskit:run-id": "run-7"},
        },
    )
    looks(stubber, experiment("running", wait="running"))
    injection = inject(client, faults.FisExperiment(template=TEMPLATE))
    assert injection.undo == {
        "op": "stop_fis_experiment",
        "experiment_id": "EXP1",
        "template_id": "EXT1",
        "run_id": "run-7",
        "region": REGION,
    }
    assert injection.details["actions"] == {"wait": "running"}


def test_a_generated_latency_experiment_sends_the_fis_document_and_its_parameters(fis: Any) -> None:
    client, stubber = fis
    body = latency_template([INSTANCE], description="latency", delay=0.2, duration=30)
    action = body["actions"]["chaoskit-action"]
    started(
        stubber,
        create_params={
            "clientToken": ANY,
            "description": "latency",
            "roleArn": ROLE,
            "stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM}],
            "targets": body["targets"],
            "actions": {"chaoskit-action": {**action, "actionId": "aws:ssm:send-command"}},
            "tags": {"chaoskit:run-id": "run-7"},
        },
    )
    looks(stubber, experiment("running"))
    env_over(client).run_fis(body, timeout=30)
    assert action["parameters"]["documentArn"] == (
        f"arn:aws:ssm:{REGION}::document/AWSFIS-Run-Network-Latency"
    )
    assert json.loads(action["parameters"]["documentParameters"])["DurationSeconds"] == "30"


def test_a_failed_experiment_is_not_injected_and_says_fis_reason(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    reason = "Target resolution failed: no resources for target Instances-Target-1"
    looks(stubber, experiment("initiating"), experiment("failed", reason))
    looks(stubber, experiment("failed", reason))  # cleaning up: it has ended, nothing to stop
    deleted(stubber)
    with pytest.raises(InjectionError) as failed:
        inject(client, faults.FisExperiment(template=TEMPLATE))
    assert not isinstance(failed.value, Halted)
    assert f"FIS experiment EXP1 (template EXT1) failed: {reason}" in str(failed.value)


def test_a_stop_alarm_before_it_runs_halts_the_experiment(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("stopping", "Stop condition met"))
    looks(stubber, experiment("stopped", "Stop condition met"))  # cleaning up: waits it out
    deleted(stubber)
    with pytest.raises(Halted, match=r"EXP1 \(template EXT1\) was stopped before it ran: Stop"):
        inject(client, faults.FisExperiment(template=TEMPLATE))


def test_a_stop_alarm_during_the_hold_is_a_halt_and_reverting_only_cleans_up(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("running"), experiment("running"))
    looks(stubber, experiment("stopping", "Experiment stopped by stop condition"))
    looks(stubber, experiment("stopped", "Experiment stopped by stop condition", wait="stopped"))
    deleted(stubber)  # and no StopExperiment: the Stubber refuses any call not queued
    injection = inject(client, faults.FisExperiment(template=TEMPLATE))
    assert injection.halt_reason() is None
    assert injection.halt_reason() == (
        "FIS stopped experiment EXP1 (a stop condition, or someone outside chaoskit): "
        "Experiment stopped by stop condition"
    )
    injection.revert()
    assert injection.details["state"] == "stopped"
    assert injection.details["actions"] == {"wait": "stopped"}


def lifecycle(client: Any, tmp_path: Path) -> Experiment:
    clock = FakeClock()
    return Experiment(
        settings=ExperimentSettings(
            name="fis", objectives=(slo.error_rate(below="1%"),), baseline=5.0, recovery=6.0
        ),
        env=env_over(client, clock),
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(1),
    )


SSM_FAILED = "Action chaoskit-action failed: the SSM command failed on i-0123456789abcdef0"


def test_an_experiment_fis_fails_during_the_hold_fails_the_experiment_with_fis_reason(
    fis: Any, tmp_path: Path
) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("running"))  # started
    looks(stubber, experiment("running"))  # the hold's look at 2 s
    looks(stubber, experiment("failed", SSM_FAILED))  # at 4 s: the hold ends at once
    looks(stubber, experiment("failed", SSM_FAILED))  # reverting: it has ended, no stop
    deleted(stubber)
    chaos = lifecycle(client, tmp_path)
    result = chaos.run(lambda c: c.inject(faults.FisExperiment(template=TEMPLATE), hold="20s"))
    assert result.outcome == "failed" and result.cause == "halted"
    assert "FIS experiment EXP1 (template EXT1) failed: " + SSM_FAILED in result.reason
    [fault] = [phase for phase in result.phases if phase.kind == "fault"]
    assert fault.end - fault.start < 20
    assert result.injections[0].status == "reverted"
    assert result.injections[0].details["state"] == "failed"


def test_an_experiment_fis_failed_after_the_last_look_fails_the_experiment_at_revert(
    fis: Any, tmp_path: Path
) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("running"), experiment("running"))  # started; the look at 2 s
    looks(stubber, experiment("failed", SSM_FAILED))  # reverting finds it failed
    deleted(stubber)
    chaos = lifecycle(client, tmp_path)
    result = chaos.run(lambda c: c.inject(faults.FisExperiment(template=TEMPLATE), hold="3s"))
    assert result.outcome == "failed" and result.cause == "halted"
    assert SSM_FAILED in result.reason
    assert result.injections[0].status == "reverted"  # nothing is left active


def test_an_experiment_cancelled_outside_chaoskit_halts_the_hold(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("running"), experiment("cancelled", "Cancelled by an operator"))
    injection = inject(client, faults.FisExperiment(template=TEMPLATE))
    assert "Cancelled by an operator" in (injection.halt_reason() or "")


def test_an_experiment_that_never_starts_is_stopped_within_the_timeout(fis: Any) -> None:
    client, stubber = fis
    clock = FakeClock()
    started(stubber)
    # Looks at 0, 2, 4, 6, 8 and 10 s with the default 2 s between them; 10 s is the deadline.
    looks(stubber, *[experiment("initiating", "Resolving targets")] * 6)
    looks(stubber, experiment("initiating"))
    stubber.add_response("stop_experiment", experiment("stopping"), {"id": "EXP1"})
    looks(stubber, experiment("stopped"))
    deleted(stubber)
    with pytest.raises(InjectionError, match=r"did not start within 10s: still initiating"):
        inject(client, faults.FisExperiment(template=TEMPLATE, timeout=10), clock)
    assert clock.now() - FakeClock().now() <= 10 + 2


class InterruptedOnce(FakeClock):
    """Ctrl-C (or SIGTERM, which chaoskit raises as KeyboardInterrupt) during the first sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def sleep(self, seconds: float) -> None:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        super().sleep(seconds)


def test_a_ctrl_c_while_the_experiment_starts_stops_it_and_deletes_its_template(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("initiating"))  # then the wait sleeps: Ctrl-C
    looks(stubber, experiment("initiating"))
    stubber.add_response("stop_experiment", experiment("stopping"), {"id": "EXP1"})
    looks(stubber, experiment("stopped"))
    deleted(stubber)
    with pytest.raises(KeyboardInterrupt):
        env_over(client, InterruptedOnce()).run_fis(TEMPLATE, timeout=60)
    # The fixture checks that every queued call was made: stopped, waited for, deleted.


def test_a_ctrl_c_whose_clean_up_fails_stays_a_ctrl_c_saying_what_may_run(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("initiating"), experiment("initiating"))
    stubber.add_client_error("stop_experiment", service_error_code="AccessDeniedException")
    with pytest.raises(KeyboardInterrupt) as caught:
        env_over(client, InterruptedOnce()).run_fis(TEMPLATE, timeout=60)
    [note] = caught.value.__notes__
    assert "FIS experiment EXP1 (template EXT1) may still be running" in note
    assert "aws fis stop-experiment --id EXP1" in note


class StartTimesOut:
    """The FIS client, except that StartExperiment gets no answer (a read timeout): whether
    the experiment started is unknown. The Stubber answers everything else."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_experiment(self, **params: Any) -> Any:
        raise ReadTimeoutError(endpoint_url=f"https://fis.{REGION}.amazonaws.com/experiments")


def created(stubber: Stubber) -> None:
    stubber.add_response("create_experiment_template", {"experimentTemplate": {"id": "EXT1"}})


def test_a_start_without_an_answer_stops_what_it_started_before_saying_not_injected(
    fis: Any,
) -> None:
    client, stubber = fis
    created(stubber)
    stubber.add_response(
        "list_experiments",
        {"experiments": [{"id": "EXP1", "state": {"status": "running"}}]},
        {"experimentTemplateId": "EXT1"},
    )
    stubber.add_response("stop_experiment", experiment("stopping"), {"id": "EXP1"})
    looks(stubber, experiment("stopped"))
    deleted(stubber)
    with pytest.raises(InjectionError) as failed:
        env_over(StartTimesOut(client)).run_fis(TEMPLATE, timeout=60)
    assert not isinstance(failed.value, RevertError)
    message = str(failed.value)
    assert "StartExperiment got no answer" in message and "Read timeout" in message
    assert "it had started EXP1, which was stopped" in message


def test_a_start_without_an_answer_that_cannot_be_looked_into_keeps_the_fault_open(
    fis: Any,
) -> None:
    client, stubber = fis
    created(stubber)
    stubber.add_client_error("list_experiments", service_error_code="AccessDeniedException")
    with pytest.raises(RevertError) as failed:
        env_over(StartTimesOut(client)).run_fis(TEMPLATE, timeout=60)
    message = str(failed.value)
    assert "an experiment of template EXT1 may be running" in message
    assert "aws fis list-experiments --experiment-template-id EXT1" in message
    assert "chaoskit recover" in message
    assert isinstance(failed.value.__cause__, FisCallError)
    assert "Read timeout" in str(failed.value.__cause__)


def test_a_refused_start_whose_template_cannot_be_deleted_still_says_why_it_did_not_start(
    fis: Any,
) -> None:
    client, stubber = fis
    created(stubber)
    stubber.add_client_error(
        "start_experiment",
        service_error_code="ServiceQuotaExceededException",
        service_message="Too many running experiments",
    )
    stubber.add_client_error(
        "delete_experiment_template", service_error_code="AccessDeniedException"
    )
    with pytest.raises(InjectionError) as failed:
        env_over(client).run_fis(TEMPLATE, timeout=60)
    message = str(failed.value)
    assert "did not start: FIS StartExperiment failed: ServiceQuotaExceededException" in message
    assert "template EXT1 was not deleted" in message
    assert "Grant fis:DeleteExperimentTemplate" in message


class CredentialsExpire:
    """The FIS client, except that GetExperiment finds no credentials (they expired, or the
    profile went away): a failure no retry can mend."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_experiment(self, **params: Any) -> Any:
        raise NoCredentialsError()


def test_a_failure_no_retry_can_mend_is_not_waited_on_until_the_deadline(fis: Any) -> None:
    client, stubber = fis
    clock = FakeClock()
    started(stubber)
    with pytest.raises(RevertError) as failed:  # it cannot be looked at, nor stopped
        env_over(CredentialsExpire(client), clock).run_fis(TEMPLATE, timeout=120)
    assert "Unable to locate credentials" in str(failed.value)
    assert clock.sleeps == []  # not looked at again and again for 120 s


def test_access_denied_names_the_permission_to_grant(fis: Any) -> None:
    client, stubber = fis
    stubber.add_client_error(
        "create_experiment_template",
        service_error_code="AccessDeniedException",
        service_message="not authorized",
        http_status_code=403,
    )
    with pytest.raises(InjectionError, match=r"Grant fis:CreateExperimentTemplate"):
        inject(client, faults.LambdaDelay(functions=FUNCTION, delay="1s"))


def test_a_revert_that_cannot_stop_says_what_may_still_run_and_how_to_stop_it(fis: Any) -> None:
    client, stubber = fis
    started(stubber)
    looks(stubber, experiment("running"), experiment("running"))
    stubber.add_client_error("stop_experiment", service_error_code="AccessDeniedException")
    injection = inject(client, faults.FisExperiment(template=TEMPLATE))
    with pytest.raises(RevertError) as failed:
        injection.revert()
    assert "FIS experiment EXP1 (template EXT1) may still be running" in str(failed.value)
    assert "aws fis stop-experiment --id EXP1" in str(failed.value)
    assert "Grant fis:StopExperiment" in str(failed.value)


def test_access_denied_names_the_permission_aws_says_is_missing(fis: Any) -> None:
    client, stubber = fis
    stubber.add_client_error(
        "create_experiment_template",
        service_error_code="AccessDeniedException",
        service_message=(
            "User: arn:aws:sts::123456789012:assumed-role/runner/ci is not authorized to "
            f"perform: iam:PassRole on resource: {ROLE}"
        ),
        http_status_code=403,
    )
    with pytest.raises(InjectionError) as refused:
        inject(client, faults.LambdaDelay(functions=FUNCTION, delay="1s"))
    assert "Grant iam:PassRole to the identity chaoskit runs as" in str(refused.value)
    assert "fis:CreateExperimentTemplate" not in str(refused.value)


class FakeOnlyTargetsEnvironment:
    """Neither runs FIS nor rehearses it: targets by name, nothing more."""

    name = "plain"

    def target(self, name: str) -> Any:
        return FakeEnvironment().target(name)

    def close(self) -> None:
        pass


def test_a_provider_without_fis_is_refused_naming_the_fault_and_the_provider() -> None:
    # The fakes (like the local system) rehearse FIS templates, but not the API faults.
    for fault, env, provider in (
        (faults.FisExperiment(template=TEMPLATE), FakeOnlyTargetsEnvironment(), "fakeonlytargets"),
        (faults.ApiThrottle(roles=ROLE, operations="RunInstances"), FakeEnvironment(), "fake"),
    ):
        with pytest.raises(ConfigError) as refused:
            fault.plan(env, random.Random(1))
        assert fault.describe() in str(refused.value)
        assert f"provider {provider!r}" in str(refused.value)
        assert 'provider = "aws"' in str(refused.value)


def test_recovery_reads_every_page_and_touches_only_the_runs_own(fis: Any) -> None:
    client, stubber = fis

    def summary(experiment_id: str, status: str, run: str) -> dict[str, Any]:
        return {"id": experiment_id, "state": {"status": status}, "tags": {"chaoskit:run-id": run}}

    stubber.add_response(
        "list_experiments",
        {
            "experiments": [
                summary("EXPa", "running", "run-7"),
                summary("EXPb", "running", "run-8"),
            ],
            "nextToken": "page-2",
        },
        {},
    )
    stubber.add_response(
        "list_experiments",
        {
            "experiments": [
                summary("EXPc", "completed", "run-7"),
                summary("EXPd", "stopping", "run-7"),
            ]
        },
        {"nextToken": "page-2"},
    )
    stubber.add_response("stop_experiment", {"experiment": {"id": "EXPa"}}, {"id": "EXPa"})
    stubber.add_response(
        "get_experiment",
        {"experiment": {"id": "EXPa", "state": {"status": "stopped"}}},
        {"id": "EXPa"},
    )
    stubber.add_response(  # already stopping: waited for, not stopped again
        "get_experiment",
        {"experiment": {"id": "EXPd", "state": {"status": "stopped"}}},
        {"id": "EXPd"},
    )
    stubber.add_response(
        "list_experiment_templates",
        {
            "experimentTemplates": [
                {"id": "EXT7", "tags": {"chaoskit:run-id": "run-7"}},
                {"id": "EXT8", "tags": {"chaoskit:run-id": "run-8"}},
            ]
        },
        {},
    )
    stubber.add_response("delete_experiment_template", {"experimentTemplate": {}}, {"id": "EXT7"})
    recovered = recover_run(client, "run-7", clock=FakeClock())
    assert (recovered.stopped, recovered.deleted_templates, recovered.settled) == (
        ("EXPa", "EXPd"),
        ("EXT7",),
        True,
    )
