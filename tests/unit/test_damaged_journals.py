"""Damaged journals: ``chaoskit report`` and ``chaoskit recover`` name the damage and go on,
never hang, never print a traceback, and recover never claims what it did not check."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from tests.unit.test_cli import _write_journal

from chaoskit.cli import main

Damage = Callable[[dict[str, Any]], object]


def _experiment(data: dict[str, Any]) -> dict[str, Any]:
    experiment: dict[str, Any] = data["experiments"][0]
    return experiment


def _other_layout() -> str:
    histogram = HdrHistogram(1, 1000, 2)
    histogram.record_value(5)
    return str(histogram.encode().decode("ascii"))


DAMAGES: dict[str, tuple[Damage, str]] = {
    "finished Infinity": (
        lambda d: d.update(finished=float("inf")),
        "finished is inf, not a finite epoch time",
    ),
    "an experiment finished at Infinity": (
        lambda d: _experiment(d).update(finished=float("inf")),
        "experiments[0].finished is inf",
    ),
    "started NaN": (
        lambda d: _experiment(d).update(started=float("nan")),
        "experiments[0].started is nan",
    ),
    "finished before it started": (
        lambda d: _experiment(d).update(finished=_experiment(d)["started"] - 10),
        "experiments[0].finished is -10s after its start",
    ),
    "experiments not a list": (lambda d: d.update(experiments=5), "experiments is 5, not a list"),
    "an experiment not an object": (
        lambda d: d.update(experiments=[5]),
        "experiments[0] is 5, not a JSON object",
    ),
    "name missing": (lambda d: _experiment(d).pop("name"), "experiments[0].name is missing"),
    "a measurement with an unknown field": (
        lambda d: _experiment(d)["measurements"][0].update(bad=1),
        "experiments[0].measurements[0] has unknown field(s) bad",
    ),
    "a measurement value that is text": (
        lambda d: _experiment(d)["measurements"][0].update(value="x"),
        "experiments[0].measurements[0].value is 'x', not a finite number or null",
    ),
    "a second that is text": (
        lambda d: _experiment(d)["seconds"][0].update(second="x"),
        "experiments[0].seconds[0].second is 'x', not an epoch second",
    ),
    "a second far in the future": (
        lambda d: _experiment(d)["seconds"][0].update(second=10**20),
        "experiments[0].seconds[0].second is 100000000000000000000, not an epoch second",
    ),
    "failures that are not counts": (
        lambda d: _experiment(d)["seconds"][0].update(failed={"x": "y"}),
        "experiments[0].seconds[0].failed is {'x': 'y'}, not counts by reason",
    ),
    "a phase ending at Infinity": (
        lambda d: _experiment(d)["phases"][0].update(end=float("inf")),
        "experiments[0].phases[0].end is inf, not a finite number",
    ),
    "an empty injection": (
        lambda d: _experiment(d).update(injections=[{}]),
        "experiments[0].injections[0].injection_id is missing",
    ),
    "the journal a list": (lambda d: [d], "the journal is [{"),
    "a seed that is text": (lambda d: d.update(seed="x"), "seed is 'x', not a whole number"),
    "a score that is text": (
        lambda d: d.update(resilience_score="x"),
        "resilience_score is 'x', not a number or null",
    ),
    "a histogram too short to decode": (
        lambda d: _experiment(d)["seconds"][0].update(latency_us="AAAA"),
        "experiments[0].seconds[0].latency_us is 'AAAA', not an encoded histogram (",
    ),
    "a histogram that is not base64": (
        lambda d: _experiment(d)["seconds"][0].update(latency_us="HISTF%%%!junk"),
        "experiments[0].seconds[0].latency_us is 'HISTF%%%!junk', not an encoded histogram (",
    ),
    "a histogram cut short": (
        lambda d: _experiment(d)["seconds"][0].update(
            latency_us=_experiment(d)["seconds"][0]["latency_us"][:-8]
        ),
        "experiments[0].seconds[0].latency_us is 'HISTF",
    ),
    "a histogram of another layout": (
        lambda d: _experiment(d)["seconds"][0].update(latency_us=_other_layout()),
        "experiments[0].seconds[0].latency_us is 'HISTF",
    ),
    "objectives not a list": (
        lambda d: _experiment(d).update(objectives="p99<1s"),
        "experiments[0].objectives is 'p99<1s', not a list of text",
    ),
}


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail a test that runs 30 s: the damage made something loop for ever."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("hung on a damaged journal")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_report_names_the_damaged_field_and_never_hangs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], deadline: None, damage: str
) -> None:
    path = _write_journal(tmp_path)
    change, named = DAMAGES[damage]
    data = json.loads(path.read_text())
    replaced = change(data)
    damaged = replaced if isinstance(replaced, list) else data
    path.write_text(json.dumps(damaged))  # Infinity and NaN as Python's json writes them
    assert main(["report", str(path), "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path} is not a chaoskit journal, or is damaged: " in err
    assert named in err
    assert "Traceback" not in err


def test_report_names_a_number_too_long_to_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], deadline: None
) -> None:
    # JSON allows it; Python reads no integer of more than 4300 digits from text.
    path = _write_journal(tmp_path)
    path.write_text(path.read_text().replace('"seed": 0', '"seed": ' + "9" * 5000, 1))
    assert main(["report", str(path), "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path} is not a chaoskit journal, or is damaged: " in err
    assert "a number of more than 4300 digits" in err
    assert "Traceback" not in err


def test_a_journal_beside_it_with_a_number_too_long_to_read_is_left_out_of_the_index(
    tmp_path: Path, deadline: None
) -> None:
    path = _write_journal(tmp_path)
    (tmp_path / "chaoskit-r0.json").write_text('{"run_id": "r0", "seed": ' + "9" * 5000 + "}")
    assert main(["report", str(path), "--dir", str(tmp_path)]) == 0
    index = (tmp_path / "index.html").read_text()
    assert "chaoskit-r1.html" in index
    assert "chaoskit-r0.html" not in index


@pytest.mark.parametrize(
    "sibling",
    ["[]", '{"run_id": "r0", "experiments": 5}', '{"run_id": "r0", "experiments": [[]]}'],
    ids=["a-list", "experiments-not-a-list", "an-experiment-not-an-object"],
)
def test_a_damaged_journal_beside_it_is_left_out_of_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sibling: str, deadline: None
) -> None:
    path = _write_journal(tmp_path)
    (tmp_path / "chaoskit-r0.json").write_text(sibling)
    assert main(["report", str(path), "--dir", str(tmp_path)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    index = (tmp_path / "index.html").read_text()
    assert "chaoskit-r1.html" in index
    assert "chaoskit-r0.html" not in index


def test_an_undamaged_copy_still_renders(tmp_path: Path, deadline: None) -> None:
    path = _write_journal(tmp_path)
    assert main(["report", str(path), "--dir", str(tmp_path / "out")]) == 0


# -- chaoskit recover ------------------------------------------------------------------------

INTENT = (
    '{"event": "fault_intent", "injection_id": "ok1", "experiment": "x", "env": "local", '
    '"fault": "Latency 200ms on 1 of web", "target": "web", "instance_ids": ["i-1"]}\n'
)


def _dead_run(log: Path, damaged: bytes, *, pid: int = 2**22 + 7, at: float = 1.8e9) -> None:
    """A killed local run's journal: started, a damaged line, an intent never reverted."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = json.dumps(
        {
            "event": "run_started",
            "run_id": "r",
            "env": "local",
            "provider": "local",
            "pid": pid,
            "at": at,
        }
    )
    log.write_bytes(start.encode() + b"\n" + damaged + b"\n" + INTENT.encode())


@pytest.mark.parametrize(
    ("damaged", "why", "needs_hand"),
    [
        (b"[]", "a journal line is a JSON object", False),
        (b"{}", "a JSON object without an event", False),
        (b"5", "a journal line is a JSON object", False),
        (b'{"event": "fault_reverted"}', "fault_reverted: 'injection_id' is not text", False),
        (b'{"event": "run_started", "pid": "x"}', "'run_id' is not text", False),
        (b'\xff\xfe{"event": "fault_intent"}', "not UTF-8 text", True),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deep", True),
        (b'{"event": "fault_intent"} trailing', "not JSON", True),
        # JSON allows it; Python reads no integer of more than 4300 digits from text.
        (b'{"event": "fault_intent", "at": ' + b"9" * 5000 + b"}", "more than 4300 digits", True),
    ],
)
def test_recover_reports_a_damaged_line_with_its_place_and_goes_on(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damaged: bytes,
    why: str,
    needs_hand: bool,
) -> None:
    log = tmp_path / "journals" / "dead.jsonl"
    _dead_run(log, damaged)
    code = main(["recover", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"line 2 of {log} is damaged (" in out
    assert why in out
    # The intent after the damaged line is still found and settled.
    assert "settled Latency 200ms on 1 of web on i-1 (local)" in out
    # Text that could not be read may have been a fault's intent: only a human can tell.
    assert code == (1 if needs_hand else 0)
    assert ("check by hand" in out) == needs_hand
    assert ("nothing to recover" in out) is False


def test_recover_tells_a_reused_process_id_from_the_run_that_recorded_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The recorded process id is alive, but its process started long after the run did: the
    # run's own process is gone, and the id was given to another (here: this test's).
    log = tmp_path / "journals" / "dead.jsonl"
    _dead_run(
        log,
        b'{"event": "experiment_started", "name": "x", "env": "local", "at": 1.0}',
        pid=os.getpid(),
        at=time.time() - 10 * 86400,
    )
    assert main(["recover", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "still in progress" not in out
    assert "settled Latency 200ms on 1 of web on i-1 (local)" in out


def test_recover_leaves_a_live_run_alone_and_does_not_claim_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journals" / "live.jsonl"
    _dead_run(
        log,
        b'{"event": "experiment_started", "name": "x", "env": "local", "at": 1.0}',
        pid=os.getpid(),
        at=time.time(),
    )
    assert main(["recover", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"skipping {log.name}: its run is still in progress (process {os.getpid()}" in out
    assert "nothing to recover" not in out
    assert "1 run(s) still in progress left alone" in out


def test_stop_reports_a_line_with_a_number_too_long_to_read_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml: no AWS environment to look at
    log = tmp_path / "journals" / "dead.jsonl"
    _dead_run(log, b'{"event": "run_finished", "at": ' + b"9" * 5000 + b"}")
    assert main(["stop", "--dir", str(tmp_path), "--timeout", "1"]) == 0
    out = capsys.readouterr().out
    assert "nothing to stop: no run in progress" in out
