"""How long the HTML report takes to render, and how large it is, for a long game day.

A synthetic run of one hour: 10 experiments of 6 minutes each (a 60 s baseline, a 240 s
fault, a 60 s recovery), 1,000 requests per second of log-normal latency around 5 ms, a
slow stretch and failures of three causes in every fault, each second's histogram as the
journal holds it (encoded), what a real run records beside it: the requests of four locust
names per second, the users running, and three instances' per-second counts (one of them
terminated and replaced in the fault). The journal is read back from its JSON, as
``chaoskit report`` does, and then rendered; the baseline is the same journal's JSON
encoding, timed alike.

    python bench/report.py
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace

from chaoskit.experiment.journal_checks import check_journal
from chaoskit.experiment.result import ExperimentResult, InjectionRecord, Journal, Phase
from chaoskit.report import render_html
from chaoskit.slo.endpoints import bucket_of
from chaoskit.slo.instances import InstanceSecond, InstanceTraffic
from chaoskit.slo.measurement import Measurement
from chaoskit.slo.seconds import SecondStats

EXPERIMENTS = 10
BASELINE, FAULT, RECOVERY = 60, 240, 60
RATE = 1000
START = 1_800_000_000
GOAL_S, GOAL_MB = 1.0, 1.5
ENDPOINTS = ("/products", "/products/[id]", "/cart", "/")


def second(at: int, *, in_fault: bool, rng: random.Random) -> SecondStats:
    stats = SecondStats(second=at, expected=RATE, sent=RATE)
    failed = {}
    if in_fault and rng.random() < 0.3:
        failed = {"HTTP 503": rng.randint(5, 40), "ConnectionResetError": rng.randint(0, 5)}
        if rng.random() < 0.1:
            failed["ReadTimeout"] = 1
    centre = 400.0 if in_fault and rng.random() < 0.2 else 5.0
    ok = RATE - sum(failed.values())
    # 50 latency buckets stand for 1,000 requests: the histogram holds as many distinct values.
    for index in range(50):
        latency_us = rng.lognormvariate(0, 0.5) * centre * 1000
        stats.record_ok(latency_us, count=ok // 50)
        stats.endpoint(ENDPOINTS[index % len(ENDPOINTS)]).record_tally(
            {round(latency_us): ok // 50}
        )
    stats.failed.update(failed)
    for reason, count in failed.items():
        for _ in range(count):
            stats.endpoint(ENDPOINTS[0]).record_failure(reason)
    stats.users = 60
    return stats


def instance(name: str, seconds: range, *, rng: random.Random) -> InstanceTraffic:
    """One of three instances: a third of the requests, in 40 latency buckets a second."""
    return InstanceTraffic(
        id=name,
        started_at=seconds.start,
        gone_at=None,
        seconds=tuple(
            InstanceSecond(
                second=at,
                connections=20,
                requests=RATE // 3,
                latency={
                    bucket_of(round(rng.lognormvariate(0, 0.5) * 5000)): RATE // 120
                    for _ in range(40)
                },
            )
            for at in seconds
        ),
    )


def experiment(index: int, started: float, rng: random.Random) -> ExperimentResult:
    length = BASELINE + FAULT + RECOVERY
    fault_start, fault_end = started + BASELINE, started + BASELINE + FAULT
    seconds = tuple(
        second(int(started) + s, in_fault=BASELINE <= s < BASELINE + FAULT, rng=rng)
        for s in range(length)
    )
    measurements = tuple(
        Measurement(
            objective=objective,
            kind=kind,
            limit=limit,
            window=window,
            value=value,
            shown=shown,
            status="pass",
            samples=RATE * 60,
        )
        for window in ("baseline", "fault 1", "recovery")
        for objective, kind, limit, value, shown in (
            ("p99 < 300ms", "latency", 0.3, 0.012, "12ms"),
            ("errors < 1%", "error_rate", 0.01, 0.002, "0.20%"),
        )
    )
    return ExperimentResult(
        name=f"experiments/test_game_day.py::test_fault_{index}",
        env="staging",
        outcome="passed",
        reason="every objective held",
        cause="",
        started=started,
        finished=started + length,
        objectives=("p99 < 300ms", "errors < 1%"),
        phases=(
            Phase(name="baseline", kind="baseline", start=started, end=fault_start - 0.3),
            Phase(name="fault 1", kind="fault", start=fault_start, end=fault_end),
            Phase(name="recovery", kind="recovery", start=fault_end + 0.2, end=started + length),
        ),
        injections=(
            InjectionRecord(
                injection_id=f"inj-{index}",
                fault="TerminateInstances 1 of web",
                target="web",
                instance_ids=(f"i-{index:017x}",),
                injected_at=fault_start,
                reverted_at=fault_end,
                status="reverted",
                detected_after=2.0,
                recovered_after=4.0,
            ),
        ),
        measurements=measurements,
        seconds=seconds,
        instances=(
            instance(f"i-{index:08x}a", range(int(started), int(started) + length), rng=rng),
            instance(f"i-{index:08x}b", range(int(started), int(started) + length), rng=rng),
            # Terminated in the fault, and its replacement from then on.
            replace(
                instance(f"i-{index:08x}c", range(int(started), int(fault_start)), rng=rng),
                gone_at=fault_start,
            ),
            instance(
                f"i-{index:08x}d", range(int(fault_start) + 5, int(started) + length), rng=rng
            ),
        ),
    )


def main() -> None:
    rng = random.Random(7)
    length = BASELINE + FAULT + RECOVERY
    results = tuple(experiment(i, START + i * length, rng) for i in range(EXPERIMENTS))
    journal = Journal(
        run_id="20270115-080000-bench0",
        env="staging",
        started=START,
        finished=START + EXPERIMENTS * length,
        seed=7,
        experiments=results,
    )
    # As `chaoskit report` has it: read from the JSON, histograms still encoded.
    encoded = json.dumps(journal.to_json())
    began = time.perf_counter()
    json.dumps(Journal.from_json(json.loads(encoded)).to_json())
    json_s = time.perf_counter() - began
    data = json.loads(encoded)
    began = time.perf_counter()
    check_journal(data)  # as `chaoskit report` checks it first, every histogram's encoding too
    check_s = time.perf_counter() - began
    journal = Journal.from_json(data)
    began = time.perf_counter()
    page = render_html(journal)
    render_s = time.perf_counter() - began
    size_mb = len(page.encode()) / 1e6
    seconds = sum(len(r.seconds) for r in results)
    json_mb = len(encoded) / 1e6
    print(f"journal: {EXPERIMENTS} experiments, {seconds} seconds, {json_mb:.2f} MB of JSON")
    print(f"baseline: journal JSON read and written again in {json_s:.3f}s")
    print(f"check_s={check_s:.3f} (the journal's checks, before rendering)")
    print(f"render_s={render_s:.3f} (goal <= {GOAL_S})")
    print(f"size_mb={size_mb:.3f} (goal <= {GOAL_MB})")
    print(f"bench report: render_s={render_s:.3f} size_mb={size_mb:.3f} json_s={json_s:.3f}")


if __name__ == "__main__":
    main()
