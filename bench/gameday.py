"""How long the README's game day takes, and how much of it is chaoskit's own overhead.

Runs `pytest experiments/` (the README's first command, on the embedded local system) in a
subprocess, as a user would, and reads the run's journal. The baseline is measured in the
same run: the time the experiments' own phases take (each experiment's baseline, fault holds
and recovery, as the journal recorded them). Everything else on the wall clock is chaoskit's:
starting the local system and the load processes, collecting measurements, reverting,
drawing verdicts and writing the report.

    python bench/gameday.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _support

ROOT = Path(__file__).resolve().parents[1]
GOAL_WALL_S = 120  # the README promises the example game day in about two minutes or less


@dataclass(frozen=True, kw_only=True)
class GameDay:
    wall: float
    phases: float  # what the experiments' own phases took
    experiments: int
    first_baseline_after: float  # from the pytest start to the first experiment's start


def run_once(report_dir: Path) -> GameDay:
    began_epoch, began = time.time(), time.monotonic()
    game_day = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "experiments/",
            "-p",
            "no:cacheprovider",
            "--chaos-report",
            str(report_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.monotonic() - began
    # The example has one experiment that is expected to fail (xfail): pytest exits 0.
    if game_day.returncode != 0:
        sys.exit(f"the game day failed:\n{game_day.stdout[-4000:]}\n{game_day.stderr[-2000:]}")
    [journal_path] = report_dir.glob("chaoskit-*.json")
    experiments = json.loads(journal_path.read_text())["experiments"]
    phases = sum(_phase_time(experiment["phases"]) for experiment in experiments)
    first = min(experiment["started"] for experiment in experiments)
    return GameDay(
        wall=wall,
        phases=phases,
        experiments=len(experiments),
        first_baseline_after=first - began_epoch,
    )


def _phase_time(phases: list[dict[str, float | str]]) -> float:
    """The baseline, and from the first injection to the end of recovery (holds, reverts and
    the recovery window): the time the experiment asked for. The gap between the two is the
    steady-state check, chaoskit's own."""

    def span(selected: list[dict[str, float | str]]) -> float:
        if not selected:
            return 0.0
        return float(max(p["end"] for p in selected)) - float(min(p["start"] for p in selected))

    baseline = [p for p in phases if p["kind"] == "baseline"]
    return span(baseline) + span([p for p in phases if p["kind"] != "baseline"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    arguments = parser.parse_args()
    runs = []
    for index in range(arguments.runs):
        report_dir = Path(tempfile.mkdtemp(prefix="chaoskit-game-day-"))
        try:
            run = run_once(report_dir)
        finally:
            shutil.rmtree(report_dir, ignore_errors=True)
        runs.append(run)
        print(
            f"run {index + 1}: {run.experiments} experiments in {run.wall:.1f}s, their phases "
            f"{run.phases:.1f}s, chaoskit's own {run.wall - run.phases:.1f}s "
            f"(first baseline {run.first_baseline_after:.1f}s after the start)"
        )
    worst = max(runs, key=lambda run: run.wall)
    overhead = worst.wall - worst.phases
    print(f"goal: the whole game day in at most {GOAL_WALL_S}s")
    print(
        _support.bench_line(
            "gameday",
            wall_s=worst.wall,
            phases_s=worst.phases,
            overhead_s=overhead,
            overhead_per_experiment_s=overhead / worst.experiments,
            first_baseline_s=worst.first_baseline_after,
            experiments=worst.experiments,
            runs=len(runs),
        )
    )


if __name__ == "__main__":
    main()
