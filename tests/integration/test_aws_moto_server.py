"""Whole runs against an AWS environment served by moto on 127.0.0.1, in processes of their
own, as a user would run them: `pytest --chaos-env staging ...` and `chaoskit recover`.

The server is seeded by docs/aws/seed_moto.py, the script docs/aws.md tells users to run. The
load and the lifecycle's clock are chaoskit.testing's fakes (through the plugin's hooks):
what is tested here is the AWS side. Where moto differs from AWS, it is said where it matters.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from tests import aws_fleet

pytestmark = pytest.mark.integration

CONFTEST = """
from chaoskit.testing import FakeClock, FakeLoadDriver

def pytest_chaoskit_make_load_driver(config, spec, url):
    return FakeLoadDriver()

def pytest_chaoskit_clock(config):
    return FakeClock()
"""
HEADER = """
import time
from pathlib import Path

import pytest
from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust("locustfile.py", users=5),
    steady_state=[slo.error_rate(below="1%")],
    baseline="5s",
    recovery="5s",
)
"""


# An FIS template that only waits (ten minutes): an experiment that runs until stopped.
WAIT_TEMPLATE = """
WAIT = {
    "description": "wait",
    "roleArn": "arn:aws:iam::123456789012:role/team",
    "stopConditions": [{"source": "none"}],
    "actions": {"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT10M"}}},
}
"""


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in aws_fleet.CREDENTIALS.items():  # for this process's own look at it
        monkeypatch.setenv(key, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its state in the process, whichever server serves it: start from nothing.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    # Its FIS transition settings are global to the server and survive a reset: back to the
    # default (one state per GetExperiment), before and after.
    _default_fis_transitions(url)
    try:
        seeded = subprocess.run(
            [sys.executable, str(aws_fleet.SEED_SCRIPT), url],
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seeded.returncode == 0, seeded.stderr
        assert seeded.stdout.count("tier=web group=shop-web") == 3
        yield url
    finally:
        _default_fis_transitions(url)
        server.stop()


def _default_fis_transitions(url: str) -> None:
    request = urllib.request.Request(
        f"{url}/moto-api/state-manager/unset-transition",
        data=json.dumps({"model_name": "fis::experiment"}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request)


def _environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "PYTEST_ADDOPTS"
    }
    return {**environment, **aws_fleet.CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}


def _project(
    tmp_path: Path,
    url: str,
    body: str,
    accounts: str = '"123456789012"',
    instance_faults: str = "ec2",
) -> Path:
    role = 'fis_role_arn = "arn:aws:iam::123456789012:role/chaoskit-fis"'
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.chaoskit.env.staging]
            provider = "aws"
            region = "eu-west-1"
            endpoint_url = "{url}"
            allowed_accounts = [{accounts}]
            instance_faults = "{instance_faults}"
            {role if instance_faults == "fis" else ""}
            [tool.chaoskit.env.staging.targets.web]
            resource_type = "aws:ec2:instance"
            tags = {{ app = "shop", tier = "web" }}
            max_count = 1
            url = "http://127.0.0.1:1"
            """
        )
    )
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "locustfile.py").write_text("")
    (tmp_path / "test_experiment.py").write_text(HEADER + textwrap.dedent(body))
    return tmp_path


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--chaos-env", "staging", *args],
        cwd=project,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _recover(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit.cli", "recover", "--dir", "reports"],
        cwd=project,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


TERMINATE = """
def test_survives_losing_one_instance(chaos):
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
"""


def test_a_dry_run_changes_nothing_and_the_run_hits_the_instance_it_named(
    moto_server: str, tmp_path: Path
) -> None:
    project = _project(tmp_path, moto_server, TERMINATE)
    before = aws_fleet.states(moto_server)

    planned = _pytest(project, "--chaos-dry-run", "--chaos-seed", "7", "-rs")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    # Once as progress, once in the skip reason (-rs): the same instance.
    [victim] = set(
        re.findall(r"would inject TerminateInstances 1 of web on (i-\w+)", planned.stdout)
    )
    assert victim in aws_fleet.tier(moto_server, "web")
    assert aws_fleet.states(moto_server) == before  # a dry-run writes nothing

    ran = _pytest(project, "--chaos-allow-destructive", "--chaos-seed", "7")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"inject TerminateInstances 1 of web -> {victim}" in ran.stdout
    assert aws_fleet.states(moto_server)[victim] == "terminated"
    # moto's group replaced it at once (AWS takes minutes): whole at the revert's first look,
    # when it became whole is not known, and no time to self-heal is claimed.
    assert "reverted TerminateInstances 1 of web" in ran.stdout
    assert "healthy capacity again" not in ran.stdout
    journal = next((project / "reports" / "journals").glob("*.jsonl")).read_text().splitlines()
    started = json.loads(journal[0])
    assert started["settings"]["endpoint_url"] == moto_server
    assert started["settings"]["account"] == "123456789012"
    result = json.loads(next((project / "reports").glob("chaoskit-*.json")).read_text())
    [injection] = result["experiments"][0]["injections"]
    assert "time_to_self_heal" not in injection["details"]


def test_another_account_stops_the_run_before_anything_is_touched(
    moto_server: str, tmp_path: Path
) -> None:
    project = _project(
        tmp_path, moto_server, TERMINATE + TERMINATE.replace("losing", "again"), '"111111111111"'
    )
    before = aws_fleet.states(moto_server)
    ran = _pytest(project, "--chaos-allow-destructive")
    assert ran.returncode != 0
    assert (
        "environment 'staging': the credentials in use reach AWS account 123456789012 as "
        "arn:aws:sts::123456789012:user/moto, which is not in allowed_accounts "
        "['111111111111'] of [tool.chaoskit.env.staging]; nothing was touched."
    ) in ran.stdout
    assert "1 error" in ran.stdout and "Interrupted" in ran.stdout  # the second never ran
    assert aws_fleet.states(moto_server) == before


def test_recover_starts_what_a_killed_run_stopped_and_then_finds_nothing(
    moto_server: str, tmp_path: Path
) -> None:
    project = _project(
        tmp_path,
        moto_server,
        """
        def test_stop_one(chaos):
            chaos.inject(faults.StopInstances(target="web"))
            Path("injected").write_text("yes")
            time.sleep(300)
        """,
    )
    _run_and_kill(project)
    [stopped] = [i for i, state in aws_fleet.states(moto_server).items() if state == "stopped"]

    recovered = _recover(project)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert (
        f"settled StopInstances 1 of web on {stopped} (staging): started {stopped}"
        in recovered.stdout
    )
    assert aws_fleet.states(moto_server)[stopped] == "running"

    again = _recover(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to recover" in again.stdout


def test_recover_stops_the_fis_experiments_of_a_run_killed_during_the_hold(
    moto_server: str, tmp_path: Path
) -> None:
    project = _project(
        tmp_path,
        moto_server,
        WAIT_TEMPLATE
        + textwrap.dedent(
            """
        def test_stop_one_through_fis(chaos):
            # Held until the block ends: the run is killed in it.
            with chaos.inject(faults.StopInstances(target="web")):
                with chaos.inject(faults.FisExperiment(template=WAIT)):
                    Path("injected").write_text("yes")
                    time.sleep(300)
        """
        ),
        instance_faults="fis",
    )
    _run_and_kill(project)
    fis = aws_fleet.client("fis", moto_server)
    # ListExperiments moves no experiment on (moto moves one state per GetExperiment).
    running = {e["id"]: e for e in fis.list_experiments()["experiments"]}
    assert [e["state"]["status"] for e in running.values()] == ["running", "running"]
    assert all(e["tags"]["chaoskit:run-id"] for e in running.values())
    assert len(fis.list_experiment_templates()["experimentTemplates"]) == 2

    recovered = _recover(project)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    # moto's FIS stopped nothing, so there was nothing to start again.
    assert re.search(
        r"settled StopInstances 1 of web on (i-\w+) \(staging\): stopped FIS experiment \w+; "
        r"deleted its template \w+; \1 not stopped: nothing to start",
        recovered.stdout,
    )
    assert re.search(r"settled FisExperiment wait on .*: stopped FIS", recovered.stdout)
    statuses = {e["id"]: e["state"]["status"] for e in fis.list_experiments()["experiments"]}
    assert statuses == dict.fromkeys(running, "stopped")
    assert fis.list_experiment_templates()["experimentTemplates"] == []
    assert set(aws_fleet.states(moto_server).values()) == {"running"}

    again = _recover(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to recover" in again.stdout


def _run_and_kill(project: Path) -> None:
    """Run the project's experiment, and SIGKILL it once its body wrote ``injected``: nothing
    of a killed run reverts anything."""
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--chaos-env",
            "staging",
            "--chaos-allow-destructive",
        ],
        cwd=project,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (project / "injected").exists():
            assert run.poll() is None, "the run ended before injecting"
            assert time.monotonic() < deadline, "the run did not inject within 120 s"
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        run.wait(timeout=30)


def test_the_emergency_stop_stops_the_tagged_fis_experiments_of_every_aws_environment(
    moto_server: str, tmp_path: Path
) -> None:
    project = _project(
        tmp_path,
        moto_server,
        WAIT_TEMPLATE
        + textwrap.dedent(
            """
        def test_hold_a_fis_experiment(chaos):
            with chaos.inject(faults.FisExperiment(template=WAIT)):
                Path("injected").write_text("yes")
                time.sleep(300)
        """
        ),
        instance_faults="fis",
    )
    _run_and_kill(project)  # no run is left to halt: only its FIS experiment still runs
    fis = aws_fleet.client("fis", moto_server)
    [running] = fis.list_experiments()["experiments"]
    assert running["state"]["status"] == "running"

    stopped = subprocess.run(
        [sys.executable, "-m", "chaoskit.cli", "stop", "--dir", "reports"],
        cwd=project,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopped FIS experiment {running['id']}" in stopped.stdout
    assert "in environment 'staging'" in stopped.stdout
    [after] = fis.list_experiments()["experiments"]
    assert after["state"]["status"] == "stopped"
