"""FIS templates rehearsed on the real local system: each supported action against replica
processes behind the fault proxy, its effect seen by a client on 127.0.0.1 or in the fleet,
and gone after the action (or the revert).

Two targets: ``web`` (three replicas tagged tier=web) and ``api`` (one replica tagged
tier=api, so every request through its proxy reaches the instance an action hit).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from local_system_support import family, get, gone, retrying

from chaoskit import faults
from chaoskit.errors import ConfigError
from chaoskit.faults.fis_rehearsal import Rehearsal
from chaoskit.faults.fis_rehearsal.run import _wait
from chaoskit.providers.local import LocalEnvironment, LocalTarget

pytestmark = pytest.mark.integration

REPLICA = Path(__file__).resolve().with_name("fleet_replica.py")
COMMAND = [sys.executable, str(REPLICA), "--port", "{port}", "--instance-id", "{instance_id}"]
ROLE = "arn:aws:iam::123456789012:role/fis"
DOCUMENT = "arn:aws:ssm:eu-west-1::document/"
# A template minute takes 2 s: long enough to look at an effect, short enough for the suite.
SCALE = 1 / 30


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    environment = LocalEnvironment.start(
        {
            "web": {
                "replicas": 3,
                "replace_delay": 0.3,
                "tags": {"app": "shop", "tier": "web"},
                "command": COMMAND,
            },
            "api": {
                "replicas": 1,
                "replace_delay": 0.3,
                "tags": {"app": "shop", "tier": "api"},
                "command": COMMAND,
            },
        },
        startup_timeout=20,
    )
    yield environment
    environment.close()


@pytest.fixture(autouse=True)
def settled(env: LocalEnvironment) -> Iterator[None]:
    yield
    for name in env.target_names():  # only left behind when a test failed
        target = env.target(name)
        for handle in target.active_faults():
            target.remove_fault(handle)
        target.wait_healthy(timeout=10)


def template(tier: str, action: Mapping[str, Any], *, kind: str = "Instances") -> dict[str, Any]:
    return {
        "description": f"one action on {tier}",
        "roleArn": ROLE,
        "stopConditions": [{"source": "none"}],
        "targets": {
            "Chosen": {
                "resourceType": "aws:ec2:instance",
                "resourceTags": {"app": "shop", "tier": tier},
                "selectionMode": "COUNT(1)",
            }
        },
        "actions": {"act": {**action, "targets": {kind: "Chosen"}}},
    }


def command(document: str, duration: str = "PT1M", **parameters: str) -> dict[str, Any]:
    return {
        "actionId": "aws:ssm:send-command",
        "parameters": {
            "documentArn": DOCUMENT + document,
            "documentParameters": json.dumps(parameters),
            "duration": duration,
        },
    }


def start(env: LocalEnvironment, body: Mapping[str, Any], **settings: Any) -> Rehearsal:
    fault = faults.FisExperiment(template=body, time_scale=SCALE, **settings)
    rehearsal = fault.inject(fault.plan(env, random.Random(7)), env)
    assert isinstance(rehearsal, Rehearsal)
    return rehearsal


def the_action(rehearsal: Rehearsal) -> dict[str, Any]:
    [action] = rehearsal.details["actions"]
    return dict(action)


def ended(rehearsal: Rehearsal, seconds: float = 10) -> None:
    assert _wait(seconds, until=lambda: rehearsal.state != "running", wake=None)


def seconds_to_answer(target: LocalTarget, *, timeout: float = 5) -> float:
    began = time.perf_counter()
    assert get(target.url, timeout=timeout)[0] == 200
    return time.perf_counter() - began


def victim_of(rehearsal: Rehearsal, target: str) -> str:
    [victim] = the_action(rehearsal)["instances"][target]
    return str(victim)


# -- instances gone: terminate, stop the task, kill the process, a Spot interruption ----------


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ({"actionId": "aws:ec2:terminate-instances"}, "Instances"),
        ({"actionId": "aws:ecs:stop-task"}, "Tasks"),
        (command("AWSFIS-Run-Kill-Process", ProcessName="python3", Signal="SIGKILL"), "Instances"),
    ],
    ids=["terminate-instances", "ecs-stop-task", "kill-process"],
)
def test_an_instance_taken_away_is_replaced_and_the_revert_waits_for_capacity(
    env: LocalEnvironment, action: dict[str, Any], kind: str
) -> None:
    web = env.target("web")
    before = {i.id for i in web.instances()}
    rehearsal = start(env, template("web", action, kind=kind))
    victim = victim_of(rehearsal, "web")
    assert victim in before
    assert victim not in {i.id for i in web.instances()}
    rehearsal.revert()
    after = web.instances()
    assert len(after) == 3 and all(i.state == "healthy" for i in after)
    assert victim not in {i.id for i in after} and len({i.id for i in after} - before) == 1
    assert the_action(rehearsal)["state"] == "completed"


def test_a_spot_interruption_terminates_after_its_notice(env: LocalEnvironment) -> None:
    web = env.target("web")
    action = {
        "actionId": "aws:ec2:send-spot-instance-interruptions",
        "parameters": {"durationBeforeInterruption": "PT2M"},
    }
    rehearsal = start(env, template("web", action, kind="SpotInstances"))
    victim = victim_of(rehearsal, "web")
    # Two minutes of notice at the scale: 4 s in which the instance still serves.
    assert victim in {i.id for i in web.instances()}
    assert the_action(rehearsal)["state"] == "running"
    for attempt in retrying(8):
        with attempt:
            assert victim not in {i.id for i in web.instances()}
    elapsed = the_action(rehearsal)["effect_started"] - the_action(rehearsal)["started"]
    assert elapsed == pytest.approx(120 * SCALE, abs=0.5)
    rehearsal.revert()
    assert the_action(rehearsal)["state"] == "completed"


# -- instances stopped and rebooted ------------------------------------------------------------


def test_a_stopped_instance_hangs_and_is_started_after_its_duration(env: LocalEnvironment) -> None:
    web = env.target("web")
    action = {
        "actionId": "aws:ec2:stop-instances",
        "parameters": {"startInstancesAfterDuration": "PT1M"},
    }
    rehearsal = start(env, template("web", action))
    victim = next(i for i in web.instances() if i.id == victim_of(rehearsal, "web"))
    assert victim.state == "stopped"
    with pytest.raises(TimeoutError):
        get(victim.address, timeout=0.5)
    ended(rehearsal)
    # Started again by the action itself, same identity, before anything was reverted.
    assert get(victim.address, timeout=2)[1] == victim.id
    assert the_action(rehearsal)["state"] == "completed"
    assert the_action(rehearsal)["effect_ended"] - the_action(rehearsal)["effect_started"] == (
        pytest.approx(60 * SCALE, abs=0.5)
    )
    rehearsal.revert()
    assert {i.id: i.state for i in web.instances()}[victim.id] == "healthy"


def test_a_rebooted_instance_comes_back_with_its_id_and_a_new_process(
    env: LocalEnvironment,
) -> None:
    web = env.target("web")
    pids = {i.id: json.loads(get(i.address, "/whoami")[2])["pid"] for i in web.instances()}
    rehearsal = start(env, template("web", {"actionId": "aws:ec2:reboot-instances"}))
    victim = victim_of(rehearsal, "web")
    rehearsal.revert()
    now = {i.id: json.loads(get(i.address, "/whoami")[2])["pid"] for i in web.instances()}
    assert set(now) == set(pids)
    assert now[victim] != pids[victim]
    assert all(now[i] == pids[i] for i in pids if i != victim)


# -- the network: latency, blackholes --------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        ("AWSFIS-Run-Network-Latency", {"DelayMilliseconds": "300", "DurationSeconds": "60"}),
        (
            "AWSFIS-Run-Network-Latency-Sources",
            {
                "DelayMilliseconds": "300",
                "JitterMilliseconds": "20",
                "Sources": "DYNAMODB",
                "DurationSeconds": "60",
            },
        ),
    ],
    ids=lambda document: document[0],
)
def test_latency_delays_every_answer_of_the_instance_while_the_action_runs(
    env: LocalEnvironment, document: tuple[str, dict[str, str]]
) -> None:
    api = env.target("api")
    assert seconds_to_answer(api) < 0.2
    rehearsal = start(env, template("api", command(document[0], **document[1])))
    assert 0.28 <= seconds_to_answer(api) < 1.0
    ended(rehearsal)
    assert seconds_to_answer(api) < 0.2
    assert api.active_faults() == []
    rehearsal.revert()
    assert the_action(rehearsal)["state"] == "completed"


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        (
            command(
                "AWSFIS-Run-Network-Blackhole-Port",
                Protocol="tcp",
                Port="8080",
                TrafficType="ingress",
                DurationSeconds="60",
            ),
            "Instances",
        ),
        (
            {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": "PT1M"}},
            "Subnets",
        ),
    ],
    ids=["blackhole-port", "disrupt-connectivity"],
)
def test_a_blackhole_leaves_requests_unanswered_until_the_action_ends(
    env: LocalEnvironment, action: dict[str, Any], kind: str
) -> None:
    api = env.target("api")
    rehearsal = start(env, template("api", action, kind=kind))
    with pytest.raises(TimeoutError):
        get(api.url, timeout=0.5)
    ended(rehearsal)
    assert get(api.url, timeout=2)[0] == 200
    rehearsal.revert()


def test_cpu_stress_runs_burners_beside_the_instance_until_the_action_ends(
    env: LocalEnvironment,
) -> None:
    def burners() -> int:
        count = 0
        for process in family(env.pid):
            try:
                count += "chaoskit-burner" in " ".join(process.cmdline()) and not gone(process)
            except Exception:  # exited while we looked
                continue
        return count

    assert burners() == 0
    action = command("AWSFIS-Run-CPU-Stress", DurationSeconds="60", LoadPercent="50")
    rehearsal = start(env, template("api", action))
    for attempt in retrying(3):
        with attempt:
            assert burners() == 2  # half a load: two burners share the instance's core
    ended(rehearsal)
    for attempt in retrying(3):
        with attempt:
            assert burners() == 0
    rehearsal.revert()


# -- order, refusals, the revert -----------------------------------------------------------


def test_an_action_on_an_instance_an_earlier_action_terminated_fails_as_in_fis(
    env: LocalEnvironment,
) -> None:
    # Targets are resolved once, at the start: the latency is sent to the terminated instance.
    body = template("api", {"actionId": "aws:ec2:terminate-instances"})
    body["actions"]["slow"] = {
        **command("AWSFIS-Run-Network-Latency", DelayMilliseconds="100", DurationSeconds="60"),
        "targets": {"Instances": "Chosen"},
        "startAfter": ["act"],
    }
    rehearsal = start(env, body)
    ended(rehearsal)
    actions = {a["name"]: a for a in rehearsal.details["actions"]}
    assert actions["act"]["state"] == "completed"
    assert actions["slow"]["state"] == "failed"
    assert "no live instance" in actions["slow"]["reason"]
    assert rehearsal.state == "failed" and rehearsal.halt_reason()
    rehearsal.revert()
    assert env.target("api").active_faults() == []


def test_unrehearsable_actions_are_refused_and_nothing_is_touched(env: LocalEnvironment) -> None:
    web = env.target("web")
    before = [(i.id, i.state) for i in web.instances()]
    body = template("web", {"actionId": "aws:ec2:terminate-instances"})
    body["actions"]["failover"] = {"actionId": "aws:rds:failover-db-cluster"}
    fault = faults.FisExperiment(template=body)
    with pytest.raises(ConfigError, match=r"failover \(aws:rds:failover-db-cluster\)"):
        fault.plan(env, random.Random(1))
    assert [(i.id, i.state) for i in web.instances()] == before
    assert web.active_faults() == []


def test_a_revert_in_the_middle_removes_every_effect_at_once(env: LocalEnvironment) -> None:
    api = env.target("api")
    body = template(
        "api",
        command(
            "AWSFIS-Run-Network-Latency", "PT10M", DelayMilliseconds="300", DurationSeconds="600"
        ),
    )
    rehearsal = start(env, body)
    assert len(api.active_faults()) == 1
    began = time.perf_counter()
    rehearsal.revert()
    assert time.perf_counter() - began < 2
    assert api.active_faults() == [] and seconds_to_answer(api) < 0.2
    assert the_action(rehearsal)["state"] == "stopped"
    assert rehearsal.state == "stopped"
