"""A rehearsed FIS template's actions as the report shows them: a typed timeline read from
the injection's details (``chaoskit.faults.fis_rehearsal``), and an inline SVG chart of it on
the same time axis as the load charts, so what each action did sits above what users saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from chaoskit.experiment.result import ExperimentResult, InjectionRecord
from chaoskit.report.charts import LEFT, PHASE_COLOURS, RIGHT, WIDTH, Band

ROW, TOP, BOTTOM = 24, 8, 22
STATE_COLOURS = {
    "completed": "#2f6db5",
    "running": "#2f6db5",
    "stopped": "#e67e22",
    "failed": "#b3261e",
    "cancelled": "#9e9e9e",
    "skipped": "#c8c8c8",
    "pending": "#c8c8c8",
    "initiating": "#c8c8c8",
}
EFFECT_COLOUR = "#c0392b"  # while the action's effect was on the instances


@dataclass(frozen=True, kw_only=True)
class ActionSpan:
    """One action; times are seconds since the experiment started (None: never reached)."""

    name: str
    action_id: str
    state: str
    reason: str
    effect: str
    note: str
    instances: str  # "i-1, i-2 of web"
    start_after: tuple[str, ...]
    start: float | None
    end: float | None
    effect_start: float | None
    effect_end: float | None


@dataclass(frozen=True, kw_only=True)
class FisTimeline:
    template: str
    state: str
    reason: str
    time_scale: str
    actions: tuple[ActionSpan, ...]
    stop_conditions: Mapping[str, str]
    unwatched_alarms: tuple[str, ...]
    chart: str


def timelines(result: ExperimentResult, bands: Sequence[Band], x_max: float) -> list[FisTimeline]:
    """One timeline per rehearsed template among the experiment's injections."""
    return [
        _timeline(record, result.started, bands, x_max)
        for record in result.injections
        if record.details.get("kind") == "fis_rehearsal"
    ]


def _timeline(
    record: InjectionRecord, started: float, bands: Sequence[Band], x_max: float
) -> FisTimeline:
    details = record.details

    def offset(value: Any) -> float | None:
        return None if value is None else float(value) - started

    actions = tuple(
        ActionSpan(
            name=str(a["name"]),
            action_id=str(a["action_id"]),
            state=str(a["state"]),
            reason=str(a.get("reason", "")),
            effect=str(a.get("effect", "")),
            note=str(a.get("note", "")),
            instances="; ".join(
                f"{', '.join(ids)} of {target}" for target, ids in a.get("instances", {}).items()
            ),
            start_after=tuple(a.get("start_after", ())),
            start=offset(a.get("started")),
            end=offset(a.get("ended")),
            effect_start=offset(a.get("effect_started")),
            effect_end=offset(a.get("effect_ended")),
        )
        for a in details.get("actions", ())
    )
    state = details.get("state", {})
    return FisTimeline(
        template=str(details.get("template", record.target)),
        state=str(state.get("status", "")),
        reason=str(state.get("reason", "")),
        time_scale=str(details.get("time_scale_shown", "")),
        actions=actions,
        stop_conditions=dict(details.get("stop_conditions", {})),
        unwatched_alarms=tuple(details.get("unwatched_alarms", ())),
        chart=timeline_chart(actions, bands=bands, x_max=x_max),
    )


def timeline_chart(actions: Sequence[ActionSpan], *, bands: Sequence[Band], x_max: float) -> str:
    """A bar per action from its start to its end, in its state's colour, with the time its
    effect was on the instances drawn inside; the phases shaded as on the load charts."""
    height = TOP + ROW * max(1, len(actions)) + BOTTOM
    x_max = max(x_max, 1.0)
    plot_w = WIDTH - LEFT - RIGHT

    def x(value: float) -> float:
        return LEFT + plot_w * min(max(value, 0.0), x_max) / x_max

    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="FIS actions" xmlns="http://www.w3.org/2000/svg">'
    ]
    for band in bands:
        width = max(x(band.end) - x(band.start), 1)
        parts.append(
            f'<rect x="{x(band.start):.1f}" y="{TOP}" width="{width:.1f}"'
            f' height="{height - TOP - BOTTOM}" fill="{PHASE_COLOURS.get(band.kind, "#eee")}" '
            f'opacity="0.6"><title>{escape(band.label)}</title></rect>'
        )
    for row, action in enumerate(actions):
        top = TOP + row * ROW + 3
        label = f"{action.name} · {action.state}"
        if action.start is not None:
            end = action.end if action.end is not None else x_max
            colour = STATE_COLOURS.get(action.state, "#777")
            parts.append(
                f'<rect x="{x(action.start):.1f}" y="{top}" '
                f'width="{max(x(end) - x(action.start), 2):.1f}" height="{ROW - 6}" rx="3" '
                f'fill="{colour}" fill-opacity="0.35" stroke="{colour}">'
                f"<title>{escape(_hover(action))}</title></rect>"
            )
            if action.effect_start is not None:
                effect_end = action.effect_end if action.effect_end is not None else end
                parts.append(
                    # A strip along the bar's foot, leaving its label readable.
                    f'<rect x="{x(action.effect_start):.1f}" y="{top + ROW - 11}" '
                    f'width="{max(x(effect_end) - x(action.effect_start), 2):.1f}" '
                    f'height="4" fill="{EFFECT_COLOUR}">'
                    f"<title>{escape(action.effect)}</title></rect>"
                )
            anchor = x(action.start) + 4
        else:
            anchor = LEFT + 4
        baseline = top + ROW / 2 - 1
        parts.append(
            f'<text x="{anchor:.1f}" y="{baseline:.1f}" class="axis">{escape(label)}</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{height - 6}" class="tick">0s</text>')
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{height - 6}" text-anchor="end" class="tick">'
        f"{x_max:.0f}s</text></svg>"
    )
    return "".join(parts)


def _hover(action: ActionSpan) -> str:
    window = (
        f"+{action.start:.1f}s to +{action.end:.1f}s"
        if action.start is not None and action.end is not None
        else "never started"
    )
    why = f" ({action.reason})" if action.reason else ""
    return f"{action.name} ({action.action_id}) {action.state}{why}: {window}"
