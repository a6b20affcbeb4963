"""How soon the guardrail ends a hold once the third breaching second is over.

Runs three experiments with pytest on the embedded local system, as a user would, each under
the example shop's load (40 users at 5 task runs a second: 200 requests per second) with
``guardrail=["p99<300ms", "errors<5%"]`` and ``halt_after=3``, holding for 30 s:

- **fail**: HTTP 503 on every instance (``HttpErrors``), requests fail fast;
- **slow**: 800 ms more on every instance (``Latency``);
- **stall**: every instance stopped (``StopInstances``), requests hang.

Each prints ``*_revert_s``: from the end of the third breaching second in a row to the fault's
revert, both read from the run's JSON journal. Which seconds breach is decided here, from the
journal's complete seconds, not by chaoskit's guardrail: a second breaches when 5% or more of
its completed requests failed, or when more than 1% of the requests it expected were not
answered within 300 ms (slower successes, and requests never answered). The revert's time is
the journal's, after the fault's own revert returned (for ``StopInstances``, once the instances
answer again).

    python bench/guardrail.py
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import _support

from chaoskit.experiment.result import ExperimentResult, Journal
from chaoskit.slo.seconds import SecondStats

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "experiments" / "locustfile.py"
HALT_AFTER = 3
SLOW_S, SLOW_SHARE, ERROR_SHARE = 0.3, 0.01, 0.05
GOAL_S = 1.5
TEST_FILE = "test_guardrail_bench.py"

EXPERIMENTS = textwrap.dedent(
    f"""
    import pytest
    from chaoskit import faults, load, slo

    pytestmark = pytest.mark.chaos(
        load=load.Locust({str(LOCUSTFILE)!r}, users=40, spawn_rate=40),
        steady_state=[slo.error_rate(below="5%")],
        guardrail=["p99<300ms", "errors<5%"],
        halt_after={HALT_AFTER},
        baseline="3s",
        recovery="3s",
        allow_inconclusive=True,
    )

    def test_fail(chaos):
        chaos.inject(faults.HttpErrors(target="web", status=503, count=3), hold="30s")

    def test_slow(chaos):
        chaos.inject(faults.Latency(target="web", delay="800ms", count=3), hold="30s")

    def test_stall(chaos):
        chaos.inject(faults.StopInstances(target="web", count=3), hold="30s")
    """
)


def breaches(second: SecondStats) -> bool:
    """The bench's own rule, on a complete second (see the module's docstring)."""
    if second.completed and second.failures / second.completed >= ERROR_SHARE:
        return True
    demand = second.demand
    if not demand:
        return False
    slow = second.missing
    if second.ok:
        # Successes at or above 300 ms: those at or below the last value under it are fast.
        fast_share = _share_below(second, SLOW_S * 1e6)
        slow += second.ok - round(fast_share * second.ok)
    return slow > demand * SLOW_SHARE


def _share_below(second: SecondStats, value_us: float) -> float:
    histogram = second.latency_us
    below = sum(
        item.count_added_in_this_iter_step
        for item in histogram.get_recorded_iterator()
        if item.value_iterated_to < value_us
    )
    return below / histogram.get_total_count()


def revert_after(experiment: ExperimentResult) -> tuple[float | None, str]:
    """Seconds from the end of the third breaching second in a row to the revert."""
    [injection] = experiment.injections
    injected, reverted = injection.injected_at, injection.reverted_at
    if injected is None or reverted is None:
        return None, f"not injected and reverted ({injection.status})"
    streak = 0
    for second in sorted(experiment.seconds, key=lambda s: s.second):
        if second.second < math.ceil(injected) or second.second + 1 > reverted:
            continue
        streak = streak + 1 if breaches(second) else 0
        if streak == HALT_AFTER:
            return reverted - (second.second + 1), f"third breaching second {second.second}"
    return None, f"no {HALT_AFTER} breaching seconds in a row before the revert"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-guardrail-") as directory:
        project = Path(directory)
        (project / TEST_FILE).write_text(EXPERIMENTS)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", TEST_FILE],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(run.stdout[-3000:])
        [journal] = (project / "reports").glob("chaoskit-*.json")
        experiments = Journal.from_json(json.loads(journal.read_text())).experiments
    figures: dict[str, float] = {}
    for experiment in experiments:
        name = experiment.name.rsplit("test_", 1)[-1]
        after, why = revert_after(experiment)
        [injection] = experiment.injections
        held = (injection.reverted_at or math.nan) - (injection.injected_at or math.nan)
        print(f"{name}: held {held:.2f}s; {why}; {experiment.reason[:300]}")
        figures[f"{name}_revert_s"] = after if after is not None else math.nan
        figures[f"{name}_held_s"] = held
    print(f"goal: each *_revert_s at most {GOAL_S} s; machine: {_support.machine()}")
    print(_support.bench_line("guardrail", **figures))


if __name__ == "__main__":
    main()
