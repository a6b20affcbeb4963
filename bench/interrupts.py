"""Interrupting real runs at random: nothing may be left behind, and a Ctrl-C or SIGTERM
always writes the report.

Each trial runs a small experiment on the local system (a real pytest process, load on
127.0.0.1) and, at a random point of its inject, hold or revert, sends SIGINT, SIGTERM or
SIGKILL, or lets the body raise there instead. Then ``chaoskit recover`` runs, and the trial
counts what is left: faults the journal still holds open, processes the run started that are
still alive (a replica left SIGSTOPped among them). ``--trials N`` (default 30: about ten
minutes on 2 cores), ``--seed N``.

    python bench/interrupts.py [--trials N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from _support import bench_line, machine
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.experiment import read_events, unreverted_intents

TRIAL_TIMEOUT = 120.0  # a trial's run, from start to exit
SETTLE_TIMEOUT = 15.0  # for the processes of a run to end after it did
KINDS = ("SIGINT", "SIGTERM", "SIGKILL", "exception")
# Where the interrupt comes: after which journal event, and how long after it.
POINTS = {
    "inject": ("fault_intent", 0.0, 0.3),
    "hold": ("fault_injected", 0.2, 3.5),
    "revert": ("fault_reverted", 0.0, 0.5),
}
FAULTS = (
    'faults.Latency(target="web", delay="50ms", count=1)',
    'faults.StopInstances(target="web", count=1)',
    'faults.TerminateInstances(target="web", count=1)',
    'faults.Blackhole(target="web", count=1)',
)

LOCUSTFILE = """
from locust import FastHttpUser, constant_throughput, task

class Shopper(FastHttpUser):
    wait_time = constant_throughput(10)

    @task
    def home(self):
        self.client.get("/")
"""

EXPERIMENT = """
import pathlib, time
import pytest
from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust("locustfile.py", users=5),
    steady_state=[slo.error_rate(below="100%")],
    baseline="2s",
    recovery="2s",
    allow_inconclusive=True,
)

def test_interrupted(chaos):
    with chaos.inject({fault}):
        {during}
    {after}
"""


@dataclass(frozen=True, kw_only=True)
class Trial:
    kind: str
    point: str
    fault: str
    left_faults: int
    left_processes: int
    left_stopped: int
    report_written: bool
    recover_code: int

    @property
    def left_behind(self) -> int:
        return self.left_faults + self.left_processes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    print(f"machine: {machine()}; seed {seed}; {args.trials} trials")
    trials = []
    for number in range(1, args.trials + 1):
        kind, point, fault = rng.choice(KINDS), rng.choice(list(POINTS)), rng.choice(FAULTS)
        trial = run_trial(kind=kind, point=point, fault=fault, rng=rng)
        trials.append(trial)
        print(
            f"trial {number:3d}: {kind:9s} at {point:6s} {fault.split('(')[0]:28s} "
            f"left faults={trial.left_faults} processes={trial.left_processes} "
            f"(stopped {trial.left_stopped}) report={'yes' if trial.report_written else 'no'} "
            f"recover={trial.recover_code}"
        )
    graceful = [t for t in trials if t.kind in ("SIGINT", "SIGTERM")]
    written = sum(t.report_written for t in graceful)
    print(
        bench_line(
            "interrupts",
            trials=len(trials),
            left_behind=sum(t.left_behind for t in trials),
            reports_written_pct=round(100 * written / len(graceful), 1) if graceful else 100.0,
        )
    )
    return 0


def run_trial(*, kind: str, point: str, fault: str, rng: random.Random) -> Trial:
    with tempfile.TemporaryDirectory(prefix="chaoskit-interrupts-") as folder:
        project = Path(folder)
        (project / "locustfile.py").write_text(LOCUSTFILE)
        hold = rng.uniform(3.0, 5.0)
        raise_now = "raise RuntimeError('the body broke')"
        during = f"time.sleep({hold:.2f})"
        after = "pass"
        if kind == "exception":
            # The body raises at the chosen point: right after the inject, mid-hold, or
            # once the fault was reverted.
            if point == "inject":
                during = raise_now
            elif point == "hold":
                during = f"time.sleep({rng.uniform(0.2, hold):.2f}); {raise_now}"
            else:
                after = raise_now
        (project / "test_trial.py").write_text(
            textwrap.dedent(EXPERIMENT).format(fault=fault, during=during, after=after)
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_trial.py"],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        seen: dict[int, float] = {}  # pid -> create time, of every process the run started
        if kind != "exception":
            event, low, high = POINTS[point]
            if wait_for_event(project, process, event, seen):
                time.sleep(rng.uniform(low, high))
                remember_children(process.pid, seen)
                if process.poll() is None:
                    process.send_signal(getattr(signal, kind))
        wait_for_exit(process, seen)
        recover = subprocess.run(
            [sys.executable, "-m", "chaoskit.cli", "recover", "--dir", "reports"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        left, stopped = leftover_processes(seen)
        reports = project / "reports"
        return Trial(
            kind=kind,
            point=point,
            fault=fault,
            left_faults=sum(
                len(unreverted_intents(path)) for path in (reports / "journals").glob("*.jsonl")
            ),
            left_processes=left,
            left_stopped=stopped,
            report_written=report_written(reports),
            recover_code=recover.returncode,
        )


def remember_children(pid: int, seen: dict[int, float]) -> None:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            seen.setdefault(child.pid, child.create_time())
        except psutil.Error:
            continue


def wait_for_event(
    project: Path, process: subprocess.Popen[bytes], event: str, seen: dict[int, float]
) -> bool:
    """Whether the run's journal reached ``event`` while the run was still going."""
    journals = project / "reports" / "journals"

    def reached() -> bool | None:
        remember_children(process.pid, seen)
        if process.poll() is not None:
            return False
        for path in journals.glob("*.jsonl"):
            if any(e.event == event for e in read_events(path)):
                return True
        return None

    retrying = Retrying(
        stop=stop_after_delay(TRIAL_TIMEOUT),
        wait=wait_fixed(0.05),
        retry=retry_if_result(lambda result: result is None),
    )
    try:
        return bool(retrying(reached))
    except RetryError:
        return False


def wait_for_exit(process: subprocess.Popen[bytes], seen: dict[int, float]) -> None:
    def running() -> bool:
        remember_children(process.pid, seen)
        return process.poll() is None

    retrying = Retrying(
        stop=stop_after_delay(TRIAL_TIMEOUT), wait=wait_fixed(0.2), retry=retry_if_result(bool)
    )
    try:
        retrying(running)
    except RetryError:
        print("  the run did not end in time: killed")
        process.kill()
        process.wait()


def leftover_processes(seen: dict[int, float]) -> tuple[int, int]:
    """How many of the run's processes are still alive once given time to end, and how many
    of those are stopped (a replica left SIGSTOPped)."""

    def alive() -> list[psutil.Process]:
        found = []
        for pid, created in seen.items():
            try:
                candidate = psutil.Process(pid)
                if candidate.create_time() == created and candidate.status() != "zombie":
                    found.append(candidate)
            except psutil.Error:
                continue
        return found

    retrying = Retrying(
        stop=stop_after_delay(SETTLE_TIMEOUT), wait=wait_fixed(0.2), retry=retry_if_result(bool)
    )
    try:
        retrying(alive)
        return 0, 0
    except RetryError as error:
        left: list[psutil.Process] = error.last_attempt.result()
    stopped = 0
    for candidate in left:
        try:
            stopped += candidate.status() == "stopped"
            print(f"  left behind: pid {candidate.pid} {' '.join(candidate.cmdline())[:120]}")
            candidate.kill()  # a bench must not leave them either
        except psutil.Error:
            continue
    return len(left), stopped


def report_written(reports: Path) -> bool:
    runs = list(reports.glob("chaoskit-*.json"))
    if not runs or not (reports / "latest.html").is_file():
        return False
    return all(json.loads(path.read_text()).get("experiments") for path in runs)


if __name__ == "__main__":
    sys.exit(main())
