"""Small inline SVG charts: the report stays one file that opens offline, with no script.

Each measured second is drawn across its whole width (a step from its start to its end), so
a value sits over the time it was measured in, not before it. Latency is drawn on a log
scale: a 4 ms baseline and a 400 ms fault both stay readable, where a linear axis scaled to
the objective flattens the baseline onto zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

WIDTH, HEIGHT = 760, 170
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 26
LABEL_GAP = 11  # px between two objective labels, so neither covers the other
PHASE_COLOURS = {
    "baseline": "#dbe7f5",
    "fault": "#f8d3cf",
    "recovery": "#d6f0dc",
    "gap": "#f1f1f1",  # between two phases: injecting or reverting, not judged
    "invalid": "#9e9e9e",  # seconds the load generator itself fell behind in
}
PERCENTILE_COLOURS = {"p50": "#7f8c8d", "p95": "#e67e22", "p99": "#8e44ad"}
# One colour per cause of failure, most frequent first; the rest share the last.
CAUSE_COLOURS = ("#c0392b", "#2f6db5", "#e67e22", "#16a085", "#8e44ad", "#7f8c8d")
Scale = Literal["linear", "log"]


@dataclass(frozen=True, kw_only=True)
class Line:
    label: str
    colour: str
    points: Sequence[tuple[float, float | None]]  # (second's start, value); None is a gap
    dashed: bool = False  # a reference (what was planned), under what was measured


@dataclass(frozen=True, kw_only=True)
class Band:
    kind: str
    label: str
    start: float
    end: float


@dataclass(frozen=True, kw_only=True)
class _Axis:
    """Maps values onto the plot's height, linearly or by decades."""

    scale: Scale
    low: float
    high: float

    def fraction(self, value: float) -> float:
        if self.scale == "log":
            value = min(max(value, self.low), self.high)
            return (math.log10(value) - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        return min(max(value, self.low), self.high) / self.high

    def ticks(self) -> list[float]:
        if self.scale == "log":
            first, last = round(math.log10(self.low)), round(math.log10(self.high))
            return [10.0**exponent for exponent in range(first, last + 1)]
        return [0.0, self.high / 2, self.high]


def _axis(values: Sequence[float], scale: Scale) -> _Axis:
    if scale == "log":
        positive = [v for v in values if v > 0]
        low = 10 ** math.floor(math.log10(min(positive, default=1.0)))
        high = 10 ** math.ceil(math.log10(max(positive, default=10.0)))
        return _Axis(scale="log", low=low, high=max(high, low * 10))
    return _Axis(scale="linear", low=0.0, high=_nice_ceiling(max(values, default=0.0)))


def line_chart(
    *,
    title: str,
    unit: str,
    lines: Sequence[Line],
    bands: Sequence[Band],
    x_max: float,
    limits: Sequence[tuple[str, float]] = (),
    scale: Scale = "linear",
    legend: bool = False,
) -> str:
    """``legend`` names each line in its colour above the plot. ``limits`` are objective
    thresholds, drawn as dashed lines so a breach is visible; thresholds of the same value
    share one line and one label."""
    values = [y for line in lines for _, y in line.points if y is not None]
    values += [value for _, value in limits]
    axis = _axis(values, scale)
    x_max = max(x_max, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return LEFT + plot_w * min(max(value, 0.0), x_max) / x_max

    def y(value: float) -> float:
        return TOP + plot_h * (1 - axis.fraction(value))

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
    for tick_value in axis.ticks():
        gy = y(tick_value)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" '
            f'stroke="#ccc" stroke-width="0.6"/>'
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" class="tick">'
            f"{_label(tick_value)}</text>"
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
        dash = ' stroke-dasharray="2 3"' if line.dashed else ""
        for segment in _segments(line.points):
            parts.append(
                f'<path fill="none" stroke="{line.colour}" stroke-width="1.6"{dash} '
                f'd="{_steps(segment, x, y)}"><title>{escape(line.label)}</title></path>'
            )
    for label, value, label_y in _placed_limits(limits, y):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#b3261e" stroke-width="1.2" stroke-dasharray="5 4">'
            f"<title>{escape(label)}</title></line>"
            f'<text x="{WIDTH - RIGHT - 4}" y="{label_y:.1f}" text-anchor="end" '
            f'class="tick limit" style="fill:#b3261e">{escape(label)}</text>'
        )
    if legend:
        right = float(WIDTH - RIGHT)
        for line in reversed(lines):
            parts.append(
                f'<text x="{right:.1f}" y="{TOP - 3}" text-anchor="end" class="tick legend" '
                f'style="fill:{line.colour}">{escape(line.label)}</text>'
            )
            right -= 6.5 * len(line.label) + 12  # about the width of a 10 px label
    axis_note = f"{unit} (log scale)" if scale == "log" else unit
    parts.append(f'<text x="{LEFT}" y="{TOP - 3}" class="axis">{escape(axis_note)}</text></svg>')
    return "".join(parts)


def _placed_limits(
    limits: Sequence[tuple[str, float]], y: Callable[[float], float]
) -> list[tuple[str, float, float]]:
    """(label, value, label's y): one label per threshold value, naming every objective at
    it, and labels moved apart where their lines are closer than a line of text."""
    by_value: dict[float, list[str]] = {}
    for label, value in limits:
        by_value.setdefault(value, [])
        if label not in by_value[value]:
            by_value[value].append(label)
    placed: list[tuple[str, float, float]] = []
    previous: float | None = None
    # Top to bottom: each label just above its line, pushed down below the one above it.
    for value in sorted(by_value, reverse=True):
        label_y = y(value) - 4
        if previous is not None and label_y < previous + LABEL_GAP:
            label_y = previous + LABEL_GAP
        placed.append((" · ".join(by_value[value]), value, label_y))
        previous = label_y
    return placed


def _steps(
    segment: Sequence[tuple[float, float]],
    x: Callable[[float], float],
    y: Callable[[float], float],
) -> str:
    """An SVG path of steps: across each second (H), up or down to the next (V). An hour is
    3,600 steps per line: short commands, and one H for a run of equal seconds, keep the page
    small."""
    (first_x, first_y), *_ = segment
    drawn = [f"M{x(first_x):.1f},{y(first_y):.1f}"]
    level = f"{y(first_y):.1f}"
    for px, py in segment:
        height = f"{y(py):.1f}"
        if height != level:
            drawn.append(f"V{height}")
            level = height
        across = f"H{x(px + 1):.1f}"
        if drawn[-1][0] == "H":
            drawn[-1] = across  # the same height as the second before: one line
        else:
            drawn.append(across)
    return "".join(drawn)


def _segments(
    points: Sequence[tuple[float, float | None]],
) -> list[list[tuple[float, float]]]:
    """Runs of seconds with a value; a second without one breaks the line."""
    segments: list[list[tuple[float, float]]] = [[]]
    for px, py in points:
        if py is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((px, py))
    return [s for s in segments if s]


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
