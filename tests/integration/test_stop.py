"""``chaoskit stop``: every run in progress on the machine is halted like a Ctrl-C (faults
reverted, journal closed, report written), and the command says what it stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_game_day import no_stray_processes  # noqa: F401
from test_signals import start, wait_for

from chaoskit.cli import main
from chaoskit.experiment import read_events, unreverted_intents

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def test_stop_halts_a_running_experiment_which_reverts_and_reports(
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process = start(
        pytester,
        """
def test_long_hold(chaos):
    chaos.inject(faults.Latency(target="web", delay="50ms"), hold="120s")
""",
    )
    try:
        wait_for(pytester, process, "fault_injected")
        monkeypatch.chdir(pytester.path)
        code = main(["stop", "--dir", str(pytester.path / "reports"), "--timeout", "60"])
        said = capsys.readouterr().out
        assert code == 0, said
        assert f"(pid {process.pid}" in said
        assert "stopped run " in said
        assert process.poll() is not None  # ended before stop returned
        output = process.communicate()[0]
        assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    [log] = (pytester.path / "reports" / "journals").glob("*.jsonl")
    assert unreverted_intents(log) == []
    assert [e.event for e in read_events(log)][-1] == "run_finished"
    assert (pytester.path / "reports" / "latest.html").is_file()
    assert "interrupted by SIGTERM" in (pytester.path / "reports" / "latest.html").read_text()
    # Nothing left to stop, nor to recover.
    assert main(["stop", "--dir", str(pytester.path / "reports")]) == 0
    assert "nothing to stop" in capsys.readouterr().out
    assert main(["recover", "--dir", str(pytester.path / "reports")]) == 0


def test_stop_and_recover_find_a_run_whatever_its_report_folder_and_wherever_they_start(
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    pytester.makepyprojecttoml('[tool.chaoskit]\nreport_dir = "elsewhere"\n')
    process = start(
        pytester,
        """
def test_long_hold(chaos):
    chaos.inject(faults.Latency(target="web", delay="50ms"), hold="120s")
""",
    )
    journals = pytester.path / "elsewhere" / "journals"
    try:
        deadline = time.monotonic() + 90
        while not any(
            e.event == "fault_injected"
            for path in journals.glob("*.jsonl")
            for e in read_events(path)
        ):
            assert process.poll() is None and time.monotonic() < deadline, "never injected"
            time.sleep(0.2)
        monkeypatch.chdir(tmp_path)  # another folder: no pyproject.toml, no reports/
        code = main(["stop", "--timeout", "60"])
        said = capsys.readouterr().out
        assert code == 0, said
        assert f"(pid {process.pid}" in said and "stopped run " in said
        assert process.poll() is not None
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    [log] = journals.glob("*.jsonl")
    assert unreverted_intents(log) == []
    # Its run took itself off the machine's list when it finished.
    assert main(["recover"]) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_a_journal_naming_no_process_of_a_run_is_never_signalled(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signalled: list[tuple[int, int]] = []
    real_kill = os.kill

    def kill(pid: int, signum: int) -> None:
        if signum != 0:
            signalled.append((pid, signum))
            return
        real_kill(pid, signum)

    monkeypatch.setattr(os, "kill", kill)
    journals = tmp_path / "reports" / "journals"
    journals.mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (-1, 0, 1):  # every process, stop's own group, init
            (journals / f"run-{pid + 1}.jsonl").write_text(
                json.dumps(
                    {
                        "event": "run_started",
                        "run_id": f"run-{pid + 1}",
                        "env": "local",
                        "at": 1.0,
                        "pid": pid,
                    }
                )
                + "\n"
            )
        # A live process whose start cannot be told here: not known to be the run's.
        (journals / "run-unsure.jsonl").write_text(
            json.dumps(
                {
                    "event": "run_started",
                    "run_id": "run-unsure",
                    "env": "local",
                    "at": time.time(),
                    "pid": alive.pid,
                }
            )
            + "\n"
        )
        monkeypatch.setattr("chaoskit.settle.process_started_at", lambda pid: None)
        monkeypatch.chdir(tmp_path)  # no pyproject.toml: no AWS environment to look at
        code = main(["stop", "--timeout", "1"])
        said = capsys.readouterr().out
        assert signalled == []
        assert code == 1, said
        assert f"NOT SIGNALLED: run run-unsure's journal names process {alive.pid}" in said
        assert alive.poll() is None
    finally:
        monkeypatch.undo()  # os.kill again
        alive.kill()
        alive.wait()
