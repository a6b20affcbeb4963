"""Writes a run's files: a stamped HTML report, ``latest.html``, the JSON journal, an index."""

from __future__ import annotations

import json
import os
from pathlib import Path

from chaoskit.experiment.result import Journal
from chaoskit.redaction import DEFAULT_REDACTOR, Redactor
from chaoskit.report.html import render_html
from chaoskit.report.index import render_index
from chaoskit.report.redact import redacted


def write_reports(
    journal: Journal,
    report_dir: Path,
    *,
    template_dir: Path | None = None,
    redactor: Redactor = DEFAULT_REDACTOR,
) -> list[Path]:
    """Write the run's report files into ``report_dir``; returns them, latest.html first."""
    report_dir.mkdir(parents=True, exist_ok=True)
    journal = redacted(journal, redactor)
    page = render_html(journal, template_dir=template_dir)
    stamped = report_dir / f"chaoskit-{journal.run_id}.html"
    journal_path = report_dir / f"chaoskit-{journal.run_id}.json"
    latest = report_dir / "latest.html"
    _write(stamped, page)
    _write(latest, page)
    _write(journal_path, json.dumps(journal.to_json(), indent=1))
    index = report_dir / "index.html"
    _write(index, render_index(report_dir, template_dir=template_dir))
    return [latest, stamped, journal_path, index]


def _write(path: Path, text: str) -> None:
    # Write beside and rename, so a reader never opens a half-written report.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
