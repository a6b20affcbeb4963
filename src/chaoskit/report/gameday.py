"""Several runs as one game-day report (``chaoskit report A.json B.json ...``): a game day
is often run in parts, against more than one environment, and read as one story."""

from __future__ import annotations

from collections.abc import Sequence

from chaoskit.errors import ChaoskitError
from chaoskit.experiment.result import Journal
from chaoskit.experiment.score import resilience_score


def merge_journals(journals: Sequence[Journal]) -> Journal:
    """One journal holding every experiment of ``journals``, in the order they started."""
    if not journals:
        raise ChaoskitError("no journals to merge; name at least two chaoskit-*.json files")
    ordered = sorted(journals, key=lambda j: j.started)
    ids = [j.run_id for j in ordered]
    if len(set(ids)) != len(ids):
        raise ChaoskitError(
            f"run {next(i for i in ids if ids.count(i) > 1)} is named twice; name each "
            f"run's journal once"
        )
    experiments = tuple(
        sorted((e for j in ordered for e in j.experiments), key=lambda e: e.started)
    )
    envs = list(dict.fromkeys(j.env for j in ordered))
    return Journal(
        run_id=f"gameday-{ordered[-1].run_id}",
        env=" + ".join(envs),
        started=ordered[0].started,
        finished=max(j.finished for j in ordered),
        seed=ordered[0].seed,
        experiments=experiments,
        resilience_score=resilience_score(experiments),
        merged_from=tuple(ids),
    )
