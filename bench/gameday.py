"""How long the README's game day takes, and how much of it is chaoskit's own overhead.

Runs `pytest experiments/` (the README's first command, on the embedded local system) in a
subprocess, as a user would, and reads the run's journal. The baseline is measured in the
same run: the time the experiments' own phases take (each experiment's baseline, fault holds
and recovery, as the journal recorded them). Everything else on the wall clock is chaoskit's:
starting the local system and the load processes, collecting measurements, reverting,
drawing verdicts and writing the report.

    python bench/gameday.py [--runs N] [--beside-copy]

With ``--beside-copy`` each run starts a second copy of the same game day at the same moment
(two CI jobs sharing one 2-core runner), each with its own local system and report folder, and
``passed_runs`` counts the copies that passed (both copies of every run: 2 x N). A copy passes
when pytest exits 0 (the example's xfail experiment failed as it should) and ran every
experiment.
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
GOAL_WALL_S = 150  # the README gives the example game day as about 130 s; a little margin
EXPERIMENTS = 5  # in experiments/, the Prometheus one included (Debian's prometheus installed)


@dataclass(frozen=True, kw_only=True)
class GameDay:
    passed: bool
    wall: float
    phases: float  # what the experiments' own phases took
    experiments: int
    first_baseline_after: float  # from the pytest start to the first experiment's start
    why: str  # the lines of the experiments that did not end as expected


def run_together(copies: int) -> list[GameDay]:
    """Start ``copies`` game days at the same moment and wait for all of them."""
    report_dirs = [Path(tempfile.mkdtemp(prefix="chaoskit-game-day-")) for _ in range(copies)]
    try:
        began_epoch, began = time.time(), time.monotonic()
        processes = [
            subprocess.Popen(
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
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for report_dir in report_dirs
        ]
        outputs = [process.communicate(timeout=900)[0] for process in processes]
        wall = time.monotonic() - began
        return [
            _read(report_dir, process.returncode, output, wall=wall, began_epoch=began_epoch)
            for report_dir, process, output in zip(report_dirs, processes, outputs, strict=True)
        ]
    finally:
        for report_dir in report_dirs:
            shutil.rmtree(report_dir, ignore_errors=True)


def _read(
    report_dir: Path, returncode: int, output: str, *, wall: float, began_epoch: float
) -> GameDay:
    journals = list(report_dir.glob("chaoskit-*.json"))
    experiments = json.loads(journals[0].read_text())["experiments"] if journals else []
    # The summary's verdict lines name each experiment that did not end as expected and why.
    why = "\n".join(
        line
        for line in output.splitlines()
        if line.startswith(("FAILED ", "ERROR ")) or line.lstrip().startswith("why: ")
    )
    return GameDay(
        # The example has one experiment that is expected to fail (xfail): pytest exits 0.
        passed=returncode == 0 and len(experiments) == EXPERIMENTS,
        wall=wall,
        phases=sum(_phase_time(experiment["phases"]) for experiment in experiments),
        experiments=len(experiments),
        first_baseline_after=(
            min(experiment["started"] for experiment in experiments) - began_epoch
            if experiments
            else 0.0
        ),
        why=why or output[-2000:],
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
    parser.add_argument("--beside-copy", action="store_true")
    arguments = parser.parse_args()
    copies = 2 if arguments.beside_copy else 1
    game_days = []
    for index in range(arguments.runs):
        together = run_together(copies)
        game_days += together
        for copy, run in enumerate(together, start=1):
            print(
                f"run {index + 1}, copy {copy}: {'passed' if run.passed else 'FAILED'}, "
                f"{run.experiments} experiments in {run.wall:.1f}s, their phases "
                f"{run.phases:.1f}s, chaoskit's own {run.wall - run.phases:.1f}s "
                f"(first baseline {run.first_baseline_after:.1f}s after the start)"
            )
            if not run.passed:
                print("  " + run.why.replace("\n", "\n  "))
    passed = [run for run in game_days if run.passed]
    worst = max(passed or game_days, key=lambda run: run.wall)
    overhead = worst.wall - worst.phases
    print(f"goal: every copy passes; the whole game day in at most {GOAL_WALL_S}s alone")
    print(
        _support.bench_line(
            "gameday" + ("_beside_copy" if arguments.beside_copy else ""),
            passed_runs=len(passed),
            of=len(game_days),
            wall_s=worst.wall,
            phases_s=worst.phases,
            overhead_s=overhead,
            overhead_per_experiment_s=overhead / max(worst.experiments, 1),
            first_baseline_s=worst.first_baseline_after,
            experiments=worst.experiments,
            runs=arguments.runs,
        )
    )


if __name__ == "__main__":
    main()
