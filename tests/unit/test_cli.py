"""The chaoskit command: re-rendering reports, recovering after a killed run, planning."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit import faults, slo
from chaoskit.cli import main
from chaoskit.experiment import (
    Experiment,
    ExperimentSettings,
    Journal,
    JournalWriter,
    unreverted_intents,
)
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver


def _write_journal(report_dir: Path) -> Path:
    clock = FakeClock()
    experiment = Experiment(
        settings=ExperimentSettings(
            name="test_x", objectives=(slo.error_rate(below="1%"),), baseline=3, recovery=3
        ),
        env=FakeEnvironment(name="local"),
        load=FakeLoadDriver(),
        journal=JournalWriter(report_dir / "journals" / "r.jsonl"),
        clock=clock,
        rng=random.Random(0),
    )
    result = experiment.run(
        lambda chaos: chaos.inject(faults.TerminateInstances(target="web"), hold=3)
    )
    journal = Journal(
        run_id="r1",
        env="local",
        started=result.started,
        finished=clock.now(),
        seed=0,
        experiments=(result,),
    )
    path = report_dir / "chaoskit-r1.json"
    path.write_text(json.dumps(journal.to_json()))
    return path


def test_report_rerenders_the_html_from_the_newest_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_journal(tmp_path)
    assert main(["report", "--dir", str(tmp_path)]) == 0
    html = (tmp_path / "chaoskit-r1.html").read_text()
    assert "TerminateInstances 1 of web" in html
    assert (tmp_path / "latest.html").read_text() == html
    assert "chaoskit-r1.html" in (tmp_path / "index.html").read_text()


def test_report_uses_the_users_templates_first(tmp_path: Path) -> None:
    _write_journal(tmp_path)
    templates = tmp_path / "mine"
    templates.mkdir()
    (templates / "report.html.j2").write_text("<p>{{ journal.run_id }} our style</p>")
    assert main(["report", "--dir", str(tmp_path), "--templates", str(templates)]) == 0
    assert (tmp_path / "latest.html").read_text() == "<p>r1 our style</p>"


def test_report_without_journals_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--dir", str(tmp_path)]) == 2
    assert "no journals (chaoskit-*.json)" in capsys.readouterr().err


def test_recover_settles_a_local_fault_left_by_a_killed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "dead.jsonl"
    writer = JournalWriter(log)
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    writer.append("run_started", run_id="dead", env="local", provider="local", pid=int(dead_pid))
    writer.append(
        "fault_intent",
        injection_id="abc",
        fault="Latency 200ms on 1 of web",
        target="web",
        instance_ids=["i-1"],
        env="local",
        experiment="x",
    )
    writer.close()
    assert len(unreverted_intents(log)) == 1
    assert main(["recover", "--dir", str(tmp_path)]) == 0
    assert "settled Latency 200ms on 1 of web on i-1 (local)" in capsys.readouterr().out
    assert unreverted_intents(log) == []
    assert main(["recover", "--dir", str(tmp_path)]) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_recover_leaves_a_run_that_is_still_going(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "live.jsonl"
    writer = JournalWriter(log)
    writer.append("run_started", run_id="live", env="local", pid=__import__("os").getpid())
    writer.append(
        "fault_intent",
        injection_id="abc",
        fault="Latency",
        target="web",
        instance_ids=["i-1"],
        env="local",
        experiment="x",
    )
    writer.close()
    main(["recover", "--dir", str(tmp_path)])
    assert "still in progress" in capsys.readouterr().out
    assert len(unreverted_intents(log)) == 1


def test_recover_exits_non_zero_when_a_fault_needs_a_human(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "cloud.jsonl"
    writer = JournalWriter(log)
    writer.append("run_started", run_id="cloud", env="staging", provider="aws", pid=None)
    writer.append(
        "fault_intent",
        injection_id="abc",
        fault="Latency 200ms on 1 of web",
        target="web",
        instance_ids=["i-0abc"],
        env="staging",
        experiment="x",
    )
    writer.append("run_finished")
    writer.close()
    assert main(["recover", "--dir", str(tmp_path)]) == 1
    assert "STILL ACTIVE? Latency 200ms on 1 of web on i-0abc (staging)" in capsys.readouterr().out
    assert len(unreverted_intents(log)) == 1
