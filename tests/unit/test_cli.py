"""The chaoskit command: re-rendering reports, recovering after a killed run, planning."""

from __future__ import annotations

import json
import os
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
from chaoskit.experiment.events import (
    ExperimentFinished,
    ExperimentStarted,
    FaultInjected,
    FaultIntent,
    FaultNotInjected,
    FaultReverted,
    FaultRevertFailed,
    RunFinished,
    RunStarted,
)
from chaoskit.experiment.journal import read_events
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
    writer.append(RunStarted(run_id="dead", env="local", provider="local", pid=int(dead_pid)))
    writer.append(
        FaultIntent(
            injection_id="abc",
            fault="Latency 200ms on 1 of web",
            target="web",
            instance_ids=("i-1",),
            env="local",
            experiment="x",
        )
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
    writer.append(RunStarted(run_id="live", env="local", pid=os.getpid()))
    writer.append(
        FaultIntent(
            injection_id="abc",
            fault="Latency",
            target="web",
            instance_ids=("i-1",),
            env="local",
            experiment="x",
        )
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
    writer.append(RunStarted(run_id="cloud", env="staging", provider="aws", pid=None))
    writer.append(
        FaultIntent(
            injection_id="abc",
            fault="Latency 200ms on 1 of web",
            target="web",
            instance_ids=("i-0abc",),
            env="staging",
            experiment="x",
        )
    )
    writer.append(RunFinished())
    writer.close()
    assert main(["recover", "--dir", str(tmp_path)]) == 1
    assert "STILL ACTIVE? Latency 200ms on 1 of web on i-0abc (staging)" in capsys.readouterr().out
    assert len(unreverted_intents(log)) == 1


def _finished_cloud_run(log: Path, *lines: str) -> None:
    """A journal of a finished run against a cloud provider, with ``lines`` as written."""
    writer = JournalWriter(log)
    writer.append(RunStarted(run_id="cloud", env="staging", provider="aws", pid=None))
    writer.close()
    with log.open("a", encoding="utf-8") as journal:
        journal.writelines(line + "\n" for line in lines)
    writer = JournalWriter(log)
    writer.append(RunFinished())
    writer.close()


def test_recover_hands_a_fault_intent_it_cannot_read_to_a_human(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "cloud.jsonl"
    _finished_cloud_run(
        log,
        # instance_ids is missing: the intent does not decode, yet its fault may be active
        '{"event": "fault_intent", "injection_id": "abc", "experiment": "x", "env": "staging", '
        '"fault": "Latency 200ms on 1 of web", "target": "web"}',
        # the same further on, closed by its revert: settled
        '{"event": "fault_intent", "injection_id": "def", "env": "staging", "fault": 7}',
        '{"event": "fault_reverted", "injection_id": "def", "at": 1800000013.0}',
    )
    assert unreverted_intents(log) == []  # which is why it needs a reader of its own
    assert main(["recover", "--dir", str(tmp_path)]) == 1
    [still_active] = capsys.readouterr().out.splitlines()
    assert still_active == (
        f"STILL ACTIVE? line 2 of {log}, a fault_intent chaoskit cannot read (fault_intent "
        "without a list of instance_ids): injection_id='abc', experiment='x', env='staging', "
        "fault='Latency 200ms on 1 of web', target='web'; find out what it injected and "
        "revert it by hand, then correct or delete the line"
    )


def test_recover_skips_a_torn_last_line_of_a_killed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "cloud.jsonl"
    writer = JournalWriter(log)
    writer.append(RunStarted(run_id="cloud", env="staging", provider="aws", pid=None))
    writer.close()
    with log.open("a", encoding="utf-8") as journal:
        # killed while writing the intent: its fault was never injected
        journal.write('{"event": "fault_intent", "injection_id": "abc", "experiment": "x", "fa')
    assert main(["recover", "--dir", str(tmp_path)]) == 0
    assert "nothing to recover" in capsys.readouterr().out


# A journal as chaoskit wrote it before its events were typed, byte for byte: every event it
# wrote, what `chaoskit recover` appended, a line of an event this version does not know, and
# the torn last line of a killed run. Written out literally so that a change of the format
# shows here.
_DEAD_PID = 2**22 + 7  # above pid_max on Linux by default: no such process
EARLIER_JOURNAL = (
    '{"event": "run_started", "run_id": "20260101-000000-abcdef", "env": "local", '
    '"provider": "local", "seed": 7, "at": 1800000000.0, "pid": PID}\n'
    '{"event": "experiment_started", "name": "test_x", "env": "local", "at": 1800000000.0}\n'
    '{"event": "fault_intent", "injection_id": "aaa", "experiment": "test_x", "env": "local", '
    '"fault": "Latency 200ms on 1 of web", "target": "web", "instance_ids": ["i-1"]}\n'
    '{"event": "fault_injected", "injection_id": "aaa", "at": 1800000005.0, '
    '"undo": {"op": "remove_fault", "target": "web", "handle": "fault-0"}}\n'
    '{"event": "fault_reverted", "injection_id": "aaa", "at": 1800000013.0}\n'
    '{"event": "fault_intent", "injection_id": "bbb", "experiment": "test_x", "env": "local", '
    '"fault": "TerminateInstances 1 of web", "target": "web", "instance_ids": ["i-2"]}\n'
    '{"event": "fault_not_injected", "injection_id": "bbb", "error": "refused"}\n'
    '{"event": "fault_intent", "injection_id": "ccc", "experiment": "test_x", "env": "local", '
    '"fault": "StopInstances 1 of web", "target": "web", "instance_ids": ["i-3"]}\n'
    '{"event": "fault_injected", "injection_id": "ccc", "at": 1800000014.0, '
    '"undo": {"op": "remove_fault", "target": "web", "handle": "stop-1"}}\n'
    '{"event": "fault_revert_failed", "injection_id": "ccc", "error": "could not remove stop-1"}\n'
    '{"event": "experiment_finished", "result": RESULT}\n'
    '{"event": "a_later_event", "injection_id": "ccc"}\n'
    '{"event": "fault_reverted", "injec'
)
EARLIER_RESULT = (
    '{"name": "test_x", "env": "local", "outcome": "error", '
    '"reason": "could not remove stop-1", "cause": "revert_failed", "started": 1800000000.0, '
    '"finished": 1800000020.0, "objectives": ["errors < 1%"], '
    '"phases": [{"name": "baseline", "kind": "baseline", "start": 1800000000.0, '
    '"end": 1800000005.0}, {"name": "fault 1", "kind": "fault", "start": 1800000005.0, '
    '"end": 1800000013.0}], '
    '"injections": [{"injection_id": "aaa", "fault": "Latency 200ms on 1 of web", '
    '"target": "web", "instance_ids": ["i-1"], "injected_at": 1800000005.0, '
    '"reverted_at": 1800000013.0, "status": "reverted", "error": "", "severity": 1.0, '
    '"detected_after": null, "recovered_after": null}], '
    '"measurements": [{"objective": "errors < 1%", "kind": "error_rate", "limit": 0.01, '
    '"window": "baseline", "value": 0.25, "shown": "25.00%", "status": "fail", '
    '"samples": 4, "reason": "25.00% of 4 requests failed <b>"}], '
    '"seconds": [{"second": 1800000005, '
    '"latency_us": "HISTFAAAACl4nJNpmSzMwMDAyQABzFCaEURcm7yEwf4DRGC+PtNCFqaPzEwAiO0G/Q==", '
    '"ok": 3, "failed": {"ConnectionResetError": 1}, "clamped": 0, "expected": 4, "sent": 4, '
    '"lag_ms": 0.0, "invalid": ""}], "expected_to_fail": false}'
)


def test_journals_of_earlier_versions_still_read_recover_and_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "earlier.jsonl"
    log.parent.mkdir()
    log.write_text(
        EARLIER_JOURNAL.replace("PID", str(_DEAD_PID)).replace("RESULT", EARLIER_RESULT),
        encoding="utf-8",
    )

    events = list(read_events(log))  # the unknown event and the torn line are skipped
    assert [type(e) for e in events] == [
        RunStarted,
        ExperimentStarted,
        FaultIntent,
        FaultInjected,
        FaultReverted,
        FaultIntent,
        FaultNotInjected,
        FaultIntent,
        FaultInjected,
        FaultRevertFailed,
        ExperimentFinished,
    ]
    assert events[0] == RunStarted(
        run_id="20260101-000000-abcdef",
        env="local",
        provider="local",
        seed=7,
        at=1800000000.0,
        pid=_DEAD_PID,
    )
    assert events[3] == FaultInjected(
        injection_id="aaa",
        at=1800000005.0,
        undo={"op": "remove_fault", "target": "web", "handle": "fault-0"},
    )
    finished = events[-1]
    assert isinstance(finished, ExperimentFinished)
    assert finished.result.seconds[0].ok == 3
    assert finished.result.seconds[0].latency_us.get_value_at_percentile(50) == pytest.approx(
        5000, rel=1e-3
    )
    # Encoding an event read from it gives its line back, key for key.
    lines = log.read_text(encoding="utf-8").splitlines()
    for line, event in zip(lines[:10], events[:10], strict=True):
        assert json.dumps(event.to_json()) == line
    # The result comes back whole; measurements gain the identity of their objective and
    # injections the details their provider measured, which journals of earlier versions did
    # not record (empty).
    earlier = json.loads(
        '{"event": "experiment_finished", "result": RESULT}'.replace("RESULT", EARLIER_RESULT)
    )
    for measurement in earlier["result"]["measurements"]:
        measurement["objective_key"] = ""
    for injection in earlier["result"]["injections"]:
        injection["details"] = {}
    assert json.loads(json.dumps(finished.to_json())) == earlier

    [still_open] = unreverted_intents(log)
    assert still_open.injection_id == "ccc" and still_open.instance_ids == ("i-3",)
    assert main(["recover", "--dir", str(tmp_path)]) == 0
    assert "settled StopInstances 1 of web on i-3 (local)" in capsys.readouterr().out
    assert unreverted_intents(log) == []
    # on a line of its own, after the torn one
    assert log.read_text(encoding="utf-8").endswith(
        '"injec\n{"event": "fault_reverted", "injection_id": "ccc", "by": "chaoskit recover", '
        '"note": "local system no longer running"}\n'
    )

    # The run's JSON journal, as the report was rendered from it, renders again.
    (tmp_path / "chaoskit-r0.json").write_text(
        '{"chaoskit_journal": 1, "resilience_score": 0.0, "run_id": "r0", "env": "local", '
        '"started": 1800000000.0, "finished": 1800000020.0, "seed": 7, '
        '"experiments": [RESULT]}'.replace("RESULT", EARLIER_RESULT),
        encoding="utf-8",
    )
    assert main(["report", "--dir", str(tmp_path)]) == 0
    html = (tmp_path / "chaoskit-r0.html").read_text(encoding="utf-8")
    assert "Latency 200ms on 1 of web" in html
    assert "25.00% of 4 requests failed &lt;b&gt;" in html
    assert "failed <b>" not in html
