"""FIS experiments end to end against moto: faults plan, inject and revert through an
environment's FIS capability, and a killed run's experiments are recovered by their tag.

Where moto differs from AWS (each test says which it relies on): its FIS never injects
anything and never evaluates stop conditions, it moves an experiment one state per
GetExperiment, its template ids are hex uuids, and its transition settings are global to the
process (the fixture resets them). Failures, alarm stops and request shapes moto does not
check are in tests/unit/test_fis_runner.py, against botocore's Stubber.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from tests.fis_support import ACCOUNT, REGION, ROLE, FisOnlyEnvironment

from chaoskit import faults
from chaoskit.errors import ConfigError
from chaoskit.providers.aws.fis_recover import recover_run, stop_tagged
from chaoskit.providers.aws.fis_runner import FisService, FisSettings
from chaoskit.testing import FakeClock

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "fis"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:checkout"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/scaler"


@pytest.fixture
def fis(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws
    from moto.moto_api import state_manager

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # moto's FIS transitions are global to the process and outlive mock_aws: start from the
    # default (one state per GetExperiment) and leave it so.
    state_manager.unset_transition("fis::experiment")
    try:
        with mock_aws():
            yield boto3.client(
                "fis", region_name=REGION, config=Config(retries={"max_attempts": 1})
            )
    finally:
        state_manager.unset_transition("fis::experiment")


def hold_each_state(gets: int) -> None:
    """moto: keep an experiment in each state for ``gets`` GetExperiment calls, so a test can
    look at a running one before it completes (AWS would stay running for the action's
    duration)."""
    from moto.moto_api import state_manager

    state_manager.set_transition(
        model_name="fis::experiment", transition={"progression": "manual", "times": gets}
    )


def stop_alarm() -> str:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="5xx",
        Namespace="shop",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    return str(cloudwatch.describe_alarms(AlarmNames=["web-5xx"])["MetricAlarms"][0]["AlarmArn"])


def environment(
    fis: Any, clock: FakeClock, *, run_id: str = "run-1", alarms: tuple[str, ...] = ()
) -> FisOnlyEnvironment:
    settings = FisSettings(
        role_arn=ROLE, run_id=run_id, stop_alarm_arns=alarms, clock=clock, stop_timeout=60
    )
    return FisOnlyEnvironment(name="staging", fis=FisService(client=fis, settings=settings))


def record_calls(fis: Any) -> list[str]:
    calls: list[str] = []
    fis.meta.events.register("before-call.fis", lambda model, **kwargs: calls.append(model.name))
    return calls


def test_a_template_file_runs_as_chaoskits_copy_and_reverting_stops_and_deletes_it(
    fis: Any,
) -> None:
    hold_each_state(3)
    clock = FakeClock()
    alarm = stop_alarm()
    env = environment(fis, clock, alarms=(alarm,))
    fault = faults.FisExperiment(template=DATA / "instances-terminate-then-stop.json", timeout="1m")
    plan = fault.plan(env, random.Random(1))
    injection = fault.inject(plan, env)

    experiment_id = injection.details["experiment_id"]
    template_id = injection.details["template_id"]
    # moto only records the state: nothing was terminated or stopped, and its alarm is never
    # evaluated. What AWS would do with the template is what chaoskit asked for:
    created = fis.get_experiment_template(id=template_id)["experimentTemplate"]
    assert created["roleArn"] == ROLE  # the environment's role, not the file's
    assert {c["value"] for c in created["stopConditions"]} == {
        "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-5xx",  # the file's own
        alarm,  # the environment's
    }
    assert created["tags"] == {"team": "shop", "chaoskit:run-id": "run-1"}
    experiment = fis.list_experiments()["experiments"][0]
    assert experiment["tags"] == {"chaoskit:run-id": "run-1"}
    assert injection.details["state"] == "running"
    assert set(injection.details["actions"].values()) == {"running"}
    assert 0 < sum(clock.sleeps) <= 60
    assert injection.halt_reason() is None

    calls = record_calls(fis)
    injection.revert()
    assert "StopExperiment" in calls
    assert fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"] == "stopped"
    assert fis.list_experiment_templates()["experimentTemplates"] == []
    assert injection.details["state"] == "stopped"
    calls.clear()
    injection.revert()
    assert calls == []


def test_an_experiment_that_ended_by_itself_is_not_stopped_only_cleaned_up(fis: Any) -> None:
    # moto's default moves one state per look: running, then completed at the next.
    env = environment(fis, FakeClock())
    fault = faults.LambdaDelay(functions=FUNCTION, delay="2s", percent=50, max_duration="1m")
    injection = fault.inject(fault.plan(env, random.Random(1)), env)
    calls = record_calls(fis)
    injection.revert()
    assert "StopExperiment" not in calls
    assert injection.details["state"] == "completed"
    assert fis.list_experiment_templates()["experimentTemplates"] == []


def test_a_template_named_by_id_is_fetched_read_only_and_left_as_it_was(fis: Any) -> None:
    hold_each_state(2)
    existing = fis.create_experiment_template(
        description="the team's own",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/team-role",
        stopConditions=[{"source": "none"}],
        actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT5M"}}},
        tags={"owner": "team"},
    )["experimentTemplate"]["id"]
    env = environment(fis, FakeClock())
    fault = faults.FisExperiment(template=existing)  # moto's ids are hex, AWS's EXT...
    calls = record_calls(fis)
    plan = fault.plan(env, random.Random(1))
    assert calls == ["GetExperimentTemplate"]
    assert plan.details["actions"] == {"wait": "aws:fis:wait"}
    injection = fault.inject(plan, env)
    assert injection.details["template_id"] != existing
    injection.revert()
    kept = fis.get_experiment_template(id=existing)["experimentTemplate"]
    assert (kept["roleArn"], kept["tags"]) == (
        f"arn:aws:iam::{ACCOUNT}:role/team-role",
        {"owner": "team"},
    )
    assert [t["id"] for t in fis.list_experiment_templates()["experimentTemplates"]] == [existing]
    with pytest.raises(ConfigError, match="does not exist in region eu-west-1"):
        faults.FisExperiment(template="0" * 32).plan(env, random.Random(1))


def test_recover_stops_a_killed_runs_experiments_by_tag_and_deletes_its_templates(fis: Any) -> None:
    hold_each_state(4)
    clock = FakeClock()
    killed = environment(fis, clock, run_id="run-killed")
    other = environment(fis, clock, run_id="run-other")
    generated = [
        faults.LambdaErrors(functions=FUNCTION, percent=10),
        faults.ApiThrottle(roles=APP_ROLE, operations="RunInstances", percent=20),
    ]
    for fault in generated:  # the run dies after injecting: nothing reverts them
        fault.inject(fault.plan(killed, random.Random(1)), killed)
    survivor = faults.ApiUnavailable(roles=APP_ROLE, operations="DescribeInstances")
    kept = survivor.inject(survivor.plan(other, random.Random(1)), other)

    recovered = recover_run(fis, "run-killed", clock=clock, timeout=60, poll=1)
    assert recovered.settled, recovered.describe()
    assert len(recovered.stopped) == 2 and len(recovered.deleted_templates) == 2
    statuses = {e["id"]: e["state"]["status"] for e in fis.list_experiments()["experiments"]}
    assert all(statuses[i] == "stopped" for i in recovered.stopped)
    assert statuses[kept.details["experiment_id"]] != "stopped"  # another run's: untouched
    assert [t["id"] for t in fis.list_experiment_templates()["experimentTemplates"]] == [
        kept.details["template_id"]
    ]
    again = recover_run(fis, "run-killed", clock=clock, timeout=60, poll=1)
    assert (again.stopped, again.deleted_templates, again.problems) == ((), (), ())


def test_the_emergency_stop_stops_every_tagged_experiment_and_leaves_the_rest(fis: Any) -> None:
    hold_each_state(4)
    clock = FakeClock()
    started = []
    for run_id in ("run-a", "run-b"):
        env = environment(fis, clock, run_id=run_id)
        fault = faults.ApiUnavailable(roles=APP_ROLE, operations="DescribeInstances")
        started.append(fault.inject(fault.plan(env, random.Random(1)), env))
    # An experiment chaoskit did not start: no run tag, never touched.
    foreign = fis.create_experiment_template(
        clientToken="foreign",
        description="someone else's",
        roleArn=APP_ROLE,
        stopConditions=[{"source": "none"}],
        actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT5M"}}},
    )["experimentTemplate"]["id"]
    theirs = fis.start_experiment(clientToken="foreign", experimentTemplateId=foreign)
    stopped = stop_tagged(fis, clock=clock, timeout=60, poll=1)
    assert stopped.settled, stopped.describe()
    assert sorted(stopped.stopped) == sorted(
        f"{injection.details['experiment_id']} (run {run_id})"
        for injection, run_id in zip(started, ("run-a", "run-b"), strict=True)
    )
    statuses = {e["id"]: e["state"]["status"] for e in fis.list_experiments()["experiments"]}
    assert statuses[theirs["experiment"]["id"]] != "stopped"
    assert stop_tagged(fis, clock=clock, timeout=60, poll=1).stopped == ()
