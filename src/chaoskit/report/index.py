"""``index.html``: every run in a report folder, newest first, with its verdicts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from chaoskit.experiment.result import ExperimentResult, JsonObject
from chaoskit.experiment.score import Score, failed_as_expected, score
from chaoskit.report.html import template_dirs


@dataclass(frozen=True, kw_only=True)
class RunRow:
    """One run as the index lists it, read from its JSON journal."""

    run_id: str
    env: str
    started: float
    html: str  # the run's report, beside its journal
    total: int
    passed: int
    expected: int  # failed (or errored) as their xfail marker said: as expected, not red
    failed: int
    error: int
    skipped: int
    score: Score | None  # None: a journal this version cannot read back


def _runs(report_dir: Path) -> list[RunRow]:
    runs = []
    for path in sorted(report_dir.glob("chaoskit-*.json"), reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a journal from a run that is still being written, or a stray file
        experiments = data.get("experiments", [])
        expected = [
            failed_as_expected(
                outcome=e.get("outcome", ""),
                cause=e.get("cause", ""),
                expected_to_fail=e.get("expected_to_fail", False),
            )
            for e in experiments
        ]
        outcomes = [
            e.get("outcome") for e, xfail in zip(experiments, expected, strict=True) if not xfail
        ]
        runs.append(
            RunRow(
                run_id=data.get("run_id", path.stem),
                env=data.get("env", "?"),
                started=data.get("started", 0.0),
                html=path.with_suffix(".html").name,
                total=len(experiments),
                passed=outcomes.count("passed"),
                expected=sum(expected),
                failed=outcomes.count("failed"),
                error=outcomes.count("error"),
                skipped=outcomes.count("skipped"),
                score=_score(experiments),
            )
        )
    return runs


def _score(experiments: list[JsonObject]) -> Score | None:
    # Scored again from the experiments, so that runs journaled before the score's present
    # definition read the same as new ones.
    try:
        return score(ExperimentResult.from_json(e) for e in experiments)
    except (KeyError, TypeError, ValueError):
        return None


def render_index(report_dir: Path, *, template_dir: Path | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(template_dir)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("index.html.j2").render(runs=_runs(report_dir))
