"""The HTML report's content, rendered with jinja2 alone (the Chromium test renders it for real).

Each test reads the page back with the standard library's HTML parser: what a reader finds in
its tables and charts, not how the template spells it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

from chaoskit import slo
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.report import render_html
from chaoskit.report.charts import PHASE_COLOURS
from chaoskit.report.index import render_index
from chaoskit.slo.seconds import SecondStats
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver, Traffic

HOSTILE = "<script>alert(1)</script>"


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts (whitespace collapsed), and the SVG rects."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.rects: list[dict[str, str | None]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "rect":
            self.rects.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _read(html: str) -> _Tables:
    page = _Tables()
    page.feed(html)
    return page


class _LaggingLoad(FakeLoadDriver):
    """Fake load whose generator fell behind in the given seconds."""

    def __init__(self, traffic: Callable[[int], Traffic], lagging: set[int]) -> None:
        super().__init__(traffic)
        self.lagging = lagging

    def collect(self, start: float, end: float) -> list[SecondStats]:
        seconds = super().collect(start, end)
        for stats in seconds:
            if stats.second in self.lagging:
                stats.mark_invalid("event loop stalled 400 ms", lag_ms=400)
        return seconds


def _journal(tmp_path: Path, *, slow: bool = False, lagging: tuple[int, ...] = ()) -> Journal:
    clock = FakeClock()
    start = int(clock.now())
    slow_seconds = set(range(start + 6, start + 11)) if slow else set()

    def traffic(second: int) -> Traffic:
        return Traffic(requests=1500, latency_ms=420 if second in slow_seconds else 4)

    lagging_seconds = {start + offset for offset in lagging}
    experiment = Experiment(
        settings=ExperimentSettings(
            name=f"experiments/test_web.py::test_slow {HOSTILE}",
            objectives=(slo.latency(p=99, below="300ms"), slo.error_rate(below="1%")),
            baseline=5,
            recovery=5,
        ),
        env=FakeEnvironment(name="local"),
        load=_LaggingLoad(traffic, lagging_seconds),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(3),
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    return Journal(
        run_id="20261126-120000-abcdef",
        env="local",
        started=result.started,
        finished=clock.now(),
        seed=3,
        experiments=(result,),
    )


def test_names_and_reasons_are_escaped(tmp_path: Path) -> None:
    clock = FakeClock()
    experiment = Experiment(
        settings=ExperimentSettings(
            name=f"test_x {HOSTILE}",
            objectives=(slo.error_rate(below="1%"),),
            baseline=3,
            recovery=3,
        ),
        env=FakeEnvironment(name="local"),
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(0),
    )

    def body(chaos: Experiment) -> None:
        chaos.inject(FakeFault())
        raise RuntimeError('<img src=x onerror="alert(2)"> & more')

    result = experiment.run(body)
    journal = Journal(
        run_id="r1",
        env="local",
        started=result.started,
        finished=clock.now(),
        seed=0,
        experiments=(result,),
    )
    html = render_html(journal)
    assert HOSTILE not in html and "<img" not in html
    assert "test_x &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt; &amp; more" in html
    # ... and the reader sees the text as it was
    [summary, *_] = _read(html).tables
    assert summary[1][0] == f"test_x {HOSTILE}"
    assert summary[1][3].endswith('RuntimeError: <img src=x onerror="alert(2)"> & more')


def test_the_verdict_table_lists_each_experiment_with_its_outcome_faults_and_reason(
    tmp_path: Path,
) -> None:
    html = render_html(_journal(tmp_path, slow=True))
    summary, faults, _timeline, phases = _read(html).tables[:4]
    assert summary[0] == ["Experiment", "Verdict", "Faults", "Why"]
    [[name, verdict, fault, why]] = summary[1:]
    assert name == f"experiments/test_web.py::test_slow {HOSTILE}"
    assert verdict == "failed"
    assert fault == "FakeFault on web"
    assert why.startswith("SLO breached: p99 < 300ms in fault 1: ")
    assert faults[1][:3] == ["FakeFault on web", "web", "i-000000000000"]
    assert faults[1][5] == "reverted"
    assert [row[0] for row in phases[1:]] == ["baseline", "fault 1", "recovery"]
    assert [row[3] for row in phases[1:]] == ["5.0s", "6.0s", "5.0s"]


def test_the_objectives_table_has_a_column_per_phase_and_a_badge_per_judgement(
    tmp_path: Path,
) -> None:
    html = render_html(_journal(tmp_path, slow=True))
    objectives = _read(html).tables[4]
    assert objectives[0] == ["Objective", "baseline", "fault 1", "recovery"]
    latency, errors = objectives[1:]
    assert latency[0] == "p99 < 300ms" and errors[0] == "errors < 1%"
    assert [cell.split(" n=")[0] for cell in latency[1:]] == ["4ms", "420ms", "4ms"]
    # whole seconds x 1500 requests: 5 in the baseline and the recovery, 6 in the fault
    assert [cell.split(" n=")[1] for cell in latency[1:]] == ["7500", "9000", "7500"]
    # each judgement's status is its badge's class: the breach alone fails
    badges = re.findall(r'<span class="badge (\w+)" title="[^"]*">([^<]+)</span>', html)
    assert [status for status, shown in badges if shown.endswith("ms")] == [
        "pass",
        "fail",
        "pass",
    ]


def _three_experiments(tmp_path: Path) -> Journal:
    """A run of three: one passed, one failed as its xfail marker said, one failed."""
    passed = _journal(tmp_path / "a").experiments[0]
    breached = _journal(tmp_path / "b", slow=True).experiments[0]
    return replace(
        _journal(tmp_path / "c"),
        experiments=(passed, replace(breached, expected_to_fail=True), breached),
    )


def test_the_index_shows_an_xfail_as_expected_not_red(tmp_path: Path) -> None:
    journal = _three_experiments(tmp_path)
    (tmp_path / f"chaoskit-{journal.run_id}.json").write_text(json.dumps(journal.to_json()))
    html = render_index(tmp_path)
    header, row = _read(html).tables[0]
    assert header[:5] == ["Run", "Environment", "Verdicts", "As expected", "Score"]
    assert row[3:5] == ["2 / 3 (1 failed as expected)", "50/100 over 2"]
    # the bar: a third green, a third blue (as expected), a third red
    bars = dict(re.findall(r'<span class="bar (\w)" style="width:(\d+)px">', html))
    assert bars == {"p": "40", "x": "40", "f": "40", "e": "0", "s": "0"}


def test_the_report_states_the_score_and_what_it_covers(tmp_path: Path) -> None:
    html = render_html(_three_experiments(tmp_path))
    assert "score 50/100 over 2 experiments (1 failed as expected, not counted)" in html
    summary = _read(html).tables[0]
    assert [row[1] for row in summary[1:]] == ["passed", "failed as expected", "failed"]


def test_seconds_the_load_generator_lagged_in_are_banded_in_every_chart(
    tmp_path: Path,
) -> None:
    # one second in the fault (+5 s to +11 s), one in the recovery: too few to void either
    journal = _journal(tmp_path, lagging=(8, 13))
    assert journal.experiments[0].outcome == "passed", journal.experiments[0].reason
    html = render_html(journal)
    page = _read(html)
    grey = [rect for rect in page.rects if rect.get("fill") == PHASE_COLOURS["invalid"]]
    assert len(grey) == 2 * 3  # two seconds, in the throughput, error and latency charts
    assert "invalid: the load generator fell behind (2s)" in html
    assert html.count("<title>invalid: event loop stalled 400 ms</title>") == 6
    per_second = page.tables[5]
    assert [row[-1] for row in per_second[1:] if row[-1]] == ["event loop stalled 400 ms"] * 2

    steady = render_html(_journal(tmp_path / "steady"))
    assert "the load generator fell behind" not in steady
    assert not [r for r in _read(steady).rects if r.get("fill") == PHASE_COLOURS["invalid"]]


def test_the_pool_of_users_and_dropped_runs_are_shown_beside_the_throughput(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    start = int(clock.now())

    def traffic(second: int) -> Traffic:
        # In the fault the pool grows to its cap and 30 runs a second find no free user.
        held = start + 6 <= second < start + 11
        return Traffic(requests=200, users=60 if held else 10, dropped=30 if held else 0)

    experiment = Experiment(
        settings=ExperimentSettings(
            name="pool", objectives=(slo.error_rate(below="1%"),), baseline=5, recovery=5
        ),
        env=FakeEnvironment(name="local"),
        load=FakeLoadDriver(traffic),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(3),
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    journal = Journal(
        run_id="20261126-120000-abcdef",
        env="local",
        started=result.started,
        finished=clock.now(),
        seed=3,
        experiments=(result,),
    )
    # Through the JSON journal, as `chaoskit report` reads it.
    html = render_html(Journal.from_json(json.loads(json.dumps(journal.to_json()))))
    assert "users running (the load&#x27;s pool)" in html  # the users chart
    assert "dropped runs/s (no free user)" in html
    assert "150 scheduled task runs found every user" in html
    assert "pool at its cap (60 users)" in html
    per_second = _read(html).tables[5]
    header = per_second[0]
    dropped, users = header.index("dropped"), header.index("users")
    assert {row[dropped] for row in per_second[1:]} == {"", "30"}
    assert {row[users] for row in per_second[1:]} == {"10", "60"}
