"""The AWS environment against moto in-process: the account check, which instances a target
is, refusals before any write, instance faults, waiting for capacity, dry-runs that only read,
what the journal records, and recovering a killed run's stops.

Each place where moto does not behave like AWS is named in the test that depends on it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests import aws_fleet

from chaoskit import faults
from chaoskit.errors import ConfigError, EnvironmentRefused, ProviderError
from chaoskit.experiment.dry_run import DryRun
from chaoskit.experiment.lifecycle import ExperimentSettings
from chaoskit.experiment.run import Run
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.environment import AwsEnvironment
from chaoskit.providers.aws.recover import LeftOpen, recover_run
from chaoskit.providers.aws.stopping import STOPPED_BY
from chaoskit.slo import error_rate
from chaoskit.testing import FakeClock

READ_ONLY = ("Describe", "List", "Get")


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in aws_fleet.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the settings' region must win
    with mock_aws():
        aws_fleet.seed()
        yield


class Recorder:
    """Every operation any client of a session makes, in order, through botocore's
    ``before-call`` event (clients copy the session's handlers when they are made)."""

    def __init__(self) -> None:
        self.session = boto3.Session(region_name="eu-west-1")
        self.operations: list[str] = []
        self.session.events.register("before-call.*.*", self._record)

    def _record(self, model: Any, **kwargs: Any) -> None:
        self.operations.append(model.name)


def open_env(
    recorder: Recorder | None = None, clock: Any = None, **overrides: Any
) -> AwsEnvironment:
    return AwsEnvironment.open(
        name="staging",
        settings=aws_fleet.settings(**overrides),
        run_id="run-1",
        session=None if recorder is None else recorder.session,
        clock=clock or FakeClock(),
        poll=5.0,
    )


def test_opening_checks_the_account_first_and_nothing_else(moto: None) -> None:
    recorder = Recorder()
    env = open_env(recorder)
    assert recorder.operations == ["GetCallerIdentity"]
    assert env.identity.account == aws_fleet.MOTO_ACCOUNT
    # The settings' region wins over AWS_DEFAULT_REGION (us-east-1 in the fixture).
    assert env.clients.ec2.meta.region_name == "eu-west-1"
    assert len(env.target("web").instances()) == 3


def test_another_account_stops_before_anything_is_touched(moto: None) -> None:
    recorder = Recorder()
    with pytest.raises(EnvironmentRefused) as refused:
        open_env(recorder, allowed_accounts=["111111111111"])
    assert recorder.operations == ["GetCallerIdentity"]
    message = str(refused.value)
    assert "environment 'staging'" in message
    assert "reach AWS account 123456789012 as arn:aws:sts::123456789012:user/moto" in message
    assert "not in allowed_accounts ['111111111111']" in message


def test_every_client_uses_the_endpoint_url() -> None:
    clients = AwsClients(region="eu-west-1", endpoint_url="http://127.0.0.1:1")
    every = (clients.ec2, clients.autoscaling, clients.sts, clients.fis, clients.cloudwatch)
    for client in (*every, clients.s3, clients.retrying_fis):
        assert client.meta.endpoint_url == "http://127.0.0.1:1"
        assert client.meta.region_name == "eu-west-1"
        # botocore does not retry: calls.py does, within its own bounds.
        assert client.meta.config.retries["total_max_attempts"] == 1


def test_a_target_is_its_selected_live_instances_with_their_health(moto: None) -> None:
    batch = aws_fleet.tier(None, "batch")
    web_ids = aws_fleet.tier(None, "web")
    env = open_env()
    web = env.target("web")
    assert [i.id for i in web.instances()] == web_ids  # the bystander is not part of it
    assert {i.state for i in web.instances()} == {"healthy"}
    assert all(i.tags["app"] == "shop" for i in web.instances())

    by_group = open_env(
        targets={"g": {"resource_type": "aws:ec2:instance", "asg": "shop-web", "max_count": 1}}
    )
    assert [i.id for i in by_group.target("g").instances()] == web_ids
    # moto puts every group instance in the region's first zone (AWS balances across zones).
    by_zone = open_env(
        targets={
            "z": {
                "resource_type": "aws:ec2:instance",
                "availability_zones": ["eu-west-1b"],
                "max_count": 1,
            }
        }
    )
    assert by_zone.target("z").instances() == []

    ec2 = aws_fleet.client("ec2")
    ec2.stop_instances(InstanceIds=[web_ids[0]])
    aws_fleet.client("autoscaling").set_instance_health(
        InstanceId=web_ids[1], HealthStatus="Unhealthy"
    )
    states = {i.id: i.state for i in web.instances()}
    assert states == {web_ids[0]: "stopped", web_ids[1]: "unhealthy", web_ids[2]: "healthy"}
    assert batch  # untouched bystander exists


def test_the_same_seed_picks_the_same_instances(moto: None) -> None:
    env = open_env()
    fault = faults.TerminateInstances(target="web")
    picks = {fault.plan(env, random.Random("7:test_x")).instance_ids for _ in range(3)}
    assert len(picks) == 1
    others = {fault.plan(env, random.Random(f"{seed}:test_x")).instance_ids for seed in range(20)}
    assert len(others) > 1  # the seed decides


def test_a_fault_beyond_the_blast_radius_is_refused_when_planned(moto: None) -> None:
    env = open_env()
    with pytest.raises(ConfigError) as refused:
        faults.TerminateInstances(target="web", count=3).plan(env, random.Random(0))
    assert str(refused.value) == (
        "TerminateInstances would hit 3 instance(s), which exceeds the blast radius of target "
        "'web' (max 2 of 3 instances: max_count = 2); raise it in "
        "[tool.chaoskit.env.staging.targets.web] or lower the fault's count or percent."
    )
    percent = open_env(
        targets={
            "web": {"resource_type": "aws:ec2:instance", "tags": {"tier": "web"}, "max_percent": 50}
        }
    )
    # 50% of 3 instances is 1.5: the limit rounds down to 1.
    with pytest.raises(ConfigError, match=r"max 1 of 3 instances: max_percent = 50, rounded down"):
        faults.StopInstances(target="web", percent=60).plan(percent, random.Random(0))
    assert aws_fleet.states() == dict.fromkeys(aws_fleet.states(), "running")


def test_a_fault_the_aws_target_cannot_do_is_refused_naming_fault_and_provider(moto: None) -> None:
    env = open_env()
    for fault in (
        faults.HttpErrors(target="web", status=503),
        faults.Bandwidth(target="web", rate="1MB/s"),
        faults.StressCpu(target="web"),
    ):
        name = type(fault).__name__
        with pytest.raises(ConfigError, match=rf"{name} on target 'web': the aws provider"):
            fault.plan(env, random.Random(0))


def test_a_write_on_an_instance_outside_the_target_is_refused(moto: None) -> None:
    [bystander] = aws_fleet.tier(None, "batch")
    web = open_env().target("web")
    with pytest.raises(ConfigError, match=rf"TerminateInstances on {bystander} refused"):
        web.terminate([bystander])
    assert aws_fleet.states()[bystander] == "running"


def test_terminating_waits_for_the_group_and_records_the_time_to_self_heal(moto: None) -> None:
    class Clock(FakeClock):
        """Starts the held-back replacement on the second wait: a slow group, as on AWS."""

        held: str = ""

        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 2:
                aws_fleet.client("ec2").start_instances(InstanceIds=[self.held])

    clock = Clock()
    env = open_env(clock=clock)
    fault = faults.TerminateInstances(target="web")
    plan = fault.plan(env, random.Random(0))
    before = set(aws_fleet.tier(None, "web"))
    injection = fault.inject(plan, env)
    assert aws_fleet.states()[plan.instance_ids[0]] == "terminated"
    # moto replaces a terminated group instance at once; stopping the replacement stands in
    # for one still starting (moto keeps a stopped instance InService and Healthy, AWS would
    # not, but EC2's state already makes it unhealthy for chaoskit).
    [replacement] = set(aws_fleet.tier(None, "web")) - before
    aws_fleet.client("ec2").stop_instances(InstanceIds=[replacement])
    clock.held = replacement
    injection.revert()
    assert clock.sleeps == [5.0, 5.0]
    assert injection.details == {"time_to_self_heal": 10.0}


def test_capacity_that_never_returns_fails_the_revert_naming_the_group(moto: None) -> None:
    env = open_env()
    web = env.target("web")
    [victim] = faults.TerminateInstances(target="web").plan(env, random.Random(0)).instance_ids
    before = set(aws_fleet.tier(None, "web"))
    web.terminate([victim])
    [replacement] = set(aws_fleet.tier(None, "web")) - before
    aws_fleet.client("ec2").stop_instances(InstanceIds=[replacement])
    with pytest.raises(ProviderError) as failed:
        web.wait_healthy(timeout=12)
    assert str(failed.value) == (
        "target 'web' is not back at healthy capacity after 12s: group shop-web has 2 healthy "
        "of 3 desired"
    )


def test_stopping_tags_stops_and_reverting_starts_again(moto: None) -> None:
    env = open_env()
    fault = faults.StopInstances(target="web", count=2)
    plan = fault.plan(env, random.Random(0))
    injection = fault.inject(plan, env)
    ec2 = aws_fleet.client("ec2")
    described = ec2.describe_instances(InstanceIds=list(plan.instance_ids))["Reservations"]
    for instance in (i for r in described for i in r["Instances"]):
        assert instance["State"]["Name"] == "stopped"
        assert {"Key": STOPPED_BY, "Value": "run-1"} in instance["Tags"]
    assert injection.undo["instance_ids"] == list(plan.instance_ids)
    injection.revert()
    injection.revert()  # idempotent
    states = aws_fleet.states()
    assert [states[i] for i in plan.instance_ids] == ["running", "running"]
    described = ec2.describe_instances(InstanceIds=list(plan.instance_ids))["Reservations"]
    assert all(
        STOPPED_BY not in {t["Key"] for t in i.get("Tags", [])}
        for r in described
        for i in r["Instances"]
    )


def test_reboot_reboots_through_ec2(moto: None) -> None:
    recorder = Recorder()
    env = open_env(recorder)
    fault = faults.RebootInstances(target="web")
    plan = fault.plan(env, random.Random(0))
    fault.inject(plan, env).revert()
    assert "RebootInstances" in recorder.operations
    assert aws_fleet.states()[plan.instance_ids[0]] == "running"


def test_a_dry_run_makes_read_only_calls_only(moto: None) -> None:
    recorder = Recorder()
    env = open_env(recorder)
    printed: list[str] = []
    dry = DryRun(
        settings=ExperimentSettings(
            name="test_x", objectives=(error_rate(below="1%"),), baseline=5, recovery=5
        ),
        env=env,
        rng=random.Random(0),
        notify=printed.append,
    )
    dry.start()
    for fault in (
        faults.TerminateInstances(target="web"),
        faults.StopInstances(target="web", count=2),
        faults.RebootInstances(target="web", percent=50),
    ):
        dry.inject(fault, hold="10s")
    assert recorder.operations[0] == "GetCallerIdentity"
    assert set(recorder.operations) >= {"DescribeInstances", "DescribeAutoScalingInstances"}
    writes = [op for op in recorder.operations if not op.startswith(READ_ONLY)]
    assert writes == []
    assert aws_fleet.states() == dict.fromkeys(aws_fleet.states(), "running")
    web = aws_fleet.tier(None, "web")
    assert any(
        line.startswith("dry run: would inject TerminateInstances 1 of web on i-")
        for line in printed
    )
    assert all(i in web for p in dry.plans for i in p.instance_ids)


def test_a_dry_runs_environment_refuses_every_way_past_its_methods(moto: None) -> None:
    from chaoskit.errors import DryRunRefused
    from chaoskit.experiment.read_only import ReadOnlyEnvironment

    recorder = Recorder()
    dry = ReadOnlyEnvironment(open_env(recorder))
    victim = aws_fleet.tier(None, "web")[0]
    reaches = {
        "environment 'staging'.clients.ec2.terminate_instances": lambda: (
            dry.clients.ec2.terminate_instances(InstanceIds=[victim])
        ),
        "environment 'staging'.clients.call": lambda: dry.clients.call(print, "x"),
        "environment 'staging'.instance_actions.terminate": lambda: dry.instance_actions.terminate(
            [victim], None
        ),
        "environment 'staging'.fis.clients.fis.start_experiment": lambda: (
            dry.fis.clients.fis.start_experiment(experimentTemplateId="x")
        ),
        "target 'web'._actions": lambda: dry.target("web")._actions.terminate([victim], None),
    }
    for call, reach in reaches.items():
        with pytest.raises(DryRunRefused, match=rf"^{re.escape(call)} was refused"):
            reach()
    # Plain values still read.
    assert dry.clients.region == "eu-west-1" and dry.target("web").env == "staging"
    writes = [op for op in recorder.operations if not op.startswith(READ_ONLY)]
    assert writes == []
    assert aws_fleet.states() == dict.fromkeys(aws_fleet.states(), "running")


def test_the_journal_records_how_to_reach_the_account_never_credentials(
    moto: None, tmp_path: Path
) -> None:
    run = Run(
        env_name="staging",
        provider="aws",
        env_factory=lambda run_id: AwsEnvironment.open(
            name="staging", settings=aws_fleet.settings(profile=None), run_id=run_id
        ),
        journal_dir=tmp_path,
        seed=1,
        clock=FakeClock(),
    )
    assert run.environment.run_id == run.run_id  # type: ignore[attr-defined]
    run.close()
    started = json.loads((tmp_path / f"{run.run_id}.jsonl").read_text().splitlines()[0])
    assert started["event"] == "run_started"
    assert started["settings"] == {
        "region": "eu-west-1",
        "profile": None,
        "endpoint_url": None,
        "account": "123456789012",
        "caller_arn": "arn:aws:sts::123456789012:user/moto",
        "allowed_accounts": ["123456789012"],
        "instance_faults": "ec2",
        "fis_role_arn": None,
    }
    assert "testing" not in json.dumps(started)


def test_recover_starts_what_a_killed_run_stopped_and_then_finds_nothing(moto: None) -> None:
    env = open_env()
    web = env.target("web")
    stopped, unrecorded, untouched = aws_fleet.tier(None, "web")
    handle = web.stop_instances([stopped])
    # A second stop whose undo never reached the journal: found by the run's tag.
    web.stop_instances([unrecorded])
    left = [
        LeftOpen(
            injection_id="a",
            fault="StopInstances 1 of web",
            instance_ids=(stopped,),
            undo={
                "op": "remove_fault",
                "target": "web",
                "handle": handle,
                "instance_ids": [stopped],
            },
        ),
        LeftOpen(
            injection_id="b", fault="StopInstances 1 of web", instance_ids=(unrecorded,), undo=None
        ),
        LeftOpen(
            injection_id="c",
            fault="TerminateInstances 1 of web",
            instance_ids=(untouched,),
            undo={"op": "wait_healthy", "target": "web"},
        ),
    ]
    settings = dict(env.settings)
    first = recover_run(
        run_id="run-1", env="staging", settings=settings, left=left, clock=FakeClock()
    )
    assert [(s.injection_id, s.settled, s.note) for s in first] == [
        ("a", True, f"started {stopped}"),
        ("b", True, f"started {unrecorded}"),
        ("c", True, first[2].note),
    ]
    assert "nothing to undo" in first[2].note
    assert aws_fleet.states()[stopped] == aws_fleet.states()[unrecorded] == "running"
    again = recover_run(
        run_id="run-1", env="staging", settings=settings, left=left[:2], clock=FakeClock()
    )
    assert [s.note for s in again] == [
        f"{stopped} not stopped: nothing to start",
        f"{unrecorded} not stopped: nothing to start",
    ]


def test_recover_leaves_everything_to_a_human_in_another_account(moto: None) -> None:
    left = [
        LeftOpen(injection_id="a", fault="StopInstances 1 of web", instance_ids=("i-1",), undo=None)
    ]
    settings = {"region": "eu-west-1", "account": "111111111111"}
    [settlement] = recover_run(run_id="r", env="staging", settings=settings, left=left)
    assert not settlement.settled
    assert "reach account 123456789012" in settlement.note
    assert "changed account 111111111111" in settlement.note
