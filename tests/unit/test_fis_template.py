"""FIS templates are checked against botocore's FIS model before anything runs, and every
template chaoskit generates passes the same check with the role, alarms and tag it adds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fis_library import library

from chaoskit import faults
from chaoskit.errors import ConfigError
from chaoskit.faults.fis_builders import (
    api_error_template,
    fis_duration,
    instance_template,
    lambda_template,
    latency_template,
)
from chaoskit.faults.fis_template import FisTemplate, as_create_input, read_template
from chaoskit.providers.aws.fis_runner import FisSettings, prepare_template

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "fis"
ROLE = "arn:aws:iam::111122223333:role/chaos-fis"
ALARM = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-5xx"
INSTANCES = [f"arn:aws:ec2:eu-west-1:111122223333:instance/i-0{n:016x}" for n in range(7)]
FUNCTION = "arn:aws:lambda:eu-west-1:111122223333:function:checkout"
APP_ROLE = "arn:aws:iam::111122223333:role/scaler"


SHARED = library()
SHARED_FILES = sorted(SHARED.glob("*.json")) if SHARED else []
# The published templates FIS would refuse, and the field each is refused for.
SHARED_REJECTED = {
    "mysql-rds-loadtest-failover.json": (
        'Unknown parameter in actions.StopLoadTest: "startAfterDelay"'
    ),
}


@pytest.mark.skipif(SHARED is None, reason="AWS's FIS template library is not beside the repo")
@pytest.mark.parametrize("path", SHARED_FILES, ids=lambda path: path.name)
def test_every_published_template_validates_or_is_refused_naming_its_field(path: Path) -> None:
    if path.name in SHARED_REJECTED:
        with pytest.raises(ConfigError) as refused:
            faults.FisExperiment(template=str(path))
        assert str(path) in str(refused.value)
        assert SHARED_REJECTED[path.name] in str(refused.value)
    else:
        checked = faults.FisExperiment(template=path)
        assert checked.template is not None
        assert checked.template.body["actions"] == json.loads(path.read_text())["actions"]


def test_the_published_library_is_all_there_when_present() -> None:
    if SHARED is None:
        pytest.skip("AWS's FIS template library is not beside the repo")
    assert len(SHARED_FILES) == 23


@pytest.mark.parametrize(
    "name",
    [
        "instances-terminate-then-stop.json",
        "ssm-latency-to-database.json",
        "databases-and-tasks.json",
        "network-and-automation.json",
        "lambda-and-api-errors.yaml",
    ],
)
def test_templates_of_every_action_family_validate(name: str) -> None:
    fault = faults.FisExperiment(template=DATA / name)
    assert fault.template is not None
    assert fault.template.source == str(DATA / name)
    assert fault.describe() == f"FisExperiment {Path(name).stem}"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (
            "bad-target-without-resource-type.json",
            'Missing required parameter in targets.web: "resourceType"',
        ),
        ("bad-action-delay-field.json", 'Unknown parameter in actions.second: "delay"'),
        (
            "bad-undefined-target.json",
            'actions.kill.targets.Instances: names target "webs", which the template does not '
            "define (its targets: web)",
        ),
        ("bad-start-after-cycle.json", "startAfter goes round in a circle (a -> b -> a)"),
        ("bad-not-json.json", "not valid JSON at line 4 column 1"),
    ],
)
def test_a_bad_template_is_refused_naming_the_file_the_field_and_its_place(
    name: str, says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=str(DATA / name))
    assert str(DATA / name) in str(refused.value)
    assert says in str(refused.value)


def test_a_dict_is_checked_as_a_file_is_and_kept_from_later_changes() -> None:
    body = json.loads((DATA / "instances-terminate-then-stop.json").read_text())
    fault = faults.FisExperiment(template=body)
    body["actions"]["kill-web"]["actionId"] = "changed afterwards"
    assert fault.template is not None
    assert fault.template.body["actions"]["kill-web"]["actionId"] == "aws:ec2:terminate-instances"
    del body["roleArn"]
    with pytest.raises(
        ConfigError, match=r'(?s)template dict: .*Missing required parameter in input: "roleArn"'
    ):
        faults.FisExperiment(template=body)


def test_an_id_is_kept_for_planning_and_anything_else_is_refused(tmp_path: Path) -> None:
    assert read_template("EXTa1b2c3de5f6g7h", field="t") == "EXTa1b2c3de5f6g7h"
    fault = faults.FisExperiment(template="EXTa1b2c3de5f6g7h", timeout="90s")
    assert (fault.template, fault.template_id, fault.timeout) == (None, "EXTa1b2c3de5f6g7h", 90.0)
    with pytest.raises(ConfigError, match=r"neither an existing file nor a FIS template id"):
        faults.FisExperiment(template=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match=r"must be a template file path, a dict or a template id"):
        faults.FisExperiment(template=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"FisExperiment\(timeout=0\)"):
        faults.FisExperiment(template="EXTa1b2c3de5f6g7h", timeout=0)


@given(
    st.dictionaries(
        st.sampled_from(["description", "roleArn", "targets", "actions", "stopConditions", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_any_malformed_template_is_a_config_error_never_a_traceback(
    body: dict[str, object],
) -> None:
    try:
        faults.FisExperiment(template=body)
    except ConfigError as error:
        assert str(error).startswith("template dict: ")


def test_limits_botocore_leaves_to_the_service_are_checked() -> None:
    body = json.loads((DATA / "ssm-latency-to-database.json").read_text())
    too_long = json.dumps({"x": "y" * 1100})
    body["actions"]["slow-db"]["parameters"]["documentParameters"] = too_long
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=body)
    assert (
        "Invalid length for parameter actions.slow-db.parameters.documentParameters, value: "
        f"{len(too_long)}, valid max length: 1024"
    ) in str(refused.value)


def test_get_experiment_template_output_becomes_create_input() -> None:
    stored = {
        "id": "EXTa1b2c3de5f6g7h",
        "arn": "arn:aws:fis:eu-west-1:111122223333:experiment-template/EXTa1b2c3de5f6g7h",
        "description": "d",
        "roleArn": ROLE,
        "creationTime": "2026-01-01",
        "targetAccountConfigurationsCount": 0,
        "stopConditions": [{"source": "none"}],
        "actions": {"w": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}},
        "experimentOptions": {
            "accountTargeting": "single-account",
            "emptyTargetResolutionMode": "skip",
        },
    }
    created = as_create_input(stored)
    assert set(created) == {
        "description",
        "roleArn",
        "stopConditions",
        "actions",
        "experimentOptions",
    }


# -- what chaoskit generates ------------------------------------------------------------------


def _as_created(body: dict[str, object]) -> FisTemplate:
    """What the runner sends: role, alarms and tag added, validated on the way."""
    prepared = prepare_template(
        body, FisSettings(role_arn=ROLE, run_id="run-1", stop_alarm_arns=(ALARM,))
    )
    return FisTemplate(body=prepared, source="generated")


GENERATED = {
    "terminate": lambda: instance_template("terminate", INSTANCES[:2], description="t"),
    "stop": lambda: instance_template("stop", INSTANCES[:1], description="s", restart_after=20),
    "reboot": lambda: instance_template("reboot", INSTANCES, description="r"),
    "latency": lambda: latency_template(INSTANCES[:1], description="l", delay=0.2, duration=20),
    "latency-sources": lambda: latency_template(
        INSTANCES[:1], description="l", delay=0.2, jitter=0.02, duration=90, sources=["S3"]
    ),
    "lambda-delay": lambda: lambda_template(
        [FUNCTION], description="d", duration=30, percent=50, startup_delay=1.5
    ),
    "lambda-error": lambda: lambda_template(
        [FUNCTION], description="e", duration=30, percent=10, prevent_execution=True
    ),
    **{
        f"api-{kind}": (
            lambda kind=kind: api_error_template(
                kind,
                [APP_ROLE],
                description="a",
                service="ec2",
                operations=["RunInstances"],
                percent=25,
                duration=3600,
            )
        )
        for kind in ("throttle", "internal", "unavailable")
    },
}


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_every_generated_template_validates_and_ends_by_itself(kind: str) -> None:
    created = _as_created(GENERATED[kind]())
    assert created.body["roleArn"] == ROLE
    assert created.body["stopConditions"] == [{"source": "aws:cloudwatch:alarm", "value": ALARM}]
    assert created.body["tags"] == {"chaoskit:run-id": "run-1"}
    for action in created.body["actions"].values():
        parameters = action.get("parameters", {})
        if action["actionId"] in ("aws:ec2:terminate-instances", "aws:ec2:reboot-instances"):
            assert parameters == {}  # one API call each: over as soon as it is made
        elif action["actionId"] == "aws:ec2:stop-instances":
            assert parameters == {"startInstancesAfterDuration": "PT1M"}
        else:
            assert parameters["duration"].startswith("PT")


def test_more_instances_than_a_target_holds_are_split_over_parallel_actions() -> None:
    body = instance_template("reboot", INSTANCES, description="r")
    assert [t["resourceArns"] for t in body["targets"].values()] == [INSTANCES[:5], INSTANCES[5:]]
    assert [a["targets"]["Instances"] for a in body["actions"].values()] == list(body["targets"])
    assert not any("startAfter" in a for a in body["actions"].values())


def test_latency_runs_the_fis_document_for_no_longer_than_the_hold() -> None:
    plain = latency_template(INSTANCES[:1], description="l", delay=0.2, duration=20.5)
    action = plain["actions"]["chaoskit-action"]
    assert action["parameters"]["documentArn"] == (
        "arn:aws:ssm:eu-west-1::document/AWSFIS-Run-Network-Latency"
    )
    assert json.loads(action["parameters"]["documentParameters"]) == {
        "DelayMilliseconds": "200",
        "DurationSeconds": "21",
        "InstallDependencies": "True",
    }
    assert action["parameters"]["duration"] == "PT1M"
    to_s3 = latency_template(
        INSTANCES[:1],
        description="l",
        delay=0.05,
        jitter=0.01,
        duration=600,
        sources=["S3", "10.0.0.0/16"],
    )
    parameters = to_s3["actions"]["chaoskit-action"]["parameters"]
    assert parameters["documentArn"].endswith("document/AWSFIS-Run-Network-Latency-Sources")
    assert json.loads(parameters["documentParameters"]) == {
        "DelayMilliseconds": "50",
        "JitterMilliseconds": "10",
        "Sources": "S3,10.0.0.0/16",
        "TrafficType": "egress",
        "DurationSeconds": "600",
        "InstallDependencies": "True",
    }
    assert parameters["duration"] == "PT10M"


def test_fis_durations_are_whole_minutes_within_fis_limits() -> None:
    assert [fis_duration(s, field="d") for s in (1, 60, 61, 3600)] == [
        "PT1M",
        "PT1M",
        "PT2M",
        "PT1H",
    ]
    with pytest.raises(ConfigError, match=r"from 1 minute to 12 hours"):
        fis_duration(12 * 3600 + 1, field="d")
    with pytest.raises(ConfigError, match=r"needs restart_after"):
        instance_template("stop", INSTANCES[:1], description="s")


def test_generated_fault_values_refuse_what_fis_would() -> None:
    with pytest.raises(ConfigError, match=r"LambdaDelay\(functions='checkout'\): give the ARNs"):
        faults.LambdaDelay(functions="checkout", delay="1s")
    with pytest.raises(ConfigError, match=r"LambdaDelay\(delay='16m'\)"):
        faults.LambdaDelay(functions=FUNCTION, delay="16m")
    with pytest.raises(ConfigError, match=r"LambdaErrors\(percent=0\)"):
        faults.LambdaErrors(functions=[FUNCTION], percent=0)
    with pytest.raises(ConfigError, match=r"ApiThrottle\(service='s3'\)"):
        faults.ApiThrottle(roles=APP_ROLE, operations="GetObject", service="s3")
    with pytest.raises(ConfigError, match=r"ApiUnavailable\(max_duration='13h'\)"):
        faults.ApiUnavailable(roles=APP_ROLE, operations="RunInstances", max_duration="13h")
    delay = faults.LambdaDelay(functions=FUNCTION, delay="1500ms", percent=50, max_duration="2m")
    parameters = delay.template()["actions"]["chaoskit-action"]["parameters"]
    assert parameters == {
        "duration": "PT2M",
        "invocationPercentage": "50",
        "startupDelayMilliseconds": "1500",
    }
    internal = faults.ApiInternalError(
        roles=[APP_ROLE], operations=["RunInstances", "StartInstances"]
    )
    action = internal.template()["actions"]["chaoskit-action"]
    assert action["actionId"] == "aws:fis:inject-api-internal-error"
    assert action["parameters"]["operations"] == "RunInstances,StartInstances"


def send_command(document: str, **parameters: str) -> dict[str, object]:
    return {
        "description": "an SSM document on one instance",
        "roleArn": ROLE,
        "stopConditions": [{"source": "none"}],
        "targets": {
            "One": {
                "resourceType": "aws:ec2:instance",
                "resourceArns": INSTANCES[:1],
                "selectionMode": "ALL",
            }
        },
        "actions": {
            "run": {
                "actionId": "aws:ssm:send-command",
                "parameters": {
                    "documentArn": f"arn:aws:ssm:eu-west-1::document/{document}",
                    "documentParameters": json.dumps(parameters),
                    "duration": "PT1M",
                },
                "targets": {"Instances": "One"},
            }
        },
    }


def test_a_document_parameter_the_document_does_not_take_is_refused_naming_what_it_takes() -> None:
    # SSM refuses a command with a parameter its document does not declare; the plain
    # latency document has no jitter (the -Sources variant has).
    body = send_command(
        "AWSFIS-Run-Network-Latency",
        DelayMilliseconds="100",
        JitterMilliseconds="20",
        DurationSeconds="60",
    )
    with pytest.raises(ConfigError) as refused:
        faults.FisExperiment(template=body)
    message = str(refused.value)
    assert "actions.run.parameters.documentParameters" in message
    assert "AWSFIS-Run-Network-Latency does not take JitterMilliseconds" in message
    assert "it takes DelayMilliseconds, DurationSeconds, InstallDependencies, Interface" in message
    assert "AWSFIS-Run-Network-Latency-Sources" in message  # where jitter is taken
    # What each document declares passes.
    faults.FisExperiment(
        template=send_command(
            "AWSFIS-Run-Network-Latency-Sources",
            DelayMilliseconds="100",
            JitterMilliseconds="20",
            Sources="ALL",
            DurationSeconds="60",
        )
    )
    faults.FisExperiment(
        template=send_command("AWSFIS-Run-Kill-Process", ProcessName="shop", Signal="SIGKILL")
    )


def test_the_example_templates_take_only_what_their_documents_declare() -> None:
    for path in sorted((ROOT / "experiments" / "fis").glob("*.json")):
        faults.FisExperiment(template=path)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        (
            lambda body: body["actions"]["run"]["parameters"].update(duration="5 minutes"),
            "actions.run.parameters.duration='5 minutes' is not an ISO 8601 duration",
        ),
        (
            lambda body: body["targets"]["One"].update(selectionMode="SOME(2)"),
            "targets.One.selectionMode='SOME(2)' is not a FIS selection mode",
        ),
        (
            lambda body: body["targets"]["One"].update(selectionMode="PERCENT(150)"),
            "targets.One.selectionMode='PERCENT(150)': PERCENT(n) takes n above 0",
        ),
    ],
)
def test_durations_and_selection_modes_are_checked_when_the_template_is(
    change: Any, refused: str
) -> None:
    body = send_command("AWSFIS-Run-CPU-Stress", DurationSeconds="60")
    change(body)
    with pytest.raises(ConfigError) as caught:
        faults.FisExperiment(template=body)
    assert refused in str(caught.value)
    assert "FIS would refuse it" in str(caught.value)


def test_the_readmes_template_paths_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    paths = set(re.findall(r"experiments/fis/[\w.-]+\.json", readme))
    assert paths
    for path in paths:
        assert (ROOT / path).is_file(), path
