"""The report's table per endpoint (a locust request's name) and phase, rendered with jinja2
alone: requests, failures and p50/p95/p99 of each endpoint in each phase."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.report_pages import table_rows

from chaoskit import slo
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.experiment.journal_checks import check_journal
from chaoskit.report import render_html
from chaoskit.slo.seconds import SecondStats
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver

HOSTILE = "/search?q=<script>alert(1)</script>"


def _rows(html: str) -> list[list[str]]:
    return table_rows(html, "endpoints")


class _NamedLoad(FakeLoadDriver):
    """Fake load whose requests are named: /cart fast throughout; /checkout slow and failing
    while the fault is on (seconds 6 to 10 of the experiment), and a hostile name."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start_second = start

    def collect(self, start: float, end: float) -> list[SecondStats]:
        seconds = super().collect(start, end)
        for stats in seconds:
            faulted = 6 <= stats.second - self.start_second < 11
            stats.endpoint("/cart").record_tally({4_000: 1000})
            checkout = stats.endpoint("/checkout")
            checkout.record_tally({250_000 if faulted else 8_000: 300})
            for _ in range(30 if faulted else 0):
                checkout.record_failure("HTTP 503")
            stats.endpoint(HOSTILE).record_tally({1_000: 1})
        return seconds


def _journal(tmp_path: Path, load: FakeLoadDriver | None = None) -> Journal:
    clock = FakeClock()
    experiment = Experiment(
        settings=ExperimentSettings(
            name="experiments/test_web.py::test_checkout",
            objectives=(slo.error_rate(below="50%"),),
            baseline=5,
            recovery=5,
        ),
        env=FakeEnvironment(name="local"),
        load=load or _NamedLoad(int(clock.now())),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(0),
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    return Journal(
        run_id="20261126-120000-abcdef",
        env="local",
        started=result.started,
        finished=clock.now(),
        seed=0,
        experiments=(result,),
    )


def test_each_endpoint_has_its_requests_failures_and_latency_per_phase(tmp_path: Path) -> None:
    rows = _rows(render_html(_journal(tmp_path)))

    phases, columns, *body = rows
    assert phases == ["Endpoint (locust name)", "baseline", "fault 1", "recovery"]
    assert columns == ["requests", "failed", "p50 / p95 / p99 ms"] * 3
    by_name = {row[0]: row[1:] for row in body}
    assert [row[0] for row in body] == ["/cart", "/checkout", HOSTILE]  # most requests first
    # the whole seconds of each phase: 5, 6 and 5 of 1,000 /cart requests
    cart, checkout = by_name["/cart"], by_name["/checkout"]
    assert cart[0::3] == ["5000", "6000", "5000"]
    assert cart[1::3] == ["0", "0", "0"]
    # /checkout failed in the 5 faulted seconds of the fault's 6
    assert checkout[0::3] == ["1500", "1950", "1500"]
    assert checkout[1::3] == ["0", "150 (7.7%)", "0"]
    baseline_p50, fault_p50 = (float(cell.split(" / ")[0]) for cell in checkout[2:6:3])
    assert abs(baseline_p50 - 8) <= 0.03 * 8 and abs(fault_p50 - 250) <= 0.03 * 250
    # 4 successes of the hostile endpoint in a phase: too few for any percentile
    assert by_name[HOSTILE][2] == "— / — / —"


def test_an_endpoint_name_is_escaped(tmp_path: Path) -> None:
    html = render_html(_journal(tmp_path))
    assert "<script>alert(1)</script>" not in html
    assert "/search?q=&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_without_named_requests_there_is_no_endpoint_table(tmp_path: Path) -> None:
    assert _rows(render_html(_journal(tmp_path, FakeLoadDriver()))) == []


def test_endpoints_round_trip_through_the_journal(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    data = json.loads(json.dumps(journal.to_json()))
    check_journal(data)
    again = Journal.from_json(data)
    before = render_html(journal)
    assert _rows(render_html(again)) == _rows(before)
    [second, *_] = data["experiments"][0]["seconds"]
    assert second["endpoints"]["/cart"]["ok"] == 1000
