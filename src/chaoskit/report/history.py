"""Runs compared: each experiment's verdict across the runs of a report folder, the score's
trend, and what changed from one run to the previous run of the same environment.

Read from the runs' JSON journals as plain data, field by field, so that journals of every
version (docs/journal.md) take part; a run that does not read is left out of the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chaoskit.experiment.result import JsonObject
from chaoskit.experiment.score import failed_as_expected

Verdict = Literal["passed", "expected", "failed", "error", "skipped"]
Change = Literal["started failing", "fixed", "new", "gone"]
GOOD: frozenset[Verdict] = frozenset({"passed", "expected"})
BAD: frozenset[Verdict] = frozenset({"failed", "error"})
# The outcomes a journal records that are verdicts as they stand (a failure may be expected).
_RECORDED: dict[str, Verdict] = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "skipped": "skipped",
}
CHANGE_ORDER: tuple[Change, ...] = ("started failing", "fixed", "new", "gone")


@dataclass(frozen=True, kw_only=True)
class RunVerdicts:
    run_id: str
    env: str
    started: float
    merged: bool  # a game day merged from several runs: shown, not compared
    verdicts: Mapping[str, Verdict]  # experiment name -> verdict, in the run's order
    score: int | None


@dataclass(frozen=True, kw_only=True)
class Difference:
    experiment: str
    change: Change
    before: Verdict | None
    after: Verdict | None


@dataclass(frozen=True, kw_only=True)
class ExperimentHistory:
    name: str
    # Newest first, one per run compared (None: not in that run).
    verdicts: tuple[Verdict | None, ...]
    passed: int  # runs it passed (or failed as expected) in
    judged: int  # runs it passed or failed in (not skipped, not absent)


def verdicts_of(experiments: Sequence[JsonObject]) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    for e in experiments:
        outcome = str(e.get("outcome", ""))
        if failed_as_expected(
            outcome=outcome,
            cause=str(e.get("cause", "")),
            expected_to_fail=bool(e.get("expected_to_fail", False)),
        ):
            verdicts[str(e.get("name", "?"))] = "expected"
        elif outcome in _RECORDED:
            verdicts[str(e.get("name", "?"))] = _RECORDED[outcome]
    return verdicts


def differences(run: RunVerdicts, previous: RunVerdicts | None) -> list[Difference]:
    """What changed since ``previous`` (the run before, in the same environment); nothing
    when there is none to compare with."""
    if previous is None:
        return []
    found = []
    for name, after in run.verdicts.items():
        before = previous.verdicts.get(name)
        change: Change | None = None
        if before is None:
            change = "new"
        elif before in GOOD and after in BAD:
            change = "started failing"
        elif before in BAD and after in GOOD:
            change = "fixed"
        if change is not None:
            found.append(Difference(experiment=name, change=change, before=before, after=after))
    found += [
        Difference(experiment=name, change="gone", before=before, after=None)
        for name, before in previous.verdicts.items()
        if name not in run.verdicts
    ]
    return sorted(found, key=lambda d: CHANGE_ORDER.index(d.change))


def previous_runs(runs: Sequence[RunVerdicts]) -> dict[str, RunVerdicts | None]:
    """Each run's previous run of the same environment (``runs`` newest first)."""
    previous: dict[str, RunVerdicts | None] = {}
    for index, run in enumerate(runs):
        earlier = (r for r in runs[index + 1 :] if r.env == run.env and not r.merged)
        previous[run.run_id] = None if run.merged else next(earlier, None)
    return previous


def histories(runs: Sequence[RunVerdicts]) -> list[ExperimentHistory]:
    """Every experiment of ``runs`` (newest first), each with its verdict in every run."""
    compared = [run for run in runs if not run.merged]
    names = dict.fromkeys(name for run in compared for name in run.verdicts)
    found = []
    for name in names:
        verdicts = tuple(run.verdicts.get(name) for run in compared)
        found.append(
            ExperimentHistory(
                name=name,
                verdicts=verdicts,
                passed=sum(1 for v in verdicts if v in GOOD),
                judged=sum(1 for v in verdicts if v in GOOD or v in BAD),
            )
        )
    return found


def trend_chart(scores: Sequence[int | None], *, width: int = 240, height: int = 40) -> str:
    """The score over the runs, oldest on the left: a small inline SVG (no script)."""
    known = [(i, s) for i, s in enumerate(scores) if s is not None]
    if len(known) < 2:
        return ""
    step = (width - 8) / max(len(scores) - 1, 1)

    def at(index: int, value: int) -> str:
        return f"{4 + index * step:.1f},{height - 4 - (height - 8) * value / 100:.1f}"

    points = " ".join(at(i, s) for i, s in known)
    dots = "".join(
        f'<circle cx="{at(i, s).split(",")[0]}" cy="{at(i, s).split(",")[1]}" r="2.5" '
        f'fill="{"#1e7e34" if s == 100 else "#b3261e"}"><title>{s}/100</title></circle>'
        for i, s in known
    )
    return (
        f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="score trend" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline fill="none" stroke="#2f6db5" stroke-width="1.5" points="{points}"/>'
        f"{dots}</svg>"
    )
