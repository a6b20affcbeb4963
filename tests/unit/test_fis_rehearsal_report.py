"""A rehearsed FIS template in the journal and the report: each action's state, times and
instances in a table, and a bar per action on the load charts' time axis."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.unit.test_report import _read

from chaoskit import faults, slo
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.experiment.result import ExperimentResult
from chaoskit.faults.fis_rehearsal import Rehearsal
from chaoskit.faults.fis_rehearsal.run import _wait
from chaoskit.report import render_html
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver, FakeTarget

HOSTILE = "<b>boom</b>"
TEMPLATE = {
    "description": "terminate, then slow",
    "roleArn": "arn:aws:iam::123456789012:role/fis",
    "stopConditions": [
        {"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:eu-west-1:1:alarm:web-5xx"},
        {"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:eu-west-1:1:alarm:p99"},
    ],
    "targets": {
        "Web": {
            "resourceType": "aws:ec2:instance",
            "resourceTags": {"tier": "web"},
            "selectionMode": "COUNT(1)",
        }
    },
    "actions": {
        "kill": {"actionId": "aws:ec2:terminate-instances", "targets": {"Instances": "Web"}},
        "slow": {
            "actionId": "aws:ssm:send-command",
            "startAfter": ["kill"],
            "targets": {"Instances": "Web"},
            "parameters": {
                "documentArn": "arn:aws:ssm:eu-west-1::document/AWSFIS-Run-Network-Latency",
                "documentParameters": '{"DelayMilliseconds": "100", "DurationSeconds": "60"}',
                "duration": "PT1M",
            },
        },
        HOSTILE: {"actionId": "aws:rds:failover-db-cluster"},
    },
}


def rehearsed_details() -> dict[str, Any]:
    """What a rehearsal on fakes recorded: the terminate and the latency completed, the RDS
    failover skipped; times as the real clock gave them."""
    env = FakeEnvironment(targets={"web": FakeTarget(name="web", tags={"tier": "web"})})
    fault = faults.FisExperiment(
        template=TEMPLATE,
        time_scale=1 / 300,
        unsupported="skip",
        stop_conditions={"web-5xx": "errors<5%"},
    )
    rehearsal = fault.inject(fault.plan(env, random.Random(1)), env)
    assert isinstance(rehearsal, Rehearsal)
    assert _wait(5, until=lambda: rehearsal.state == "completed", wake=None)
    rehearsal.revert()
    return dict(rehearsal.details)


def moved(details: dict[str, Any], by: float) -> dict[str, Any]:
    """``details`` with every time ``by`` seconds later."""
    times = ("started", "ended", "effect_started", "effect_ended")
    actions = [
        {k: (v + by if k in times and v is not None else v) for k, v in a.items()}
        for a in details["actions"]
    ]
    return {**details, "started": details["started"] + by, "actions": actions}


def journal(tmp_path: Path) -> Journal:
    clock = FakeClock()
    result = Experiment(
        settings=ExperimentSettings(
            name="experiments/test_fis.py::test_rehearsed",
            objectives=(slo.parse("errors<1%"),),
            baseline=5,
            recovery=5,
        ),
        env=FakeEnvironment(name="local"),
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(3),
    ).run(lambda chaos: chaos.inject(FakeFault(), hold="6s"))
    details = rehearsed_details()
    # The fault's record, as the lifecycle keeps it for a rehearsal: its details, 5 s in.
    [record] = result.injections
    injected = result.started + 5
    record = replace(record, details=moved(details, injected - details["started"]))
    result = replace(result, injections=(record,))
    # Through the JSON journal and back, as `chaoskit report` renders it again.
    again = ExperimentResult.from_json(json.loads(json.dumps(result.to_json())))
    return Journal(
        run_id="20261126-120000-abcdef",
        env="local",
        started=result.started,
        finished=result.finished,
        seed=3,
        experiments=(again,),
    )


def test_the_report_lists_each_action_with_its_state_times_and_instances(tmp_path: Path) -> None:
    html = render_html(journal(tmp_path))
    assert "FIS template terminate, then slow, rehearsed on the local system: completed" in html
    assert "Time scale 1/300" in html
    assert "alarm web-5xx judged as errors &lt; 5%" in html
    assert "Alarms not watched: p99." in html
    [table] = [t for t in _read(html).tables if t[0][0] == "Action"]
    # The parser joins a cell's lines: "kill" then its action id.
    rows = {row[0].split("aws:")[0]: row for row in table[1:]}
    assert rows["kill"][1:] == [
        "completed",
        "+5.0s",
        "+5.0s",
        "i-000000000000 of web",
        "terminate each instance",
    ]
    assert rows["slow"][0] == "slowaws:ssm:send-command · after kill"
    assert rows["slow"][1] == "completed" and rows["slow"][5] == "latency 100ms for PT1M"
    started, ended = (float(cell.strip("+s")) for cell in rows["slow"][2:4])
    assert started == 5.0 and ended == 5.2  # a template minute at 1/300
    assert rows[HOSTILE][1] == "skippedacts on rds resources, which the local system does not have"
    assert HOSTILE not in html and "&lt;b&gt;boom&lt;/b&gt;" in html


def test_the_timeline_draws_each_action_and_its_effect_on_the_load_charts_axis(
    tmp_path: Path,
) -> None:
    html = render_html(journal(tmp_path))
    svg = html[html.index('aria-label="FIS actions"') :]
    svg = svg[: svg.index("</svg>")]
    page = _read(f"<svg {svg}</svg>")
    bars = [r for r in page.rects if r.get("rx") == "3"]
    effects = [r for r in page.rects if r.get("fill") == "#c0392b"]
    assert len(bars) == 3  # the skipped action too, at the moment it was skipped
    assert len(effects) == 2  # the termination (a moment) and the latency (its minute)
    # The latency's bar starts where the kill's ends, 5 s into a run of 16 s (43 px a second;
    # the rehearsal ran on the real clock, so a loaded machine moves them a few pixels).
    xs = sorted(float(bar["x"] or 0) for bar in bars)
    assert xs[-1] - xs[0] < 10
    assert abs(xs[0] - (56 + 692 * 5 / 16)) < 2
