"""``index.html``: every run in a report folder, newest first, with its verdicts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

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
    failed: int
    error: int
    score: float | None


def _runs(report_dir: Path) -> list[RunRow]:
    runs = []
    for path in sorted(report_dir.glob("chaoskit-*.json"), reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a journal from a run that is still being written, or a stray file
        outcomes = [e["outcome"] for e in data.get("experiments", [])]
        runs.append(
            RunRow(
                run_id=data.get("run_id", path.stem),
                env=data.get("env", "?"),
                started=data.get("started", 0.0),
                html=path.with_suffix(".html").name,
                total=len(outcomes),
                passed=outcomes.count("passed"),
                failed=outcomes.count("failed"),
                error=outcomes.count("error"),
                score=data.get("resilience_score"),
            )
        )
    return runs


def render_index(report_dir: Path, *, template_dir: Path | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(template_dir)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("index.html.j2").render(runs=_runs(report_dir))
