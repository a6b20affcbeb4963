"""``index.html``: every run in a report folder, newest first, with its verdicts, what changed
since the previous run of its environment, and each experiment's history across runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2

from chaoskit.experiment.journal_checks import check_journal
from chaoskit.experiment.result import ExperimentResult, JsonObject
from chaoskit.experiment.score import Score, failed_as_expected, score
from chaoskit.report.history import (
    Difference,
    RunVerdicts,
    differences,
    histories,
    previous_runs,
    trend_chart,
    verdicts_of,
)
from chaoskit.report.html import template_dirs

HISTORY_RUNS = 20  # columns of the history table: the newest runs


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
    verdicts: RunVerdicts
    merged_from: tuple[str, ...] = ()  # a game day merged from these runs
    changes: tuple[Difference, ...] = ()  # since the previous run of the same environment
    previous: str = ""  # that run's id


def _runs(report_dir: Path) -> list[RunRow]:
    runs = []
    for path in sorted(report_dir.glob("chaoskit-*.json"), reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            # ValueError: not JSON, or JSON holding a number too long to read (json.loads
            # refuses integers of more than sys.get_int_max_str_digits() digits).
            check_journal(data)
        except (OSError, ValueError):  # DamagedJournal is a ValueError
            # A journal from a run that is still being written, a stray file, or a damaged
            # one (`chaoskit report` on it names what is wrong): not a row of the index.
            continue
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
        run_score = _score(experiments)
        merged_from = tuple(str(r) for r in data.get("merged_from", ()))
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
                score=run_score,
                merged_from=merged_from,
                verdicts=RunVerdicts(
                    run_id=data.get("run_id", path.stem),
                    env=data.get("env", "?"),
                    started=data.get("started", 0.0),
                    merged=bool(merged_from),
                    verdicts=verdicts_of(experiments),
                    score=None if run_score is None else run_score.shown,
                ),
            )
        )
    return _compared(runs)


def _compared(runs: list[RunRow]) -> list[RunRow]:
    """Each run with what changed since the previous run of its environment."""
    previous = previous_runs([run.verdicts for run in runs])
    compared = []
    for run in runs:
        before = previous.get(run.run_id)
        if before is None:
            compared.append(run)
            continue
        changes = tuple(differences(run.verdicts, before))
        compared.append(replace(run, changes=changes, previous=before.run_id))
    return compared


def _score(experiments: list[JsonObject]) -> Score | None:
    # Scored again from the experiments, so that runs journaled before the score's present
    # definition read the same as new ones.
    try:
        # What scores an experiment is its verdict and injections: its seconds and
        # per-instance counts, the bulk of a journal, are not decoded for it.
        return score(
            ExperimentResult.from_json({**e, "seconds": [], "instances": []}) for e in experiments
        )
    except (KeyError, TypeError, ValueError):
        return None


def render_index(report_dir: Path, *, template_dir: Path | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(template_dir)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    runs = _runs(report_dir)
    compared = [run.verdicts for run in runs if not run.merged_from]
    recent = compared[:HISTORY_RUNS]
    return env.get_template("index.html.j2").render(
        runs=runs,
        history_runs=recent,
        histories=histories(recent),
        trend=trend_chart([run.score for run in reversed(recent)]),
    )
