"""How often does the verdict get it right? Repeated experiments on the demo system.

Two arms on the embedded local system (3 shop replicas behind the proxy), locust load from a
worker process, each run a full lifecycle (baseline, hold, recovery, verdict):

- placebo: the "fault" injects nothing, so every run should pass (false alarms are failures);
- fault: +200 ms on every instance during the hold, so every run should fail.

The objectives are the ones whose calibration matters here: the statistical comparison with
the baseline (`slo.latency_unchanged()`, `slo.errors_unchanged()`) and an error rate.

Run: python bench/calibration.py [--runs 20]
Ends with: bench calibration: pass_rate_nofault=... fail_rate_fault=... (goal >= 0.95 each)
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from chaoskit import faults, load, slo
from chaoskit.experiment import Experiment, ExperimentSettings, JournalWriter
from chaoskit.load.driver import LocustDriver
from chaoskit.providers.local import LocalEnvironment
from chaoskit.testing import FakeFault

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = (slo.latency_unchanged(), slo.errors_unchanged(), slo.parse("errors<1%"))


def run_arm(
    name: str,
    fault_for: object,
    runs: int,
    env: LocalEnvironment,
    driver: LocustDriver,
    journal: JournalWriter,
) -> list[str]:
    outcomes = []
    for index in range(runs):
        experiment = Experiment(
            settings=ExperimentSettings(
                name=f"{name} {index + 1}", objectives=OBJECTIVES, baseline=4.0, recovery=2.0
            ),
            env=env,
            load=driver,
            journal=journal,
            rng=random.Random(index),
        )
        fault = fault_for() if callable(fault_for) else fault_for
        result = experiment.run(lambda chaos, f=fault: chaos.inject(f, hold="4s"))
        # A fault run counts as detected only when the statistics said so, not for any failure.
        detected = result.cause == "slo_breached" and any(
            m.kind == "statistical" and m.status == "fail" for m in result.measurements
        )
        outcomes.append("detected" if detected else result.outcome)
        print(f"  {name} run {index + 1:2}: {result.outcome:6} {result.reason[:110]}", flush=True)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per arm (default 20)")
    runs = parser.parse_args().runs
    began = time.monotonic()
    spec = load.Locust(ROOT / "experiments" / "locustfile.py", users=20)
    with tempfile.TemporaryDirectory() as scratch, LocalEnvironment.start() as env:
        journal = JournalWriter(Path(scratch) / "calibration.jsonl")
        web = env.target("web")
        driver = LocustDriver(spec, host=web.url)
        try:
            print(f"placebo arm: {runs} runs, nothing injected")
            placebo = run_arm("placebo", FakeFault, runs, env, driver, journal)
            print(f"fault arm: {runs} runs, +200ms on all {len(web.instances())} instances")
            slow_all = faults.Latency(target="web", delay="200ms", count=len(web.instances()))
            faulted = run_arm("fault", slow_all, runs, env, driver, journal)
        finally:
            driver.close()
    pass_rate = placebo.count("passed") / runs
    fail_rate = faulted.count("detected") / runs
    print(
        f"placebo: {placebo.count('passed')}/{runs} passed; "
        f"fault: {faulted.count('detected')}/{runs} detected; {time.monotonic() - began:.0f}s"
    )
    print(
        f"bench calibration: pass_rate_nofault={pass_rate:.2f} fail_rate_fault={fail_rate:.2f} "
        f"runs_per_arm={runs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
