"""How often does the verdict get it right? Repeated experiments on the demo system.

Each run is a full lifecycle (baseline, hold, recovery, verdict) on the embedded local system
(3 shop replicas behind the proxy), with locust load from a worker process. Three pairs of
arms, each pair a placebo (the "fault" injects nothing, so every run should pass: a false
alarm is a failure) and a real fault (every run should be caught):

- quiet: 20 users at 5 requests/s; 4 s baseline, +200 ms on every instance during a 4 s
  hold, 3 s recovery; judged by
  the statistical comparison with the baseline (`slo.latency_unchanged()`,
  `slo.errors_unchanged()`) and an error rate;
- noisy: the same runs beside a noisy neighbour, a busy loop pinned to one of the cores (a
  shared CI runner); an inconclusive verdict counts against it too;
- lowrate: about 25 requests/s from 40 users, a third of them 404 by design, `p50<300ms`
  and `slo.errors_unchanged()` with an RTO of 3 s; the fault is +400 ms on every instance
  for 6 s. A fault run counts only when it was caught during the hold and then judged
  recovered within the RTO: a noisy band that never calls a healthy system recovered fails it.

Run: python bench/calibration.py [--runs 20] [--arms quiet,noisy,lowrate]
Ends with: bench calibration: pass_rate_nofault=... fail_rate_fault=... noisy_... lowrate_...
(goal >= 0.95 for each rate, noisy_inconclusive_rate <= 0.05)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from chaoskit import faults, load, slo
from chaoskit.experiment import Experiment, ExperimentResult, ExperimentSettings, JournalWriter
from chaoskit.load.driver import LocustDriver
from chaoskit.providers.local import LocalEnvironment
from chaoskit.slo.measurement import Objective
from chaoskit.testing import FakeFault
from chaoskit.typing import Fault

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("quiet", "noisy", "lowrate")

# About 25 requests/s from 40 users, a third of them to a page the shop does not have.
LOWRATE_LOCUSTFILE = """
from locust import FastHttpUser, constant_throughput, task


class Visitor(FastHttpUser):
    wait_time = constant_throughput(0.625)

    @task(2)
    def products(self):
        self.client.get("/products")

    @task(1)
    def missing(self):
        self.client.get("/no-such-page")
"""

# A noisy neighbour never outlives the bench, even if the bench is killed.
NEIGHBOUR_SECONDS = 3600
NEIGHBOUR = f"""
import os, time
os.sched_setaffinity(0, {{0}})
end = time.monotonic() + {NEIGHBOUR_SECONDS}
while time.monotonic() < end:
    pass
"""


@dataclass(frozen=True, kw_only=True)
class Arms:
    """One pair of arms: the load, the objectives, the phases and the real fault."""

    locust: load.Locust
    objectives: tuple[Objective, ...]
    baseline: float
    hold: str
    recovery: float
    rto: float | None
    fault: Callable[[int], Fault]  # instances -> the real fault


def quiet_arms() -> Arms:
    return Arms(
        locust=load.Locust(ROOT / "experiments" / "locustfile.py", users=20),
        objectives=(slo.latency_unchanged(), slo.errors_unchanged(), slo.parse("errors<1%")),
        baseline=4.0,
        hold="4s",
        # 2 whole seconds: 200 requests, where `errors<1%` needs 100 even on a slow second.
        recovery=3.0,
        rto=None,
        fault=lambda instances: faults.Latency(target="web", delay="200ms", count=instances),
    )


def lowrate_arms(scratch: Path) -> Arms:
    locustfile = scratch / "lowrate_locustfile.py"
    locustfile.write_text(LOWRATE_LOCUSTFILE)
    return Arms(
        locust=load.Locust(locustfile, users=40),
        objectives=(slo.parse("p50<300ms"), slo.errors_unchanged()),
        # Bursts of 40 every 1.6 s: 7 whole seconds hold at least 160 requests, enough for
        # comparing error rates (100 on each side).
        baseline=8.0,
        hold="6s",
        recovery=5.0,
        rto=3.0,
        fault=lambda instances: faults.Latency(target="web", delay="400ms", count=instances),
    )


@contextmanager
def noisy_neighbour() -> Iterator[None]:
    """A busy loop on core 0 for as long as the block runs."""
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
    try:
        yield
    finally:
        process.kill()
        process.wait()


def caught(result: ExperimentResult, arms: Arms) -> bool:
    """A fault run that counts: an objective breached during the hold (a statistical one in
    the quiet and noisy arms, not any failure), and, where an RTO is judged, recovery within
    it."""
    breached_in_hold = any(
        m.status == "fail" and m.kind != "recovery" and not m.window.startswith("recovery")
        for m in result.measurements
    )
    if arms.rto is None:
        return result.cause == "slo_breached" and any(
            m.kind == "statistical" and m.status == "fail" for m in result.measurements
        )
    recovered = [m for m in result.measurements if m.kind == "recovery"]
    return breached_in_hold and bool(recovered) and all(m.status == "pass" for m in recovered)


def too_few_samples(result: ExperimentResult) -> bool:
    """A verdict that could not be drawn for want of samples: inconclusive, a baseline that
    could not be verified, or a plan refused because a window could not reach its needs."""
    return result.cause == "inconclusive" or (
        result.outcome == "error"
        and ("could not be verified" in result.reason or "cannot be judged" in result.reason)
    )


def run_arm(
    label: str,
    arms: Arms,
    *,
    real_fault: bool,
    runs: int,
    env: LocalEnvironment,
    journal: JournalWriter,
) -> list[str]:
    """Each run's outcome: passed, failed, inconclusive or caught (a real fault caught)."""
    web = env.target("web")
    outcomes = []
    driver = LocustDriver(arms.locust, host=web.url)
    try:
        for index in range(runs):
            experiment = Experiment(
                settings=ExperimentSettings(
                    name=f"{label} {index + 1}",
                    objectives=arms.objectives,
                    baseline=arms.baseline,
                    recovery=arms.recovery,
                    rto=arms.rto,
                ),
                env=env,
                load=driver,
                journal=journal,
                rng=random.Random(index),
            )
            fault = arms.fault(len(web.instances())) if real_fault else FakeFault()
            result = experiment.run(lambda chaos, f=fault: chaos.inject(f, hold=arms.hold))
            if real_fault and caught(result, arms):
                outcome = "caught"
            elif too_few_samples(result):
                outcome = "inconclusive"
            else:
                outcome = result.outcome
            outcomes.append(outcome)
            expected = "caught" if real_fault else "passed"
            # An unexpected outcome is printed whole: it is what the figures are about.
            reason = result.reason if outcome != expected else result.reason[:110]
            print(f"  {label} run {index + 1:2}: {outcome:12} {reason}", flush=True)
    finally:
        driver.close()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per arm (default 20)")
    parser.add_argument(
        "--arms", default=",".join(ARMS), help=f"which pairs of arms (default {','.join(ARMS)})"
    )
    options = parser.parse_args()
    runs: int = options.runs
    chosen = [name.strip() for name in options.arms.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; choose among {', '.join(ARMS)}")
    if "noisy" in chosen and len(os.sched_getaffinity(0)) < 2:
        parser.error("the noisy arms need at least 2 cores (one for the neighbour)")
    began = time.monotonic()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch_dir, LocalEnvironment.start() as env:
        scratch = Path(scratch_dir)
        journal = JournalWriter(scratch / "calibration.jsonl")
        instances = len(env.target("web").instances())
        for name in chosen:
            arms = lowrate_arms(scratch) if name == "lowrate" else quiet_arms()
            prefix = "" if name == "quiet" else f"{name}_"
            neighbour = noisy_neighbour() if name == "noisy" else nullcontext()
            with neighbour:
                print(f"{name} placebo arm: {runs} runs, nothing injected", flush=True)
                placebo = run_arm(
                    f"{name} placebo", arms, real_fault=False, runs=runs, env=env, journal=journal
                )
                print(f"{name} fault arm: {runs} runs, {arms.fault(instances).describe()}")
                faulted = run_arm(
                    f"{name} fault", arms, real_fault=True, runs=runs, env=env, journal=journal
                )
            print(
                f"{name}: placebo {placebo.count('passed')}/{runs} passed, "
                f"fault {faulted.count('caught')}/{runs} caught"
            )
            figures[f"{prefix}pass_rate_nofault"] = placebo.count("passed") / runs
            figures[f"{prefix}fail_rate_fault"] = faulted.count("caught") / runs
            if name == "noisy":
                inconclusive = placebo.count("inconclusive") + faulted.count("inconclusive")
                figures["noisy_inconclusive_rate"] = inconclusive / (2 * runs)
    print(f"{time.monotonic() - began:.0f}s")
    shown = " ".join(f"{key}={value:.2f}" for key, value in figures.items())
    print(f"bench calibration: {shown} runs_per_arm={runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
