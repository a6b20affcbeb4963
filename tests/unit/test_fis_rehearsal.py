"""FIS templates rehearsed on an environment of fakes: targets resolved by tags, filters and
seeded selection modes, actions run as a startAfter graph in FIS's states, unrehearsable
actions refused before anything is injected, failures and stops as FIS reports them.

The local system itself is exercised in tests/integration/test_fis_rehearsal_local.py; here
the actions run in real time at a small time scale (a template minute takes 0.1 to 0.6 s).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit import faults, slo
from chaoskit.errors import ConfigError, InjectionError
from chaoskit.experiment import Experiment, ExperimentSettings, JournalWriter
from chaoskit.faults.fis_rehearsal import (
    Rehearsal,
    format_iso_duration,
    parse_iso_duration,
    selection_count,
)
from chaoskit.faults.fis_rehearsal.run import _wait
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver, FakeTarget, Traffic

ROLE = "arn:aws:iam::123456789012:role/fis"
ALARM = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-5xx"
LATENCY_DOC = "arn:aws:ssm:eu-west-1::document/AWSFIS-Run-Network-Latency"
SHOP = {"app": "shop", "tier": "web"}


def template(
    actions: Mapping[str, Any],
    targets: Mapping[str, Any] | None = None,
    **more: Any,
) -> dict[str, Any]:
    return {
        "description": "rehearsed in a unit test",
        "roleArn": ROLE,
        "stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM}],
        "targets": targets
        if targets is not None
        else {
            "Web": {
                "resourceType": "aws:ec2:instance",
                "resourceTags": {"tier": "web"},
                "selectionMode": "COUNT(1)",
            }
        },
        "actions": actions,
        **more,
    }


def latency(after: tuple[str, ...] = (), *, duration: str = "PT1M", target: str = "Web") -> Any:
    return {
        "actionId": "aws:ssm:send-command",
        "targets": {"Instances": target},
        "startAfter": list(after),
        "parameters": {
            "documentArn": LATENCY_DOC,
            "documentParameters": '{"DelayMilliseconds": "150", "DurationSeconds": "60"}',
            "duration": duration,
        },
    }


def wait(duration: str, after: tuple[str, ...] = ()) -> Any:
    return {
        "actionId": "aws:fis:wait",
        "parameters": {"duration": duration},
        "startAfter": list(after),
    }


def shop(size: int = 4, **more: Any) -> FakeEnvironment:
    return FakeEnvironment(targets={"web": FakeTarget(name="web", size=size, tags=SHOP, **more)})


def rehearse(
    body: Mapping[str, Any], env: FakeEnvironment, seed: int = 1, **settings: Any
) -> Rehearsal:
    fault = faults.FisExperiment(template=body, **settings)
    injection = fault.inject(fault.plan(env, random.Random(seed)), env)
    assert isinstance(injection, Rehearsal)
    return injection


def finished(rehearsal: Rehearsal, seconds: float = 5.0) -> dict[str, dict[str, Any]]:
    """Each action's record once the rehearsal ended by itself (reverted then)."""
    assert _wait(
        seconds, until=lambda: rehearsal.state in ("completed", "stopped", "failed"), wake=None
    )
    rehearsal.revert()
    return {a["name"]: a for a in rehearsal.details["actions"]}


# -- ISO 8601 durations --------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=12 * 3600), st.integers(min_value=0, max_value=999))
def test_an_iso_duration_reads_back_as_the_seconds_it_was_written_from(whole: int, ms: int) -> None:
    seconds = whole + ms / 1000
    assert parse_iso_duration(format_iso_duration(seconds), field="d") == pytest.approx(seconds)


@given(
    st.integers(0, 3),
    st.integers(0, 30),
    st.integers(0, 48),
    st.integers(0, 120),
    st.integers(0, 120),
)
def test_every_part_of_an_iso_duration_counts(w: int, d: int, h: int, m: int, s: int) -> None:
    text = "P" + (f"{w}W" if w else "") + (f"{d}D" if d else "") + f"T{h}H{m}M{s}S"
    assert parse_iso_duration(text, field="d") == w * 604800 + d * 86400 + h * 3600 + m * 60 + s


@given(
    st.text(max_size=12).filter(lambda t: not t.startswith("P"))
    | st.sampled_from(["P", "PT", "P1Y", "PT5", "PT1M5", "PTM"])
)
def test_anything_else_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match=r"actions\.a\.parameters\.duration=.*ISO 8601"):
        parse_iso_duration(text, field="actions.a.parameters.duration")


@pytest.mark.parametrize("text", ["PT" + "9" * 1_000_001 + "S", "PT" + "9" * 400 + "S"])
def test_a_duration_past_any_number_is_refused_naming_the_field(text: str) -> None:
    # A million digits overflow decimal arithmetic; four hundred, a float.
    with pytest.raises(ConfigError, match=r"actions\.a\.parameters\.duration='PT9999"):
        parse_iso_duration(text, field="actions.a.parameters.duration")


# -- selection modes -------------------------------------------------------------------------


@given(st.integers(0, 500), st.integers(1, 1000), st.integers(1, 100))
def test_selection_counts_stay_within_what_was_identified(identified: int, n: int, p: int) -> None:
    assert selection_count("ALL", identified) == identified
    assert selection_count(f"COUNT({n})", identified) == min(n, identified)
    picked = selection_count(f"PERCENT({p})", identified)
    assert 0 <= picked <= identified
    assert (picked >= 1) == (identified >= 1)  # a share of a non-empty set is never nobody
    assert picked >= identified * p / 100  # rounded up
    assert selection_count(f"PERCENT({min(100, p + 1)})", identified) >= picked


@pytest.mark.parametrize("mode", ["SOME", "COUNT(-1)", "PERCENT(0)", "PERCENT(101)", "count(1)"])
def test_a_bad_selection_mode_is_refused_by_name(mode: str) -> None:
    with pytest.raises(ConfigError, match=r"targets\.Web\.selectionMode"):
        selection_count(mode, 3, field="targets.Web.selectionMode")


def test_a_seed_repeats_the_choice_and_other_seeds_vary_it() -> None:
    body = template({"slow": latency()})
    chosen = {}
    for seed in range(12):
        plan = faults.FisExperiment(template=body).plan(shop(6), random.Random(seed))
        again = faults.FisExperiment(template=body).plan(shop(6), random.Random(seed))
        assert plan.instance_ids == again.instance_ids and len(plan.instance_ids) == 1
        chosen[seed] = plan.instance_ids
    assert len(set(chosen.values())) > 2


def test_tags_filters_and_percent_narrow_the_instances() -> None:
    env = FakeEnvironment(
        targets={
            "web": FakeTarget(
                name="web", size=6, tags=SHOP, replica_tags=[{"zone": "a"}, {"zone": "b"}]
            ),
            "db": FakeTarget(name="db", size=2, tags={"app": "shop", "tier": "db"}),
        }
    )
    env.targets["web"].states["i-000000000000"] = "healthy"
    targets = {
        "Web": {
            "resourceType": "aws:ec2:instance",
            "resourceTags": {"app": "shop"},
            "filters": [
                {"path": "zone", "values": ["a"]},
                {"path": "State.Name", "values": ["running"]},
            ],
            "selectionMode": "PERCENT(50)",
        }
    }
    env.targets["web"].faults["stop-x"] = ("i-000000000002",)  # stopped: not "running"
    plan = faults.FisExperiment(template=template({"slow": latency()}, targets)).plan(
        env, random.Random(2)
    )
    # zone a is slots 0, 2, 4; slot 2 is stopped; 50% of the two left is one.
    assert len(plan.instance_ids) == 1 and plan.instance_ids[0] in (
        "i-000000000000",
        "i-000000000004",
    )
    assert "target Web (tagged app=shop): 1 of 2" in plan.preview[1]


def test_a_mapped_target_stands_for_the_template_target_whatever_its_tags() -> None:
    body = template(
        {"slow": latency()},
        {
            "Web": {
                "resourceType": "aws:ec2:instance",
                "resourceTags": {"FIS-Ready": "True"},
                "selectionMode": "ALL",
            }
        },
    )
    plan = faults.FisExperiment(template=body, targets={"Web": "web"}).plan(
        shop(3), random.Random(1)
    )
    assert len(plan.instance_ids) == 3
    with pytest.raises(ConfigError, match=r"no target 'Webs'.*its targets are Web"):
        faults.FisExperiment(template=body, targets={"Webs": "web"}).plan(shop(), random.Random(1))


# -- refusals before anything is injected --------------------------------------------------


def test_unrehearsable_actions_are_refused_by_name_before_anything_is_injected() -> None:
    env = shop()
    body = template(
        {
            "kill": {"actionId": "aws:ec2:terminate-instances", "targets": {"Instances": "Web"}},
            "failover": {"actionId": "aws:rds:failover-db-cluster"},
            "iis": {
                "actionId": "aws:ssm:send-command",
                "targets": {"Instances": "Web"},
                "parameters": {
                    "documentArn": "arn:aws:ssm:eu-west-1:1:document/StopIISAppPool",
                    "duration": "PT1M",
                },
            },
        }
    )
    fault = faults.FisExperiment(template=body)
    with pytest.raises(ConfigError) as refused:
        fault.plan(env, random.Random(1))
    message = str(refused.value)
    assert "2 action(s) cannot be rehearsed" in message
    assert "failover (aws:rds:failover-db-cluster): acts on rds resources" in message
    assert "iis (aws:ssm:send-command): runs SSM document StopIISAppPool" in message
    assert "kill" not in message.split("rehearsed")[1].split("Map each")[0]
    assert "Nothing was injected" in message
    assert env.targets["web"].terminated == [] and env.targets["web"].faults == {}


def test_skipped_and_mapped_actions_run_in_their_place() -> None:
    env = shop()
    body = template(
        {
            "failover": {"actionId": "aws:rds:failover-db-cluster"},
            "dynamo": {
                "actionId": "aws:dynamodb:global-table-pause-replication",
                "parameters": {"duration": "PT1M"},
            },
            "slow": latency(after=("failover",)),
        }
    )
    rebooting = faults.RebootInstances(target="web")
    rehearsal = rehearse(
        body, env, time_scale=1 / 600, unsupported="skip", actions={"failover": rebooting}
    )
    actions = finished(rehearsal)
    assert actions["dynamo"]["state"] == "skipped" and "dynamodb" in actions["dynamo"]["reason"]
    assert actions["failover"]["state"] == "completed"
    assert actions["failover"]["effect"] == "RebootInstances 1 of web (mapped)"
    assert len(env.targets["web"].rebooted) == 1
    assert actions["slow"]["state"] == "completed"
    assert rehearsal.state == "completed"


def test_a_template_named_by_id_cannot_be_rehearsed() -> None:
    with pytest.raises(ConfigError, match="only an AWS account holds"):
        faults.FisExperiment(template="EXTa1b2c3de5f6g7h").plan(shop(), random.Random(1))


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"time_scale": 0}, "time_scale=0"),
        ({"time_scale": 2}, "time_scale=2"),
        ({"unsupported": "ignore"}, "unsupported='ignore'"),
        ({"stop_conditions": {"web-5xx": "errors<<5%"}}, "stop_conditions['web-5xx']"),
        ({"stop_conditions": {"web-5xx": 5}}, "stop_conditions['web-5xx']=5"),
        ({"targets": {"Web": 3}}, "targets={'Web': 3}"),
        ({"actions": {"slow": "latency"}}, "actions['slow']='latency'"),
    ],
)
def test_bad_rehearsal_settings_are_refused_naming_the_argument(settings: Any, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=template({"slow": latency()}), **settings)
    assert named in str(refused.value)


def test_a_stop_condition_must_name_an_alarm_of_the_template() -> None:
    fault = faults.FisExperiment(
        template=template({"slow": latency()}), stop_conditions={"web-500": "errors<5%"}
    )
    with pytest.raises(
        ConfigError, match="no stop condition on alarm 'web-500'; its alarms are web-5xx"
    ):
        fault.plan(shop(), random.Random(1))
    unmapped = faults.FisExperiment(template=template({"slow": latency()})).plan(
        shop(), random.Random(1)
    )
    assert any("web-5xx: not watched" in line for line in unmapped.preview)


def test_an_empty_target_fails_the_experiment_as_fis_would_unless_it_is_skipped() -> None:
    targets = {
        "Db": {
            "resourceType": "aws:ec2:instance",
            "resourceTags": {"tier": "db"},
            "selectionMode": "ALL",
        }
    }
    body = template(
        {"kill": {"actionId": "aws:ec2:terminate-instances", "targets": {"Instances": "Db"}}},
        targets,
    )
    env = shop()
    with pytest.raises(
        InjectionError, match=r"Target resolution of Db \(tagged tier=db\) found no resources"
    ):
        rehearse(body, env)
    skipping = {**body, "experimentOptions": {"emptyTargetResolutionMode": "skip"}}
    actions = finished(rehearse(skipping, env))
    assert actions["kill"]["state"] == "skipped"
    assert env.targets["web"].terminated == []


# -- the graph, its states, failures and stops -----------------------------------------------


def test_actions_start_after_those_they_name_and_the_others_in_parallel() -> None:
    env = shop()
    body = template(
        {
            "first": wait("PT1M"),
            "beside": wait("PT2M"),
            "slow": latency(after=("first",)),
            "last": wait("PT30S", after=("slow", "beside")),
        }
    )
    rehearsal = rehearse(body, env, time_scale=1 / 300)  # a minute: 0.2 s
    actions = finished(rehearsal)
    assert all(a["state"] == "completed" for a in actions.values())
    # In parallel: each started before the other ended (each lasts 0.2 s or more).
    assert actions["beside"]["started"] < actions["first"]["ended"]
    assert actions["first"]["started"] < actions["beside"]["ended"]
    assert actions["slow"]["started"] >= actions["first"]["ended"]
    assert actions["last"]["started"] >= max(actions["slow"]["ended"], actions["beside"]["ended"])
    assert actions["slow"]["ended"] - actions["slow"]["started"] == pytest.approx(0.2, abs=0.1)
    assert actions["slow"]["planned_start"] == pytest.approx(0.2)
    # The latency was on the chosen instance while it ran, and is gone.
    assert actions["slow"]["effect_started"] and actions["slow"]["effect_ended"]
    assert env.targets["web"].faults == {}


def test_a_failed_action_fails_the_experiment_and_cancels_what_follows() -> None:
    env = shop(fail_actions=True)
    body = template(
        {
            "pause": wait("PT1M"),
            "stop": {
                "actionId": "aws:ec2:stop-instances",
                "targets": {"Instances": "Web"},
                "startAfter": ["pause"],
                "parameters": {"startInstancesAfterDuration": "PT1M"},
            },
            "then": wait("PT1M", after=("stop",)),
        }
    )
    rehearsal = rehearse(body, env, time_scale=1 / 600)
    actions = finished(rehearsal)
    assert actions["stop"]["state"] == "failed" and "refused to stop" in actions["stop"]["reason"]
    assert (
        actions["then"]["state"] == "cancelled" and actions["then"]["reason"] == "stop ended failed"
    )
    assert rehearsal.state == "failed"
    assert "action stop failed" in (rehearsal.halt_reason() or "")


def test_a_stop_rolls_back_what_runs_and_cancels_what_has_not_started() -> None:
    env = shop()
    body = template({"slow": latency(duration="PT10M"), "later": wait("PT1M", after=("slow",))})
    rehearsal = rehearse(body, env, time_scale=1 / 60)  # the latency would last 10 s
    assert rehearsal.state == "running" and len(env.targets["web"].faults) == 1
    rehearsal.stop("halted by stop condition web-5xx after 3 breaching seconds in a row")
    actions = finished(rehearsal)
    assert actions["slow"]["state"] == "stopped" and "web-5xx" in actions["slow"]["reason"]
    assert actions["later"]["state"] == "cancelled"
    assert rehearsal.state == "stopped"
    assert env.targets["web"].faults == {}
    assert actions["slow"]["ended"] - actions["slow"]["started"] < 2


def test_a_stop_without_restart_lasts_until_the_revert_which_waits_for_capacity() -> None:
    env = shop()
    body = template(
        {
            "stop": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "Web"}},
            "spot": {
                "actionId": "aws:ec2:send-spot-instance-interruptions",
                "targets": {"SpotInstances": "Web"},
                "parameters": {"durationBeforeInterruption": "PT2M"},
            },
        }
    )
    rehearsal = rehearse(body, env, seed=3, time_scale=1 / 600)
    actions = {a["name"]: a for a in rehearsal.details["actions"]}
    assert [i.state for i in env.targets["web"].instances()].count("stopped") == 1
    actions = finished(rehearsal)
    assert actions["stop"]["state"] == "completed"
    assert actions["spot"]["effect_started"] - actions["spot"]["started"] >= 0.2 - 0.05
    assert env.targets["web"].faults == {}  # started again by the revert


def test_a_stop_condition_breached_halts_the_experiment_through_the_guardrail(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    injected: list[float] = []
    run = Experiment(
        settings=ExperimentSettings(
            name="rehearsed",
            objectives=(slo.parse("p99<300ms"),),
            baseline=8.0,
            recovery=6.0,
            allow_inconclusive=True,
        ),
        env=shop(),
        # 20% of requests fail from 3 s into the hold.
        load=FakeLoadDriver(
            lambda second: Traffic(
                error_ratio=0.2 if injected and second >= injected[0] + 3 else 0.0
            )
        ),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(1),
    )
    fault = faults.FisExperiment(
        template=template({"slow": latency(duration="PT10M")}),
        stop_conditions={"web-5xx": "errors<5%"},
        time_scale=1 / 60,
    )

    def body(chaos: Experiment) -> None:
        injected.append(clock.now())
        chaos.inject(fault, hold="30s")

    result = run.run(body)
    assert result.cause == "halted", result.reason
    assert result.reason.startswith("halted by stop condition web-5xx after 3 breaching seconds")
    [record] = result.injections
    assert record.details["state"]["status"] == "stopped"
    assert "stop condition web-5xx" in record.details["state"]["reason"]
    [slow] = record.details["actions"]
    assert slow["state"] == "stopped"
    assert result.injections[0].status == "reverted"
