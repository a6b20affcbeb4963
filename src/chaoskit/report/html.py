"""Journal -> one self-contained HTML page (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2

from chaoskit.durations import format_duration
from chaoskit.experiment.result import Journal
from chaoskit.experiment.score import score
from chaoskit.report.charts import PERCENTILE_COLOURS, PHASE_COLOURS
from chaoskit.report.redact import redact
from chaoskit.report.view import experiment_view

_PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "_templates"
# In a source checkout (editable install) the templates are read where they are maintained.
_REPOSITORY_TEMPLATES = Path(__file__).resolve().parents[3] / "reports" / "templates"


def template_dirs(user_dir: Path | None = None) -> list[Path]:
    """Where templates are looked up, first match wins: the user's folder, then the defaults."""
    candidates = [user_dir] if user_dir else []
    candidates += [_PACKAGE_TEMPLATES, _REPOSITORY_TEMPLATES]
    return [path for path in candidates if path is not None and path.is_dir()]


def render_html(journal: Journal, *, template_dir: Path | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(template_dir)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["redact"] = redact
    env.filters["duration"] = format_duration
    env.filters["clock"] = _clock
    return env.get_template("report.html.j2").render(
        journal=journal,
        score=score(journal.experiments),
        experiments=[experiment_view(e) for e in journal.experiments],
        generated=_clock(journal.finished, with_date=True),
        phase_colours=PHASE_COLOURS,
        percentile_colours=PERCENTILE_COLOURS,
    )


def _clock(epoch: float | None, with_date: bool = False) -> str:
    if epoch is None:
        return "—"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S.%f")[
        : None if with_date else -4
    ]
