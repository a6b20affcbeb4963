"""Whole experiments on real processes: the local system, locust workers, the plugin.

Short phases keep this quick; the objectives use p95 so that a few seconds hold enough samples.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from chaoskit.experiment import read_events, unreverted_intents

pytestmark = pytest.mark.integration

LOCUSTFILE = Path(__file__).resolve().parents[2] / "experiments" / "locustfile.py"
HEADER = f"""
import time
import pytest
from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust({str(LOCUSTFILE)!r}, users=20),
    steady_state=[slo.latency(p=95, below="300ms"), slo.error_rate(below="5%")],
    baseline="3s",
    recovery="2s",
)
"""
SYSTEM_PROCESSES = (
    "chaoskit.providers.local.system",
    "chaoskit.load._coordinator",
    "chaoskit.load._worker",
    "chaoskit.providers.local.shop",
)


def chaoskit_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if any(name in cmdline for name in SYSTEM_PROCESSES):
            found.append(process)
    return found


def journal_events(project: Path) -> list[dict]:
    [path] = (project / "reports" / "journals").glob("*.jsonl")
    return list(read_events(path))


@pytest.fixture
def no_stray_processes():
    assert chaoskit_processes() == [], "another local system is still running"
    yield
    deadline = time.monotonic() + 10
    while chaoskit_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chaoskit_processes() == []


def test_a_crash_mid_hold_reverts_and_leaves_the_system_healthy(
    pytester: pytest.Pytester, no_stray_processes: None
) -> None:
    pytester.makepyfile(
        test_crash=HEADER
        + """
def test_crash_during_latency(chaos):
    with chaos.inject(faults.Latency(target="web", delay="200ms")):
        time.sleep(1.5)
        raise RuntimeError("the operator's script crashed mid-hold")

def test_crash_after_terminating(chaos):
    chaos.inject(faults.TerminateInstances(target="web"))
    time.sleep(1)
    raise RuntimeError("crashed while an instance was down")

def test_everything_is_back(chaos_env):
    web = chaos_env.target("web")
    assert web.active_faults() == []
    web.wait_healthy(timeout=15)
    instances = web.instances()
    assert len(instances) == 3 and {i.state for i in instances} == {"healthy"}
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: the operator's script crashed mid-hold*"])

    events = journal_events(pytester.path)
    intents = [e for e in events if e["event"] == "fault_intent"]
    reverted = {e["injection_id"] for e in events if e["event"] == "fault_reverted"}
    assert len(intents) == 2
    assert {i["injection_id"] for i in intents} == reverted
    [journal_path] = (pytester.path / "reports").glob("chaoskit-*.json")
    journal = json.loads(journal_path.read_text())
    assert [e["cause"] for e in journal["experiments"]] == ["body_raised", "body_raised"]
    assert all(e["injections"][0]["status"] == "reverted" for e in journal["experiments"])


def test_ctrl_c_mid_hold_reverts_stops_everything_and_keeps_the_journal(
    pytester: pytest.Pytester, no_stray_processes: None
) -> None:
    pytester.makepyfile(
        test_long=HEADER
        + """
def test_long_hold(chaos):
    chaos.inject(faults.Latency(target="web", delay="50ms"), hold="60s")
"""
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_long.py"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    journals = pytester.path / "reports" / "journals"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journals.is_dir() and any(
            e["event"] == "fault_injected" for e in journal_events(pytester.path)
        ):
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the fault was never injected:\n" + process.communicate()[0])
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    [path] = journals.glob("*.jsonl")
    assert unreverted_intents(path) == []
    assert [e["event"] for e in read_events(path)][-1] == "run_finished"


def test_the_local_targets_come_from_pyproject(
    pytester: pytest.Pytester, no_stray_processes: None
) -> None:
    pytester.makepyprojecttoml(
        """
[tool.chaoskit.env.local.targets.web]
replicas = 2
replace_delay = "1s"
tags = { app = "shop", tier = "edge" }
"""
    )
    pytester.makepyfile(
        test_shape="""
def test_two_edge_replicas(chaos_env):
    instances = chaos_env.target("web").instances()
    assert len(instances) == 2
    assert {i.tags["tier"] for i in instances} == {"edge"}
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_plan_prints_what_each_experiment_would_do(
    tmp_path: Path, no_stray_processes: None
) -> None:
    root = Path(__file__).resolve().parents[2]
    planned = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaoskit.cli",
            "plan",
            "experiments/",
            "--chaos-seed",
            "1",
            "--chaos-report",
            str(tmp_path),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "3 skipped" in planned.stdout
    assert "dry run: would inject TerminateInstances 1 of web on i-" in planned.stdout
    assert "hold 8s" in planned.stdout
    assert "would inject Latency 400ms on 1 of web on i-" in planned.stdout
    assert "starting load" not in planned.stdout
