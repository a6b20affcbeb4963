"""An AWS environment running FIS experiments, against moto in-process: the role and the stop
alarms checked when an FIS fault is planned, instance faults and latency through generated
experiments, dry-runs of a template that only read, and recovering a killed run's experiments.

Where moto differs from AWS (each test that relies on it says so): its FIS never injects
anything (a terminate experiment terminates nothing, SSM runs no command), never evaluates
stop conditions, moves an experiment one state per GetExperiment, and keeps its transition
settings for the whole process (the fixture resets them). Failures moto never produces are
played with botocore's Stubber on the FIS client, moto answering the rest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from tests import aws_fleet
from tests.fis_library import library

from chaoskit import faults
from chaoskit.errors import ConfigError, InjectionError
from chaoskit.experiment.dry_run import DryRun
from chaoskit.experiment.lifecycle import ExperimentSettings
from chaoskit.providers.aws.calls import RetryPolicy
from chaoskit.providers.aws.environment import AwsEnvironment
from chaoskit.providers.aws.recover import LeftOpen, recover_run
from chaoskit.providers.aws.stopping import STOPPED_BY
from chaoskit.slo import error_rate
from chaoskit.testing import FakeClock

ROLE = f"arn:aws:iam::{aws_fleet.MOTO_ACCOUNT}:role/chaoskit-fis"
READ_ONLY = ("Describe", "List", "Get")
INSTANCE = "aws:ec2:instance"
WAIT = {
    "description": "wait a minute",
    "roleArn": ROLE,
    "stopConditions": [{"source": "none"}],
    "actions": {"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}},
}


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto.moto_api import state_manager

    for key, value in aws_fleet.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    # moto's FIS transitions are global to the process and outlive mock_aws.
    state_manager.unset_transition("fis::experiment")
    try:
        with mock_aws():
            aws_fleet.seed()
            yield
    finally:
        state_manager.unset_transition("fis::experiment")


def hold_each_state(gets: int) -> None:
    """moto: keep an experiment in each state for ``gets`` GetExperiment calls, so that one
    is still running when reverted (AWS keeps it running for its action's duration)."""
    from moto.moto_api import state_manager

    state_manager.set_transition(
        model_name="fis::experiment", transition={"progression": "manual", "times": gets}
    )


class Recorder:
    """Every operation the environment's clients make, and the FIS templates they create."""

    def __init__(self) -> None:
        self.session = boto3.Session(region_name=aws_fleet.REGION)
        self.operations: list[str] = []
        self.templates: list[dict[str, Any]] = []
        self.session.events.register("before-call.*.*", self._record)
        self.session.events.register(
            "provide-client-params.fis.CreateExperimentTemplate", self._template
        )

    def _record(self, model: Any, **kwargs: Any) -> None:
        self.operations.append(model.name)

    def _template(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.templates.append(json.loads(json.dumps(params)))

    def writes(self) -> list[str]:
        return [op for op in self.operations if not op.startswith(READ_ONLY)]


def alarm(name: str = "web-5xx") -> str:
    cloudwatch = aws_fleet.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="5xx",
        Namespace="shop",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"])


def open_env(
    recorder: Recorder | None = None, policy: RetryPolicy | None = None, **overrides: Any
) -> AwsEnvironment:
    table: dict[str, Any] = {"instance_faults": "fis", "fis_role_arn": ROLE, **overrides}
    return AwsEnvironment.open(
        name="staging",
        settings=aws_fleet.settings(**{k: v for k, v in table.items() if v is not None}),
        run_id="run-1",
        session=None if recorder is None else recorder.session,
        clock=FakeClock(),
        **({} if policy is None else {"policy": policy}),
    )


def experiments() -> dict[str, str]:
    """Every experiment's status by id (ListExperiments: moto moves none of them on)."""
    listed = aws_fleet.client("fis").list_experiments()["experiments"]
    return {e["id"]: e["state"]["status"] for e in listed}


def templates() -> list[str]:
    return [
        t["id"] for t in aws_fleet.client("fis").list_experiment_templates()["experimentTemplates"]
    ]


def arn(instance_id: str) -> str:
    return f"arn:aws:ec2:{aws_fleet.REGION}:{aws_fleet.MOTO_ACCOUNT}:instance/{instance_id}"


def test_an_fis_fault_without_a_role_is_refused_when_planned_naming_setting_and_environment(
    moto: None,
) -> None:
    recorder = Recorder()
    env = open_env(recorder, fis_role_arn=None)
    for fault in (
        faults.StopInstances(target="web"),
        faults.Latency(target="web", delay="200ms"),
        faults.FisExperiment(template=WAIT),
    ):
        with pytest.raises(ConfigError) as refused:
            fault.plan(env, random.Random(0))
        message = str(refused.value)
        assert "environment 'staging' has no fis_role_arn" in message
        assert 'set fis_role_arn = "arn:aws:iam::123456789012:role/chaoskit-fis"' in message
        assert "[tool.chaoskit.env.staging]" in message
    assert 'or instance_faults = "ec2"' in message  # the other way for instance faults
    assert recorder.writes() == []


def test_an_unknown_stop_alarm_is_refused_before_anything_is_created(moto: None) -> None:
    alarm("web-5xx")
    recorder = Recorder()
    env = open_env(recorder, stop_alarms=["web-5xx", "web-latncy"])
    with pytest.raises(ConfigError) as refused:
        faults.TerminateInstances(target="web").plan(env, random.Random(0))
    assert str(refused.value) == (
        "[tool.chaoskit.env.staging] stop_alarms: no CloudWatch alarm named 'web-latncy' in "
        "region eu-west-1 (account 123456789012); FIS could not watch it. Create the alarm, or "
        "correct or remove the name."
    )
    assert "DescribeAlarms" in recorder.operations
    assert recorder.writes() == []
    assert templates() == []


def test_terminating_runs_one_experiment_on_the_chosen_instance_and_waits_for_it(
    moto: None,
) -> None:
    alarm_arn = alarm()
    recorder = Recorder()
    env = open_env(recorder, stop_alarms=["web-5xx"])
    fault = faults.TerminateInstances(target="web")
    plan = replace(fault.plan(env, random.Random(0)), hold=20.0)
    [victim] = plan.instance_ids
    injection = fault.inject(plan, env)

    [template] = recorder.templates
    assert template["roleArn"] == ROLE
    assert template["stopConditions"] == [{"source": "aws:cloudwatch:alarm", "value": alarm_arn}]
    assert template["tags"] == {"chaoskit:run-id": "run-1"}
    [target] = template["targets"].values()
    assert target == {
        "resourceType": "aws:ec2:instance",
        "resourceArns": [arn(victim)],
        "selectionMode": "ALL",
    }
    [action] = template["actions"].values()
    assert action["actionId"] == "aws:ec2:terminate-instances"
    assert action["description"] == "chaoskit: TerminateInstances 1 of web"
    # Waited on until it completed (moto: one state per look), then its template deleted.
    undo = injection.undo
    assert undo["op"] == "stop_fis_experiment" and undo["target"] == "web"
    assert experiments() == {undo["experiment_id"]: "completed"}
    assert templates() == []
    # moto's FIS terminates nothing: the instance is still running, so capacity is whole.
    assert aws_fleet.states()[victim] == "running"
    injection.revert()
    details = injection.details
    assert details["experiment_id"] == undo["experiment_id"]
    assert details["template_id"] == undo["template_id"]
    assert details["state"] == "completed"
    assert "time_to_self_heal" not in details  # capacity was never short on moto
    assert "TerminateInstances" not in recorder.operations  # FIS's role does it, not chaoskit


def test_stopping_is_bounded_by_the_hold_and_reverting_stops_it_and_starts_the_instances(
    moto: None,
) -> None:
    hold_each_state(3)
    recorder = Recorder()
    env = open_env(recorder)
    fault = faults.StopInstances(target="web")
    plan = replace(fault.plan(env, random.Random(0)), hold=90.0)
    [victim] = plan.instance_ids
    injection = fault.inject(plan, env)

    [template] = recorder.templates
    [action] = template["actions"].values()
    assert action["actionId"] == "aws:ec2:stop-instances"
    # FIS starts them by itself after the hold (rounded up to whole minutes) if chaoskit dies.
    assert action["parameters"] == {"startInstancesAfterDuration": "PT2M"}
    assert injection.undo["op"] == "stop_fis_experiment"
    assert injection.undo["start_instances"] == [victim]
    experiment_id = injection.undo["experiment_id"]
    assert experiments() == {experiment_id: "running"}
    tags = aws_fleet.client("ec2").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [victim]}]
    )["Tags"]
    assert {(t["Key"], t["Value"]) for t in tags} >= {(STOPPED_BY, "run-1")}

    # moto's FIS stops nothing: stop the instance as FIS would have.
    aws_fleet.client("ec2").stop_instances(InstanceIds=[victim])
    injection.revert()
    assert "StopExperiment" in recorder.operations
    assert experiments() == {experiment_id: "stopped"}
    assert templates() == []
    assert aws_fleet.states()[victim] == "running"
    assert injection.details["state"] == "stopped"
    calls = len(recorder.operations)
    injection.revert()
    assert len(recorder.operations) == calls  # reverting again does nothing


class InterruptOnFirstSleep(FakeClock):
    """Runs ``before`` then raises KeyboardInterrupt (Ctrl-C, or SIGTERM as chaoskit raises
    it) the first time a wait sleeps; sleeps as FakeClock afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Any = None

    def sleep(self, seconds: float) -> None:
        before, self.before = self.before, None
        if before is not None:
            before()
            raise KeyboardInterrupt
        super().sleep(seconds)


def test_a_ctrl_c_while_a_stop_experiment_starts_leaves_nothing_stopped_or_running(
    moto: None,
) -> None:
    clock = InterruptOnFirstSleep()
    env = AwsEnvironment.open(
        name="staging",
        settings=aws_fleet.settings(instance_faults="fis", fis_role_arn=ROLE),
        run_id="run-1",
        clock=clock,
    )
    fault = faults.StopInstances(target="web")
    plan = replace(fault.plan(env, random.Random(0)), hold=90.0)
    [victim] = plan.instance_ids
    # moto's FIS stops nothing: stop the instance as FIS does once the experiment starts.
    clock.before = lambda: aws_fleet.client("ec2").stop_instances(InstanceIds=[victim])
    with pytest.raises(KeyboardInterrupt):
        fault.inject(plan, env)
    assert set(experiments().values()) == {"stopped"}
    assert templates() == []
    assert aws_fleet.states()[victim] == "running"


def tagged_template(selection: str, **tags: str) -> dict[str, Any]:
    return {
        "description": "terminate what the tags select",
        "roleArn": ROLE,
        "stopConditions": [{"source": "none"}],
        "targets": {
            "Shop": {
                "resourceType": "aws:ec2:instance",
                "resourceTags": tags,
                "filters": [{"path": "State.Name", "values": ["running"]}],
                "selectionMode": selection,
            }
        },
        "actions": {
            "kill": {
                "actionId": "aws:ec2:terminate-instances",
                "targets": {"Instances": "Shop"},
            }
        },
    }


def test_a_template_that_could_select_beyond_a_targets_blast_radius_is_refused_when_planned(
    moto: None,
) -> None:
    recorder = Recorder()
    env = open_env(recorder)  # target web: app=shop, tier=web (3 instances), max_count = 2
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=tagged_template("ALL", app="shop", tier="web")).plan(
            env, random.Random(0)
        )
    assert str(refused.value).startswith(
        "FisExperiment terminate what the tags select: template target 'Shop' (ALL) could hit "
        "3 instance(s), which exceeds the blast radius of target 'web' (max 2 of 3 instances: "
        "max_count = 2); raise it in [tool.chaoskit.env.staging.targets.web] or narrow the "
        "template target's selectionMode"
    )
    with pytest.raises(ConfigError, match="could hit 3 instance"):
        faults.FisExperiment(template=tagged_template("PERCENT(100)", app="shop", tier="web")).plan(
            env, random.Random(0)
        )
    for within in ("COUNT(2)", "PERCENT(50)"):  # 50 % of 3, rounded up as FIS does: 2
        faults.FisExperiment(template=tagged_template(within, app="shop", tier="web")).plan(
            env, random.Random(0)
        )
    assert recorder.writes() == []
    assert templates() == []


def test_template_targets_that_together_exceed_a_targets_blast_radius_are_refused(
    moto: None,
) -> None:
    recorder = Recorder()
    env = open_env(recorder)  # target web: 3 instances, max_count = 2
    twice = tagged_template("COUNT(2)", app="shop", tier="web")
    twice["targets"]["Again"] = {**twice["targets"]["Shop"], "selectionMode": "COUNT(1)"}
    twice["actions"]["kill again"] = {
        "actionId": "aws:ec2:stop-instances",
        "targets": {"Instances": "Again"},
    }
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=twice).plan(env, random.Random(0))
    assert (
        "template targets 'Shop' 2, 'Again' 1 together could hit 3 instance(s) of target 'web', "
        "which exceeds its blast radius (max 2 of 3 instances: max_count = 2)"
    ) in str(refused.value)
    # Two selections of one instance each stay within it.
    twice["targets"]["Shop"]["selectionMode"] = "COUNT(1)"
    faults.FisExperiment(template=twice).plan(env, random.Random(0))
    assert recorder.writes() == []


def test_a_template_that_could_select_outside_every_target_is_refused_when_planned(
    moto: None,
) -> None:
    env = open_env()
    # app=shop also selects the batch instance, which no target of the environment holds.
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=tagged_template("COUNT(1)", app="shop")).plan(
            env, random.Random(0)
        )
    message = str(refused.value)
    assert "template target 'Shop' (COUNT(1)) could select" in message
    [batch] = [i for i, tags in tags_by_instance().items() if tags.get("tier") == "batch"]
    assert f"{batch}, which no target of environment 'staging' holds" in message
    assert "web: tags {'app': 'shop', 'tier': 'web'}" in message
    assert "[tool.chaoskit.env.staging.targets.NAME]" in message
    # Named outright by ARN: the same.
    body = tagged_template("ALL")
    body["targets"]["Shop"] = {
        "resourceType": "aws:ec2:instance",
        "resourceArns": [arn(batch)],
        "selectionMode": "ALL",
    }
    with pytest.raises(ConfigError, match=f"could select {batch}, which no target"):
        faults.FisExperiment(template=body).plan(env, random.Random(0))


def test_arns_of_another_account_or_region_are_refused_for_every_fis_fault(moto: None) -> None:
    recorder = Recorder()
    env = open_env(recorder)
    [web, *_] = sorted(i for i, tags in tags_by_instance().items() if tags.get("tier") == "web")
    stranger = arn(web).replace(aws_fleet.MOTO_ACCOUNT, "999988887777")
    elsewhere = arn(web).replace(aws_fleet.REGION, "us-east-1")
    for resource, why in (
        (stranger, "of account 999988887777, not 123456789012"),
        (elsewhere, "in region us-east-1, not eu-west-1"),
    ):
        body = tagged_template("ALL")
        body["targets"]["Shop"] = {
            "resourceType": "aws:ec2:instance",
            "resourceArns": [resource],
            "selectionMode": "ALL",
        }
        with pytest.raises(ConfigError) as refused:
            faults.FisExperiment(template=body).plan(env, random.Random(0))
        assert f"template target 'Shop' names {resource}, {why}" in str(refused.value)
        assert "allowed_accounts" in str(refused.value)
    function = "arn:aws:lambda:eu-west-1:999988887777:function:checkout"
    role = "arn:aws:iam::999988887777:role/scaler"
    for fault in (
        faults.LambdaDelay(functions=function, delay="1s"),
        faults.LambdaErrors(functions=function.replace("eu-west-1", "us-east-1")),
        faults.ApiThrottle(roles=role, operations="RunInstances"),
    ):
        with pytest.raises(ConfigError, match=r"(of account 999988887777|in region us-east-1)"):
            fault.plan(env, random.Random(0))
    # The environment's own account and region pass.
    faults.LambdaDelay(functions=function.replace("999988887777", "123456789012"), delay="1s").plan(
        env, random.Random(0)
    )
    assert recorder.writes() == []


def with_target(name: str, **tags: str) -> dict[str, Any]:
    """The example environment's targets, and ``name`` selecting the instances tagged
    ``tags`` (besides app=shop), every one of them within its blast radius."""
    web = aws_fleet.settings().targets["web"]
    return {
        "web": {
            "resource_type": web.resource_type,
            "tags": dict(web.tags),
            "max_count": web.max_count,
            "url": web.url,
        },
        name: {"resource_type": INSTANCE, "tags": {"app": "shop", **tags}, "max_percent": 100},
    }


def tags_by_instance() -> dict[str, dict[str, str]]:
    return {
        instance["InstanceId"]: {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
        for reservation in aws_fleet.client("ec2").describe_instances()["Reservations"]
        for instance in reservation["Instances"]
    }


def test_rebooting_runs_the_reboot_action(moto: None) -> None:
    recorder = Recorder()
    env = open_env(recorder)
    fault = faults.RebootInstances(target="web")
    injection = fault.inject(fault.plan(env, random.Random(0)), env)
    [template] = recorder.templates
    assert [a["actionId"] for a in template["actions"].values()] == ["aws:ec2:reboot-instances"]
    injection.revert()
    assert injection.details["state"] == "completed"
    assert "RebootInstances" not in recorder.operations


def test_latency_runs_the_fis_network_latency_document_for_the_hold(moto: None) -> None:
    hold_each_state(3)
    recorder = Recorder()
    # Latency goes through FIS whatever instance_faults says: EC2 alone cannot delay traffic.
    env = open_env(recorder, instance_faults="ec2")
    fault = faults.Latency(target="web", delay="200ms", jitter="20ms")
    plan = replace(fault.plan(env, random.Random(0)), hold=45.0)
    [victim] = plan.instance_ids
    injection = fault.inject(plan, env)

    [template] = recorder.templates
    [target] = template["targets"].values()
    assert target["resourceArns"] == [arn(victim)]
    [action] = template["actions"].values()
    assert action["actionId"] == "aws:ssm:send-command"
    parameters = action["parameters"]
    # With jitter, the -Sources variant (the plain document has no jitter parameter).
    assert parameters["documentArn"] == (
        "arn:aws:ssm:eu-west-1::document/AWSFIS-Run-Network-Latency-Sources"
    )
    assert json.loads(parameters["documentParameters"]) == {
        "DelayMilliseconds": "200",
        "JitterMilliseconds": "20",
        "DurationSeconds": "45",
        "InstallDependencies": "True",
        "Sources": "ALL",
        # The plain document delays what the instance sends; the -Sources one, told so.
        "TrafficType": "egress",
    }
    assert parameters["duration"] == "PT1M"
    assert injection.undo["op"] == "stop_fis_experiment"
    assert injection.undo["handle"].startswith("fis-latency/")
    # moto runs no SSM command: only the experiment's state says the latency is on.
    injection.revert()
    assert experiments() == {injection.undo["experiment_id"]: "stopped"}
    assert templates() == []


def test_latency_limited_to_sources_runs_the_sources_document_with_them(moto: None) -> None:
    hold_each_state(3)
    recorder = Recorder()
    env = open_env(recorder)
    fault = faults.Latency(target="web", delay="150ms", sources=["DYNAMODB", "10.0.0.0/16"])
    assert fault.describe() == "Latency 150ms to DYNAMODB, 10.0.0.0/16 on 1 of web"
    plan = replace(fault.plan(env, random.Random(0)), hold=45.0)
    injection = fault.inject(plan, env)
    [template] = recorder.templates
    [action] = template["actions"].values()
    parameters = action["parameters"]
    assert parameters["documentArn"] == (
        "arn:aws:ssm:eu-west-1::document/AWSFIS-Run-Network-Latency-Sources"
    )
    assert json.loads(parameters["documentParameters"]) == {
        "DelayMilliseconds": "150",
        "JitterMilliseconds": "0",
        "DurationSeconds": "45",
        "InstallDependencies": "True",
        "Sources": "DYNAMODB,10.0.0.0/16",
        "TrafficType": "egress",
    }
    injection.revert()
    assert templates() == []


def test_latency_fis_cannot_shape_is_refused_before_anything_is_created(moto: None) -> None:
    recorder = Recorder()
    env = open_env(recorder)
    fault = faults.Latency(target="web", delay="200ms", direction="upstream")
    with pytest.raises(ConfigError, match="direction='downstream', toxicity=1"):
        fault.inject(fault.plan(env, random.Random(0)), env)
    assert recorder.writes() == []


def test_an_experiment_fis_fails_is_not_injected_and_leaves_nothing(moto: None) -> None:
    # moto never fails an experiment: FIS's answers are played by a Stubber, moto answers
    # EC2, CloudWatch and STS. A throttled CreateExperimentTemplate is retried, as every call.
    slept: list[float] = []
    env = open_env(policy=RetryPolicy(sleep=slept.append))
    fis = env.clients.fis
    experiment = {"id": "EXPfailed", "experimentTemplateId": "EXTgen", "tags": {}}
    with Stubber(fis) as stub:
        stub.add_client_error(
            "create_experiment_template", "ThrottlingException", http_status_code=400
        )
        stub.add_response("create_experiment_template", {"experimentTemplate": {"id": "EXTgen"}})
        stub.add_response(
            "start_experiment",
            {"experiment": {**experiment, "state": {"status": "initiating"}}},
            {
                "experimentTemplateId": "EXTgen",
                "tags": {"chaoskit:run-id": "run-1"},
                "clientToken": ANY,
            },
        )
        stub.add_response(
            "get_experiment",
            {"experiment": {**experiment, "state": {"status": "failed", "reason": "No targets"}}},
            {"id": "EXPfailed"},
        )
        stub.add_response(
            "get_experiment",
            {"experiment": {**experiment, "state": {"status": "failed", "reason": "No targets"}}},
            {"id": "EXPfailed"},
        )
        stub.add_response("delete_experiment_template", {}, {"id": "EXTgen"})
        fault = faults.TerminateInstances(target="web")
        plan = fault.plan(env, random.Random(0))
        with pytest.raises(InjectionError) as failed:
            fault.inject(plan, env)
        stub.assert_no_pending_responses()
    assert "FIS experiment EXPfailed (template EXTgen) failed: No targets" in str(failed.value)
    assert len(slept) == 1
    assert aws_fleet.states() == dict.fromkeys(aws_fleet.states(), "running")


def test_a_dry_run_of_a_template_reads_only_and_shows_its_actions_and_resolved_targets(
    moto: None,
) -> None:
    alarm()
    recorder = Recorder()
    # The batch instance is a target of its own: a template may only hit targets' instances.
    env = open_env(recorder, stop_alarms=["web-5xx"], targets=with_target("batch", tier="batch"))
    web = aws_fleet.tier(None, "web")
    [batch] = aws_fleet.tier(None, "batch")
    aws_fleet.client("ec2").stop_instances(InstanceIds=[web[0]])
    template = {
        "description": "stop one web instance, reboot the batch one",
        "roleArn": ROLE,
        "stopConditions": [{"source": "none"}],
        "targets": {
            "web": {
                "resourceType": "aws:ec2:instance",
                "resourceTags": {"app": "shop", "tier": "web"},
                "filters": [{"path": "State.Name", "values": ["running"]}],
                "selectionMode": "COUNT(1)",
            },
            "batch": {
                "resourceType": "aws:ec2:instance",
                "resourceArns": [arn(batch)],
                "selectionMode": "ALL",
            },
        },
        "actions": {
            "stop": {
                "actionId": "aws:ec2:stop-instances",
                "parameters": {"startInstancesAfterDuration": "PT2M"},
                "targets": {"Instances": "web"},
            },
            "reboot": {"actionId": "aws:ec2:reboot-instances", "targets": {"Instances": "batch"}},
        },
    }
    printed: list[str] = []
    dry = DryRun(
        settings=ExperimentSettings(
            name="test_x", objectives=(error_rate(below="1%"),), baseline=5, recovery=5
        ),
        env=env,
        rng=random.Random(0),
        notify=printed.append,
    )
    dry.inject(faults.FisExperiment(template=template), hold="2m")
    dry.inject(faults.StopInstances(target="web"), hold="1m")
    assert recorder.writes() == []
    assert {"DescribeAlarms", "DescribeInstances"} <= set(recorder.operations)
    assert (
        "dry run:   action stop: aws:ec2:stop-instances on Instances=web "
        "(startInstancesAfterDuration=PT2M)"
    ) in printed
    assert "dry run:   action reboot: aws:ec2:reboot-instances on Instances=batch" in printed
    # The stopped instance is filtered out as FIS's filter would; the bystander is not tagged.
    assert (
        "dry run:   target web: aws:ec2:instance tagged app=shop, tier=web State.Name in "
        f"running, COUNT(1) -> {web[1]}, {web[2]}"
    ) in printed
    assert f"dry run:   target batch: aws:ec2:instance 1 ARN(s), ALL -> {arn(batch)}" in printed
    assert templates() == [] and experiments() == {}


def test_recover_stops_a_killed_runs_experiments_and_starts_what_they_stopped(
    moto: None,
) -> None:
    hold_each_state(4)
    env = open_env()
    stop = faults.StopInstances(target="web")
    stop_plan = replace(stop.plan(env, random.Random(0)), hold=60.0)
    stopped = stop.inject(stop_plan, env)
    [victim] = stop_plan.instance_ids
    aws_fleet.client("ec2").stop_instances(InstanceIds=[victim])  # moto's FIS stops nothing
    # A second experiment whose undo never reached the journal: found by the run's tag.
    latency = faults.Latency(target="web", delay="100ms")
    unrecorded = latency.inject(latency.plan(env, random.Random(1)), env)
    # The run dies here: nothing reverts either.
    assert set(experiments().values()) == {"running"}
    left = [
        LeftOpen(
            injection_id="a",
            fault=stop_plan.fault,
            instance_ids=stop_plan.instance_ids,
            undo=dict(stopped.undo),
        ),
        LeftOpen(injection_id="b", fault="Latency 100ms on 1 of web", instance_ids=(), undo=None),
    ]
    settings = dict(env.settings)
    first = recover_run(
        run_id="run-1", env="staging", settings=settings, left=left, clock=FakeClock(), poll=1
    )
    assert all(s.settled for s in first), [s.note for s in first]
    assert first[0].note.startswith(f"stopped FIS experiment {stopped.undo['experiment_id']}")
    assert f"started {victim}" in first[0].note
    unrecorded_id = unrecorded.undo["experiment_id"]
    assert f"stopped 1 FIS experiment(s) ({unrecorded_id})" in first[1].note
    assert set(experiments().values()) == {"stopped"}
    assert templates() == []
    assert aws_fleet.states()[victim] == "running"

    again = recover_run(
        run_id="run-1", env="staging", settings=settings, left=left, clock=FakeClock(), poll=1
    )
    assert all(s.settled for s in again)
    assert "had ended (stopped)" in again[0].note
    assert "stopped" not in again[1].note  # nothing of the run is left to stop


def test_recover_of_a_run_without_fis_asks_nothing_of_fis(moto: None) -> None:
    recorder = Recorder()
    settings = {"region": aws_fleet.REGION, "account": aws_fleet.MOTO_ACCOUNT}
    left = [
        LeftOpen(
            injection_id="a",
            fault="TerminateInstances 1 of web",
            instance_ids=("i-1",),
            undo={"op": "wait_healthy", "target": "web"},
        )
    ]
    [settled] = recover_run(
        run_id="r", env="staging", settings=settings, left=left, session=recorder.session
    )
    assert settled.settled
    assert not any(
        op.endswith(("Experiments", "ExperimentTemplates")) for op in recorder.operations
    )


LIBRARY = library()
# The library's templates on EC2 (every target an EC2 resource), planned as they are.
EC2_TEMPLATES = sorted(
    path
    for path in (LIBRARY.glob("*.json") if LIBRARY else ())
    if (targets := json.loads(path.read_text()).get("targets"))
    and all(t["resourceType"].startswith("aws:ec2:") for t in targets.values())
)


@pytest.mark.skipif(LIBRARY is None, reason="AWS's FIS template library is not beside the repo")
@pytest.mark.parametrize("path", EC2_TEMPLATES, ids=lambda path: path.stem)
def test_each_ec2_template_of_the_library_plans_in_a_dry_run_with_reads_only(
    moto: None, path: Path
) -> None:
    body = json.loads(path.read_text())
    # One running instance carrying each instance target's tags, as the template expects.
    tagged = {}
    targets: dict[str, Any] = {}
    for name, target in body["targets"].items():
        if target["resourceType"] == "aws:ec2:instance":
            tags = [{"Key": k, "Value": v} for k, v in target["resourceTags"].items()]
            [launched] = aws_fleet.client("ec2").run_instances(
                ImageId="ami-12c6146b",
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )["Instances"]
            tagged[name] = launched["InstanceId"]
            # A target of the environment holds them: a template may only hit targets'.
            targets[f"library-{name}"] = {
                "resource_type": INSTANCE,
                "tags": target["resourceTags"],
                "max_percent": 100,
            }
    recorder = Recorder()
    env = open_env(recorder, targets={**with_target("batch"), **targets})
    printed: list[str] = []
    dry = DryRun(
        settings=ExperimentSettings(
            name="test_x", objectives=(error_rate(below="1%"),), baseline=5, recovery=5
        ),
        env=env,
        rng=random.Random(0),
        notify=printed.append,
    )
    dry.inject(faults.FisExperiment(template=path), hold="5m")
    assert recorder.writes() == []
    for name, action in body["actions"].items():
        assert any(
            line.startswith(f"dry run:   action {name}: {action['actionId']}") for line in printed
        ), printed
    for name, instance_id in tagged.items():
        # Resolved as FIS would resolve the tags now: the instance carrying them.
        [line] = [line for line in printed if line.startswith(f"dry run:   target {name}:")]
        assert instance_id in line, line
    assert templates() == [] and experiments() == {}
