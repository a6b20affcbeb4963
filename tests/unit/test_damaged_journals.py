"""Damaged journals: ``chaoskit report`` and ``chaoskit recover`` name the damage and go on,
never hang, never print a traceback, and recover never claims what it did not check."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_cli import _write_journal

from chaoskit.cli import main

Damage = Callable[[dict[str, Any]], object]


def _experiment(data: dict[str, Any]) -> dict[str, Any]:
    experiment: dict[str, Any] = data["experiments"][0]
    return experiment


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


def test_an_undamaged_copy_still_renders(tmp_path: Path, deadline: None) -> None:
    path = _write_journal(tmp_path)
    assert main(["report", str(path), "--dir", str(tmp_path / "out")]) == 0
