"""Interrupting a real run on the local system: SIGTERM is handled like Ctrl-C, and whenever
the interrupt comes (the baseline, a hold, the recovery window, twice in a row), every fault is
reverted, the journal is closed and the report says what happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from test_game_day import HEADER, journal_events, no_stray_processes  # noqa: F401

from chaoskit.experiment import read_events, unreverted_intents

# no_stray_processes: every process a run started is gone after it.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def start(project: pytest.Pytester, body: str) -> subprocess.Popen[str]:
    project.makepyfile(test_interrupted=HEADER + body)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_interrupted.py"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for(project: pytest.Pytester, process: subprocess.Popen[str], event: str) -> None:
    journals = project.path / "reports" / "journals"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if journals.is_dir() and any(e.event == event for e in journal_events(project.path)):
            return
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no {event} in the journal:\n" + process.communicate()[0])


def finish(project: pytest.Pytester, process: subprocess.Popen[str]) -> tuple[str, dict[str, Any]]:
    """Wait for the interrupted run; its output and its one experiment as the JSON report
    has it, after checking that nothing was left active and the journal was closed."""
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    [log] = (project.path / "reports" / "journals").glob("*.jsonl")
    assert unreverted_intents(log) == []
    assert [e.event for e in read_events(log)][-1] == "run_finished"
    [report] = (project.path / "reports").glob("chaoskit-*.json")
    [experiment] = json.loads(report.read_text())["experiments"]
    assert (project.path / "reports" / "latest.html").is_file()
    return output, experiment


def test_sigterm_mid_hold_reverts_journals_and_reports_like_ctrl_c(
    pytester: pytest.Pytester,
) -> None:
    process = start(
        pytester,
        """
def test_long_hold(chaos):
    chaos.inject(faults.Latency(target="web", delay="50ms"), hold="60s")
""",
    )
    wait_for(pytester, process, "fault_injected")
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    _output, experiment = finish(pytester, process)
    assert (experiment["outcome"], experiment["cause"]) == ("error", "interrupted")
    assert experiment["reason"].startswith("interrupted by SIGTERM during the body"), experiment
    assert experiment["injections"][0]["status"] == "reverted"


def test_ctrl_c_in_the_recovery_window_is_recorded_as_such(
    pytester: pytest.Pytester,
) -> None:
    process = start(
        pytester,
        """
@pytest.mark.chaos(recovery="60s")
def test_short_hold(chaos):
    chaos.inject(faults.Latency(target="web", delay="20ms"), hold="4s")
""",
    )
    wait_for(pytester, process, "fault_reverted")
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _output, experiment = finish(pytester, process)
    assert (experiment["outcome"], experiment["cause"]) == ("error", "interrupted")
    assert experiment["reason"].startswith(
        "interrupted by Ctrl-C (SIGINT) during the recovery window"
    ), experiment
    assert "pytest ended the test" not in experiment["reason"]
    assert [p["kind"] for p in experiment["phases"]] == ["baseline", "fault"]


def test_a_double_ctrl_c_during_the_baseline_still_writes_the_report(
    pytester: pytest.Pytester,
) -> None:
    process = start(
        pytester,
        """
@pytest.mark.chaos(baseline="60s")
def test_never_reaches_its_body(chaos):
    chaos.inject(faults.Latency(target="web", delay="20ms"), hold="2s")
""",
    )
    wait_for(pytester, process, "experiment_started")
    time.sleep(3)  # the load is running
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)  # the first is being handled: the load's last seconds are collected
    process.send_signal(signal.SIGINT)
    _output, experiment = finish(pytester, process)
    assert (experiment["outcome"], experiment["cause"]) == ("error", "interrupted")
    assert experiment["reason"].startswith("interrupted by Ctrl-C (SIGINT) during the baseline")
    assert experiment["injections"] == []
