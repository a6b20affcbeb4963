"""What each instance served, from the provider's counts to the report: the lifecycle reads
them for the load's target at the end (never fatally), the journal keeps them (checked and
redacted), and the page shows a row per instance and phase with its story, rendered with
jinja2 alone."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from tests.report_pages import table_rows

from chaoskit import slo
from chaoskit.errors import ProviderError
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.experiment.journal_checks import DamagedJournal, check_journal
from chaoskit.report import render_html
from chaoskit.slo.endpoints import bucket_of
from chaoskit.slo.instances import InstanceSecond, InstanceTraffic
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver, FakeTarget

HOSTILE = "i-<script>alert(1)</script>"


@dataclass(kw_only=True)
class _CountingTarget(FakeTarget):
    """A fake target whose provider counts per instance (``ReportsInstances``): three
    instances; the first is slow and failing in seconds 6 to 10 of the experiment, the last
    one is terminated at +8s and replaced by a fourth."""

    started: float = 0.0
    fail_counts: bool = False
    asked: list[tuple[float, float]] = field(default_factory=list)

    def instance_traffic(self, since: float, until: float) -> Sequence[InstanceTraffic]:
        self.asked.append((since, until))
        if self.fail_counts:
            raise ProviderError("the control port did not answer")
        t0 = int(self.started)

        def second(offset: int, slow: bool = False, requests: int = 300) -> InstanceSecond:
            return InstanceSecond(
                second=t0 + offset,
                requests=requests,
                errors={"HTTP 503": 30} if slow else {},
                latency={bucket_of(250_000 if slow else 4_000): requests},
            )

        return (
            InstanceTraffic(
                id="i-slow",
                started_at=self.started - 100,
                seconds=tuple(second(o, slow=6 <= o < 11) for o in range(20)),
            ),
            InstanceTraffic(
                id=HOSTILE, started_at=self.started - 100, seconds=(second(1, requests=3),)
            ),
            InstanceTraffic(
                id="i-gone",
                started_at=self.started - 100,
                gone_at=self.started + 8,
                seconds=tuple(second(o) for o in range(8)),
            ),
            InstanceTraffic(
                id="i-new",
                started_at=self.started + 9.5,
                seconds=tuple(second(o) for o in range(10, 20)),
            ),
        )


def _rows(html: str) -> list[list[str]]:
    return table_rows(html, "instances")


def _experiment(tmp_path: Path, target: FakeTarget, notes: list[str]) -> Experiment:
    clock = FakeClock()
    if isinstance(target, _CountingTarget):
        target.started = clock.now()
    return Experiment(
        settings=ExperimentSettings(
            name="experiments/test_web.py::test_one_slow_instance",
            objectives=(slo.error_rate(below="50%"),),
            baseline=5,
            recovery=5,
            load_target="web",
        ),
        env=FakeEnvironment(name="local", targets={"web": target}),
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(0),
        notify=notes.append,
    )


def _journal(tmp_path: Path, target: FakeTarget | None = None) -> Journal:
    target = target or _CountingTarget(name="web")
    experiment = _experiment(tmp_path, target, [])
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    # The fault hit the slow instance and the one that went (as a terminate would).
    [injection] = result.injections
    result = replace(result, injections=(replace(injection, instance_ids=("i-slow", "i-gone")),))
    return Journal(
        run_id="20261204-120000-abcdef",
        env="local",
        started=result.started,
        finished=result.finished,
        seed=0,
        experiments=(result,),
    )


def test_each_instance_has_its_requests_errors_latency_and_story_per_phase(
    tmp_path: Path,
) -> None:
    rows = _rows(render_html(_journal(tmp_path)))

    phases, columns, *body = rows
    assert phases == ["Instance", "What happened to it", "baseline", "fault 1", "recovery"]
    assert columns == ["requests", "errors", "mean / p95 ms"] * 3
    by_id = {row[0]: row[1:] for row in body}
    assert list(by_id) == [HOSTILE, "i-gone", "i-slow", "i-new"]  # by start, then id
    slow = by_id["i-slow"]
    assert slow[0] == "FakeFault on web at +5.0s"
    # whole seconds: 5 in the baseline, 6 in the fault (5 of them slow), 5 in the recovery
    assert slow[1::3] == ["1500", "1800", "1500"]
    assert slow[2::3] == ["0", "150 (8.3%)", "0"]
    baseline_p95 = float(slow[3].split(" / ")[1])
    fault_p95 = float(slow[6].split(" / ")[1])
    assert abs(baseline_p95 - 4) <= 0.04 * 4 and abs(fault_p95 - 250) <= 0.04 * 250
    # too few answered requests for a p95: the mean only
    assert by_id[HOSTILE][3].endswith("/ —")
    assert by_id["i-gone"][0] == "FakeFault on web at +5.0s | left the balancer at +8.0s"
    assert by_id["i-gone"][4] == "900"  # seconds 5 to 7, the fault's first three
    assert by_id["i-new"][0] == "came up at +9.5s"
    assert by_id["i-new"][1::3] == ["0", "300", "1500"]


def test_an_instance_id_is_escaped(tmp_path: Path) -> None:
    html = render_html(_journal(tmp_path))
    assert "<script>alert(1)</script>" not in html
    assert "i-&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_target_that_does_not_count_per_instance_gets_no_table(tmp_path: Path) -> None:
    journal = _journal(tmp_path, FakeTarget(name="web"))
    assert journal.experiments[0].instances == ()
    assert _rows(render_html(journal)) == []
    assert "instances" not in journal.experiments[0].to_json()


def test_the_counts_are_read_once_for_the_experiment_and_a_failure_is_only_noted(
    tmp_path: Path,
) -> None:
    counting = _CountingTarget(name="web")
    experiment = _experiment(tmp_path, counting, [])
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    assert counting.asked == [(result.started, result.finished)]
    assert [i.id for i in result.instances] == ["i-slow", HOSTILE, "i-gone", "i-new"]

    failing, notes = _CountingTarget(name="web", fail_counts=True), []
    result = _experiment(tmp_path, failing, notes).run(
        lambda chaos: chaos.inject(FakeFault(), hold="6s")
    )
    assert result.outcome == "passed" and result.instances == ()
    assert any("could not be read: the control port did not answer" in n for n in notes)


def test_instances_round_trip_through_the_journal_and_are_checked(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    data = json.loads(json.dumps(journal.to_json()))
    assert data["schema_version"] == 4
    check_journal(data)
    again = Journal.from_json(data)
    assert again.experiments[0].instances == journal.experiments[0].instances
    assert _rows(render_html(again)) == _rows(render_html(journal))

    data["experiments"][0]["instances"][0]["seconds"][0]["requests"] = "many"
    with pytest.raises(DamagedJournal, match=r"experiments\[0\]\.instances: .*requests"):
        check_journal(data)


def test_a_credential_in_an_instance_id_is_redacted_on_its_way_into_the_journal(
    tmp_path: Path,
) -> None:
    @dataclass(kw_only=True)
    class _Leaky(_CountingTarget):
        def instance_traffic(self, since: float, until: float) -> Sequence[InstanceTraffic]:
            return (InstanceTraffic(id="i-1 password=hunter2", started_at=since),)

    result = _experiment(tmp_path, _Leaky(name="web"), []).run(
        lambda chaos: chaos.inject(FakeFault(), hold="6s")
    )
    [instance] = result.instances
    assert "hunter2" not in instance.id and "[redacted]" in instance.id
    assert "hunter2" not in (tmp_path / "run.jsonl").read_text()
