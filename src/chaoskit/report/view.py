"""What the report shows of one experiment, computed from its result: the typed view the
``report.html.j2`` template renders (tables, charts, per-second points, totals)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaoskit.experiment.result import ExperimentResult
from chaoskit.experiment.score import failed_as_expected
from chaoskit.report.charts import (
    CAUSE_COLOURS,
    PERCENTILE_COLOURS,
    Band,
    Line,
    line_chart,
)
from chaoskit.report.chronology import Moment, chronology
from chaoskit.report.endpoints import EndpointTable, endpoint_table
from chaoskit.report.instances import InstanceTable, instance_table
from chaoskit.report.series import SecondPoint, series
from chaoskit.report.timeline import FisTimeline, timelines
from chaoskit.slo.measurement import Measurement
from chaoskit.slo.window import MAX_QUEUED_SHARE

GAP_SHOWN_S = 0.05  # shorter pauses between phases are bookkeeping, not worth a band


@dataclass(frozen=True, kw_only=True)
class ExperimentView:
    result: ExperimentResult
    as_expected: bool  # xfail: failed (or errored) as its marker said, shown apart from red
    windows: tuple[str, ...]  # the objectives table's columns: every judged window, in order
    # objective -> window -> its measurement: every judgement, the steady-state objectives
    # (also those never judged) and the RTO and budget when declared
    table: Mapping[str, Mapping[str, Measurement]]
    # inline SVG: throughput, error rate, latency, and failures by cause when any failed
    charts: tuple[str, ...]
    # Rehearsed FIS templates: each action's timeline, drawn on the load charts' time axis.
    timelines: tuple[FisTimeline, ...]
    chronology: tuple[Moment, ...]  # what happened, in order, with times
    points: tuple[SecondPoint, ...]
    duration: float  # seconds from the experiment's start to its end
    requests: int
    failures: int
    # Why requests failed (an HTTP status, an exception class), most frequent first: a task
    # that raises on every run shows here as its exception.
    failure_reasons: tuple[tuple[str, int], ...]
    invalid: int  # seconds in which the load generator fell behind
    gaps: bool  # time between phases (injecting, reverting), banded apart on the charts
    queued: int
    queued_max_ms: float
    # The terminal's rule (slo.window): worth a note above a share of the requests.
    queued_note: bool
    # Requests, failures and latency per locust request name and phase; None: none named.
    endpoints: EndpointTable | None = None
    # Requests, errors and latency per instance and phase, and each instance's story; None:
    # the provider does not count per instance.
    instances: InstanceTable | None = None
    dropped: int = 0  # scheduled runs that found no free user and the pool at its cap
    users_max: int = 0  # the most users the load ran in a second (0: not recorded)


def experiment_view(result: ExperimentResult) -> ExperimentView:
    points = series(result)
    bands = phase_bands(result) + [
        Band(kind="invalid", label=f"invalid: {p.invalid}", start=p.offset, end=p.offset + 1)
        for p in points
        if p.invalid
    ]
    x_max = result.finished - result.started
    windows = tuple(dict.fromkeys(m.window for m in result.measurements))
    judged = dict.fromkeys([*result.objectives, *(m.objective for m in result.measurements)])
    table = {
        objective: {m.window: m for m in result.measurements if m.objective == objective}
        for objective in judged
    }
    dropped = sum(p.dropped for p in points)
    charts = (
        line_chart(
            title="throughput",
            unit="requests/s (completed; dotted: the load's schedule)",
            lines=[
                Line(
                    label="scheduled requests/s",
                    colour="#9aa5b1",
                    points=[(p.offset, p.expected) for p in points],
                    dashed=True,
                ),
                Line(
                    label="requests/s",
                    colour="#2f6db5",
                    points=[(p.offset, p.requests) for p in points],
                ),
                *(
                    [
                        Line(
                            label="dropped runs/s (no free user)",
                            colour="#c0392b",
                            points=[(p.offset, p.dropped) for p in points],
                        )
                    ]
                    if dropped
                    else []
                ),
            ],
            bands=bands,
            x_max=x_max,
        ),
        *_users_chart(points, bands, x_max),
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
                    label="p50",
                    colour=PERCENTILE_COLOURS["p50"],
                    points=[(p.offset, p.p50_ms) for p in points],
                ),
                Line(
                    label="p95",
                    colour=PERCENTILE_COLOURS["p95"],
                    points=[(p.offset, p.p95_ms) for p in points],
                ),
                Line(
                    label="p99",
                    colour=PERCENTILE_COLOURS["p99"],
                    points=[(p.offset, p.p99_ms) for p in points],
                ),
            ],
            bands=bands,
            x_max=x_max,
            limits=_limits(result, "latency", scale=1000),
            scale="log",
        ),
        *_causes_chart(points, bands, x_max),
    )
    queued = sum(p.queued for p in points)
    return ExperimentView(
        result=result,
        as_expected=failed_as_expected(
            outcome=result.outcome, cause=result.cause, expected_to_fail=result.expected_to_fail
        ),
        windows=windows,
        table=table,
        charts=charts,
        timelines=tuple(timelines(result, bands, x_max)),
        chronology=chronology(result),
        points=tuple(points),
        duration=x_max,
        requests=sum(p.requests for p in points),
        failures=sum(p.failures for p in points),
        failure_reasons=_failure_reasons(result),
        invalid=sum(1 for p in points if p.invalid),
        gaps=any(band.kind == "gap" for band in bands),
        queued=queued,
        queued_max_ms=max((p.queued_max_ms for p in points), default=0.0),
        queued_note=queued > MAX_QUEUED_SHARE * sum(p.expected for p in points),
        endpoints=endpoint_table(result),
        instances=instance_table(result),
        dropped=dropped,
        users_max=max((p.users for p in points), default=0),
    )


def phase_bands(result: ExperimentResult) -> list[Band]:
    """The phases as shaded bands, and what happened in the time between two of them
    (injecting or reverting a fault), which no window judges."""
    bands: list[Band] = []
    previous = None
    for phase in result.phases:
        start, end = phase.start - result.started, phase.end - result.started
        if previous is not None and start - (previous.end - result.started) > GAP_SHOWN_S:
            bands.append(
                Band(
                    kind="gap",
                    label=_gap_label(previous.kind, phase.kind),
                    start=previous.end - result.started,
                    end=start,
                )
            )
        bands.append(Band(kind=phase.kind, label=phase.name, start=start, end=end))
        previous = phase
    return bands


def _gap_label(before: str, after: str) -> str:
    if after == "fault":
        return "injecting the fault: not judged"
    if before == "fault":
        return "reverting the fault: not judged"
    return "between phases: not judged"


def _users_chart(points: Sequence[SecondPoint], bands: list[Band], x_max: float) -> list[str]:
    """How many users the load ran each second, under the throughput: an open-model load's
    pool grows when its users are all busy (a slow or stalled target), so this shows when
    the target held them, and how close the pool came to its cap."""
    if not any(p.users for p in points):
        return []  # recorded before pools existed
    return [
        line_chart(
            title="users",
            unit="users running (the load's pool)",
            lines=[
                Line(
                    label="users",
                    colour="#6b4fa0",
                    points=[(p.offset, p.users or None) for p in points],
                )
            ],
            bands=bands,
            x_max=x_max,
        )
    ]


def _causes_chart(points: Sequence[SecondPoint], bands: list[Band], x_max: float) -> list[str]:
    """Failed requests per second, a line per cause (an HTTP status, an exception class):
    when the errors began, and whether their kind changed as the fault went on."""
    totals: Counter[str] = Counter()
    for point in points:
        totals.update(point.failed)
    if not totals:
        return []
    ranked = [cause for cause, _ in totals.most_common()]
    shown, rest = ranked[: len(CAUSE_COLOURS) - 1], ranked[len(CAUSE_COLOURS) - 1 :]
    lines = [
        Line(
            label=cause,
            colour=colour,
            points=[(p.offset, p.failed.get(cause, 0)) for p in points],
        )
        for cause, colour in zip(shown, CAUSE_COLOURS, strict=False)
    ]
    if rest:
        lines.append(
            Line(
                label=f"{len(rest)} other causes",
                colour=CAUSE_COLOURS[-1],
                points=[(p.offset, sum(p.failed.get(c, 0) for c in rest)) for p in points],
            )
        )
    chart = line_chart(
        title="failed requests by cause",
        unit="failed requests/s by cause",
        lines=lines,
        bands=bands,
        x_max=x_max,
        legend=True,
    )
    return [chart]


def _failure_reasons(result: ExperimentResult) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter()
    for second in result.seconds:
        counts.update(second.failed)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _limits(result: ExperimentResult, kind: str, *, scale: float) -> list[tuple[str, float]]:
    """Objective thresholds of ``kind``, in the chart's unit, drawn so a breach is visible."""
    thresholds = {
        m.objective: m.limit for m in result.measurements if m.kind == kind and m.limit is not None
    }
    return [(objective, limit * scale) for objective, limit in thresholds.items() if limit]
