"""The report's charts as a reader sees them: where a line sits, what a band or label says.

Pages are rendered with jinja2 alone and read back with the standard library's parser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from tests.report_journals import T0, journal, latency, result, second

from chaoskit.report import render_html
from chaoskit.report.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Line, line_chart


class _Svg(HTMLParser):
    """Each chart of a page: its polylines (label -> points), rects and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, list[object]]] = []
        self._open: str | None = None
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.charts.append(
                {"label": [dict(attrs)["aria-label"]], "lines": [], "rects": [], "texts": []}
            )
        elif tag in ("path", "rect", "text") and self.charts:
            self._open, self._attrs = tag, dict(attrs)

    def handle_data(self, data: str) -> None:
        if not self.charts or self._open is None:
            return
        chart = self.charts[-1]
        if self._open == "path":
            chart["lines"].append((data, _vertices(str(self._attrs["d"])), self._attrs))
        elif self._open == "rect":
            chart["rects"].append((data, self._attrs))
        else:
            chart["texts"].append((data, self._attrs))
        self._open = None


def _vertices(path: str) -> list[tuple[float, float]]:
    """The corners an SVG path of M, H and V commands passes through."""
    points: list[tuple[float, float]] = []
    for command, args in re.findall(r"([MHV])([-\d.,]+)", path):
        if command == "M":
            px, py = map(float, args.split(","))
        elif command == "H":
            px, py = float(args), points[-1][1]
        else:
            px, py = points[-1][0], float(args)
        points.append((px, py))
    return points


def _charts(html: str) -> dict[str, dict[str, list[object]]]:
    page = _Svg()
    page.feed(html)
    return {str(c["label"][0]): c for c in page.charts}


def _slow_fault(offset: int) -> object:
    return second(offset, latency_ms=420 if 6 <= offset < 11 else 4)


def test_a_millisecond_baseline_stands_clear_of_the_axis_beside_a_slow_fault() -> None:
    slow = result(seconds=_slow_fault, measurements=(latency("p99 < 300ms", 0.3, "fault 1", 420),))
    chart = _charts(render_html(journal(slow)))["latency"]
    [(_, points, _)] = [line for line in chart["lines"] if line[0] == "p50"]
    bottom, plot_h = HEIGHT - BOTTOM, HEIGHT - TOP - BOTTOM
    baseline_y = points[0][1]
    fault_y = next(y for x, y in points if y < baseline_y)
    # On a linear axis to 500 ms, 4 ms would sit 1 px above the axis; here the 4 ms and
    # 420 ms seconds are each a good part of the plot apart from the axis and each other.
    assert bottom - baseline_y > plot_h / 6
    assert baseline_y - fault_y > plot_h / 4
    texts = [text for text, _ in chart["texts"]]
    assert "latency ms (p50 / p95 / p99) (log scale)" in texts
    assert {"1", "10", "100", "1000"} <= set(texts)  # decades on the axis


def test_objectives_at_one_threshold_share_one_label_and_close_ones_do_not_overlap() -> None:
    svg = line_chart(
        title="latency",
        unit="ms",
        lines=[Line(label="p99", colour="#000", points=[(0, 10.0), (1, 20.0)])],
        bands=[],
        x_max=2,
        limits=[("p98 < 300ms", 300), ("p99 < 300ms", 300), ("p95 < 290ms", 290)],
        scale="log",
    )
    labels = re.findall(r'<text [^>]*y="([\d.]+)"[^>]*class="tick limit"[^>]*>([^<]+)</text>', svg)
    assert [text for _, text in labels] == ["p98 &lt; 300ms · p99 &lt; 300ms", "p95 &lt; 290ms"]
    (upper, _), (lower, _) = labels
    assert float(lower) - float(upper) >= 11  # a line of 10 px text apart


def test_each_second_is_drawn_across_its_whole_width() -> None:
    svg = line_chart(
        title="t",
        unit="req/s",
        lines=[Line(label="rps", colour="#000", points=[(0, 5.0), (1, 5.0), (2, 8.0)])],
        bands=[],
        x_max=10,
    )
    [path] = re.findall(r' d="([^"]+)"', svg)
    per_second = (WIDTH - LEFT - RIGHT) / 10
    [(x0, low), (x2, low_again), (x2_up, high), (x3, high_again)] = _vertices(path)
    # seconds 0 and 1 span x(0)..x(2) at one height, second 2 spans x(2)..x(3) higher:
    # no value is drawn before its time
    assert (x0, x2, x2_up, x3) == pytest.approx(
        (LEFT, LEFT + 2 * per_second, LEFT + 2 * per_second, LEFT + 3 * per_second), abs=0.1
    )
    assert low == low_again and high == high_again and high < low


def test_the_time_between_phases_is_banded_and_says_what_happened_in_it() -> None:
    html = render_html(journal(result()))
    rects = _charts(html)["throughput"]["rects"]
    gaps = [(title, attrs) for title, attrs in rects if "not judged" in title]
    assert [title for title, _ in gaps] == [
        "injecting the fault: not judged",
        "reverting the fault: not judged",
    ]
    per_second = (WIDTH - LEFT - RIGHT) / 16
    assert abs(float(str(gaps[0][1]["x"])) - (LEFT + 5 * per_second)) < 0.2
    assert "injecting or reverting: between phases, not judged" in html


def test_failures_are_charted_per_second_by_cause() -> None:
    def failing(offset: int) -> object:
        if 6 <= offset < 9:
            return second(offset, ok=50, failed={"HTTP 503": 40, "ConnectionResetError": 10})
        return second(offset)

    html = render_html(journal(result(seconds=failing)))
    chart = _charts(html)["failed requests by cause"]
    lines = {label: points for label, points, _ in chart["lines"]}
    assert set(lines) == {"HTTP 503", "ConnectionResetError"}
    legend = [text for text, attrs in chart["texts"] if "legend" in str(attrs.get("class"))]
    assert legend == ["ConnectionResetError", "HTTP 503"]
    # the 503s rise exactly over seconds 6 to 9
    high = min(y for _, y in lines["HTTP 503"])
    per_second = (WIDTH - LEFT - RIGHT) / 16
    risen = [x for x, y in lines["HTTP 503"] if y == high]
    assert abs(min(risen) - (LEFT + 6 * per_second)) < 0.1
    assert abs(max(risen) - (LEFT + 9 * per_second)) < 0.1

    steady = _charts(render_html(journal(result())))
    assert "failed requests by cause" not in steady


def test_the_throughput_chart_shows_the_schedule_beside_what_completed() -> None:
    def dropping(offset: int) -> object:
        stats = second(offset, ok=30 if offset == 7 else 100)
        stats.expected = 100
        return stats

    chart = _charts(render_html(journal(result(seconds=dropping, started=T0))))["throughput"]
    lines = {label: (points, attrs) for label, points, attrs in chart["lines"]}
    assert set(lines) == {"scheduled requests/s", "requests/s"}
    assert lines["scheduled requests/s"][1].get("stroke-dasharray")
    assert len({y for _, y in lines["scheduled requests/s"][0]}) == 1
    assert len({y for _, y in lines["requests/s"][0]}) == 2  # the dip at +7 s
