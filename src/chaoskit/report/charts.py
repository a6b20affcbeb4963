"""Small inline SVG line charts: the report stays one file that opens offline, with no script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 170
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 26
PHASE_COLOURS = {
    "baseline": "#dbe7f5",
    "fault": "#f8d3cf",
    "recovery": "#d6f0dc",
    "invalid": "#9e9e9e",  # seconds the load generator itself fell behind in
}
PERCENTILE_COLOURS = {"p50": "#7f8c8d", "p95": "#e67e22", "p99": "#8e44ad"}


@dataclass(frozen=True, kw_only=True)
class Line:
    label: str
    colour: str
    points: Sequence[tuple[float, float | None]]  # (x, y); None is a gap


@dataclass(frozen=True, kw_only=True)
class Band:
    kind: str
    label: str
    start: float
    end: float


def line_chart(
    *,
    title: str,
    unit: str,
    lines: Sequence[Line],
    bands: Sequence[Band],
    x_max: float,
    limits: Sequence[tuple[str, float]] = (),
) -> str:
    """``limits`` are objective thresholds, drawn as dashed lines so a breach is visible."""
    values = [y for line in lines for _, y in line.points if y is not None]
    values += [value for _, value in limits]
    y_max = _nice_ceiling(max(values, default=0.0))
    x_max = max(x_max, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return LEFT + plot_w * min(max(value, 0.0), x_max) / x_max

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for band in bands:
        colour = PHASE_COLOURS.get(band.kind, "#eee")
        parts.append(
            f'<rect x="{x(band.start):.1f}" y="{TOP}" '
            f'width="{max(x(band.end) - x(band.start), 1):.1f}"'
            f' height="{plot_h}" fill="{colour}"><title>{escape(band.label)}</title></rect>'
        )
    for fraction in (0, 0.5, 1):
        gy = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" '
            f'stroke="#ccc" stroke-width="0.6"/>'
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" class="tick">'
            f"{_label(y_max * fraction)}</text>"
        )
    step = _nice_step(x_max)
    tick = 0.0
    while tick <= x_max:
        parts.append(
            f'<text x="{x(tick):.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="tick">'
            f"{tick:g}s</text>"
        )
        tick += step
    for line in lines:
        for segment in _segments(line.points):
            path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in segment)
            parts.append(
                f'<polyline fill="none" stroke="{line.colour}" stroke-width="1.6" points="{path}">'
                f"<title>{escape(line.label)}</title></polyline>"
            )
    for label, value in limits:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#b3261e" stroke-width="1.2" stroke-dasharray="5 4">'
            f"<title>{escape(label)}</title></line>"
            f'<text x="{WIDTH - RIGHT - 4}" y="{y(value) - 4:.1f}" text-anchor="end" '
            f'class="tick" fill="#b3261e">{escape(label)}</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{TOP - 3}" class="axis">{escape(unit)}</text></svg>')
    return "".join(parts)


def _segments(
    points: Sequence[tuple[float, float | None]],
) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for px, py in points:
        if py is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((px, py))
    return [s if len(s) > 1 else s * 2 for s in segments if s]


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    for multiple in (1, 2, 2.5, 5, 10):
        if value <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude


def _nice_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if span / step <= 10:
            return float(step)
    return span / 10


def _label(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"
