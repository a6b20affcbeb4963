"""Journal -> one self-contained HTML page (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

from chaoskit.durations import format_duration
from chaoskit.experiment.result import ExperimentResult, Journal
from chaoskit.report.charts import PERCENTILE_COLOURS, PHASE_COLOURS, Band, Line, line_chart
from chaoskit.report.redact import redact
from chaoskit.report.series import series
from chaoskit.slo.window import MAX_QUEUED_SHARE

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
        experiments=[_experiment_view(e) for e in journal.experiments],
        generated=_clock(journal.finished, with_date=True),
        phase_colours=PHASE_COLOURS,
        percentile_colours=PERCENTILE_COLOURS,
    )


def _experiment_view(result: ExperimentResult) -> dict[str, Any]:
    points = series(result)
    bands = [
        Band(kind=p.kind, label=p.name, start=p.start - result.started, end=p.end - result.started)
        for p in result.phases
    ] + [
        Band(kind="invalid", label=f"invalid: {p.invalid}", start=p.offset, end=p.offset + 1)
        for p in points
        if p.invalid
    ]
    x_max = result.finished - result.started
    windows = list(dict.fromkeys(m.window for m in result.measurements))
    # Every judgement: the steady-state objectives, and the RTO and budget when declared.
    judged = dict.fromkeys([*result.objectives, *(m.objective for m in result.measurements)])
    table = {
        objective: {m.window: m for m in result.measurements if m.objective == objective}
        for objective in judged
    }
    charts = [
        line_chart(
            title="throughput",
            unit="requests/s (completed)",
            lines=[
                Line(
                    label="requests/s",
                    colour="#2f6db5",
                    points=[(p.offset, p.requests) for p in points],
                )
            ],
            bands=bands,
            x_max=x_max,
        ),
        line_chart(
            title="error rate",
            unit="errors %",
            lines=[
                Line(
                    label="error %",
                    colour="#c0392b",
                    points=[(p.offset, p.error_pct) for p in points],
                )
            ],
            bands=bands,
            x_max=x_max,
            limits=_limits(result, "error_rate", scale=100),
        ),
        line_chart(
            title="latency",
            unit="latency ms (p50 / p95 / p99)",
            lines=[
                Line(
                    label=label,
                    colour=PERCENTILE_COLOURS[label],
                    points=[(p.offset, getattr(p, f"{label}_ms")) for p in points],
                )
                for label in ("p50", "p95", "p99")
            ],
            bands=bands,
            x_max=x_max,
            limits=_limits(result, "latency", scale=1000),
        ),
    ]
    queued = sum(p.queued for p in points)
    return {
        "result": result,
        "windows": windows,
        "table": table,
        "charts": charts,
        "points": points,
        "duration": x_max,
        "requests": sum(p.requests for p in points),
        "failures": sum(p.failures for p in points),
        "invalid": sum(1 for p in points if p.invalid),
        "queued": queued,
        "queued_max_ms": max((p.queued_max_ms for p in points), default=0.0),
        # The terminal's rule (slo.window): worth a note above a share of the requests.
        "queued_note": queued > MAX_QUEUED_SHARE * sum(p.expected for p in points),
    }


def _limits(result: ExperimentResult, kind: str, *, scale: float) -> list[tuple[str, float]]:
    thresholds = {
        m.objective: m.limit for m in result.measurements if m.kind == kind and m.limit is not None
    }
    return [(objective, limit * scale) for objective, limit in thresholds.items() if limit]


def _clock(epoch: float | None, with_date: bool = False) -> str:
    if epoch is None:
        return "—"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S.%f")[
        : None if with_date else -4
    ]
