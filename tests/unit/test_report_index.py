"""The index across runs and the game-day report, as a reader finds them (jinja2 alone)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from tests.report_journals import T0, journal, latency, result
from tests.unit.test_report import _read

from chaoskit.cli import main
from chaoskit.experiment import Journal
from chaoskit.report.index import render_index

KILL, SLOW, DISK, OLD = (
    f"experiments/test_web.py::test_{n}" for n in ("kill", "slow", "disk", "old")
)


def _run(tmp_path: Path, run_id: str, env: str, hour: int, **outcomes: str) -> Journal:
    started = T0 + hour * 3600
    run = replace(
        journal(
            *(
                result(
                    f"experiments/test_web.py::test_{name}",
                    outcome=outcome,
                    cause="" if outcome == "passed" else "slo_breached",
                    started=started,
                    # judged in the fault, so the run's score counts the experiment
                    measurements=(
                        latency("p99 < 300ms", 0.3, "fault 1", 4 if outcome == "passed" else 420),
                    ),
                )
                for name, outcome in outcomes.items()
            ),
            run_id=run_id,
        ),
        env=env,
    )
    (tmp_path / f"chaoskit-{run_id}.json").write_text(json.dumps(run.to_json()))
    return run


def test_each_run_says_what_changed_since_the_previous_run_of_its_environment(
    tmp_path: Path,
) -> None:
    _run(
        tmp_path, "20270101-000000-aaaaaa", "staging", 0, kill="passed", slow="failed", old="passed"
    )
    _run(tmp_path, "20270101-010000-bbbbbb", "local", 1, kill="failed")  # another environment
    _run(
        tmp_path,
        "20270101-020000-cccccc",
        "staging",
        2,
        kill="failed",
        slow="passed",
        disk="passed",
    )
    runs = _read(render_index(tmp_path)).tables[0]
    assert runs[0][-1] == "Since the previous run"
    newest, local, first = runs[1:]
    assert newest[0] == "20270101-020000-cccccc"
    assert newest[-1] == (f"started failing {KILL} fixed {SLOW} new {DISK} gone {OLD}")
    assert local[-1] == "first run of local"  # not compared with staging's runs
    assert first[-1] == "first run of staging"


def test_a_run_like_the_one_before_says_so(tmp_path: Path) -> None:
    _run(tmp_path, "20270101-000000-aaaaaa", "staging", 0, kill="passed")
    _run(tmp_path, "20270101-020000-cccccc", "staging", 2, kill="passed")
    newest = _read(render_index(tmp_path)).tables[0][1]
    assert newest[-1] == "no change from 20270101-000000-aaaaaa"


def test_each_experiment_has_its_verdict_history_and_the_score_its_trend(tmp_path: Path) -> None:
    _run(tmp_path, "20270101-000000-aaaaaa", "staging", 0, kill="passed", slow="failed")
    _run(tmp_path, "20270101-010000-bbbbbb", "staging", 1, kill="failed", slow="failed")
    _run(tmp_path, "20270101-020000-cccccc", "staging", 2, kill="passed", slow="passed")
    html = render_index(tmp_path)
    history = _read(html).tables[1]
    assert history[0] == ["Experiment", "Verdicts", "Passed"]
    rows = {row[0]: row[2] for row in history[1:]}
    assert rows == {KILL: "2 of 3 runs", SLOW: "1 of 3 runs"}
    # cells newest first, each naming its run and verdict
    cells = re.findall(r'<span class="cell (\w+)" title="([^"]+)"', html)
    assert cells[:3] == [
        ("passed", "20270101-020000-cccccc (staging): passed"),
        ("failed", "20270101-010000-bbbbbb (staging): failed"),
        ("passed", "20270101-000000-aaaaaa (staging): passed"),
    ]
    # the score trend, oldest first: 50, 0, 100
    trend = re.search(r'<svg class="trend".*?</svg>', html, flags=re.S)
    assert trend is not None
    assert re.findall(r"<title>(\d+)/100</title>", trend.group()) == ["50", "0", "100"]


def test_chaoskit_report_merges_several_runs_into_one_game_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    morning = _run(tmp_path, "20270101-080000-aaaaaa", "staging", 0, kill="passed")
    afternoon = _run(tmp_path, "20270101-140000-bbbbbb", "prod-like", 6, slow="failed")
    paths = [tmp_path / f"chaoskit-{r.run_id}.json" for r in (afternoon, morning)]
    out = tmp_path / "gameday"
    assert main(["report", *map(str, paths), "--dir", str(out)]) == 0
    [page] = out.glob("chaoskit-gameday-*.html")
    html = page.read_text()
    assert "Game day of 2 runs:" in html
    summary = _read(html).tables[0]
    assert [row[0] for row in summary[1:]] == [KILL, SLOW]  # in the order they ran
    assert "staging + prod-like" in html
    index = _read((out / "index.html").read_text()).tables[0]
    assert "game day of 2 runs" in index[1][0]
    data = json.loads(page.with_suffix(".json").read_text())
    assert data["merged_from"] == [morning.run_id, afternoon.run_id]
    assert "-> " in capsys.readouterr().out


def test_naming_one_run_twice_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path, "20270101-080000-aaaaaa", "staging", 0, kill="passed")
    path = str(tmp_path / f"chaoskit-{run.run_id}.json")
    assert main(["report", path, path, "--dir", str(tmp_path / "out")]) == 2
    assert "run 20270101-080000-aaaaaa is named twice" in capsys.readouterr().err
