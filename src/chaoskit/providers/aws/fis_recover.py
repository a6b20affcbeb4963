"""Settling what a killed run left in FIS: every experiment tagged with its run id that has
not ended is stopped, and every template tagged with it is deleted.

Found by the ``chaoskit:run-id`` tag, not by the journal: an experiment whose id never
reached the journal (the run died between StartExperiment and writing it) is found as well.
Run again, it finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaoskit.clock import SystemClock
from chaoskit.providers.aws.fis_calls import (
    ENDED,
    RUN_ID_TAG,
    FisCallError,
    WaitTimeout,
    call,
    fis_pages,
    status_of,
    stop_until_ended,
)
from chaoskit.typing import Clock

if TYPE_CHECKING:
    from mypy_boto3_fis import FISClient
    from mypy_boto3_fis.type_defs import ExperimentSummaryTypeDef, ExperimentTemplateSummaryTypeDef

DEFAULT_RECOVER_TIMEOUT = 300.0  # per experiment: how long to wait for a stop to take
DEFAULT_RECOVER_POLL = 2.0


@dataclass(frozen=True, kw_only=True)
class FisRecovery:
    """What ``recover_run`` did, and what is left for a human (``problems``)."""

    run_id: str
    stopped: tuple[str, ...] = ()  # experiment ids that were running and are stopped now
    deleted_templates: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        done = (
            f"run {self.run_id}: stopped {len(self.stopped)} FIS experiment(s)"
            f"{' (' + ', '.join(self.stopped) + ')' if self.stopped else ''}, deleted "
            f"{len(self.deleted_templates)} template(s)"
        )
        if self.problems:
            return done + "; needs a human: " + "; ".join(self.problems)
        return done


def recover_run(
    client: FISClient,
    run_id: str,
    *,
    clock: Clock | None = None,
    timeout: float = DEFAULT_RECOVER_TIMEOUT,
    poll: float = DEFAULT_RECOVER_POLL,
) -> FisRecovery:
    """Stop every experiment of ``run_id`` that has not ended, wait until each has, then
    delete the run's templates. Never raises for one experiment: each failure is a problem in
    the result, and the others are still settled."""
    clock = clock or SystemClock()
    stopped: list[str] = []
    problems: list[str] = []
    try:
        experiments = [e for e in _experiments(client) if _ours(e, run_id)]
    except FisCallError as error:
        return FisRecovery(run_id=run_id, problems=(f"listing FIS experiments failed: {error}",))
    for summary in experiments:
        if status_of(summary) in ENDED:
            continue
        experiment_id = str(summary["id"])
        try:
            stop_until_ended(
                client, experiment_id, seen=summary, clock=clock, timeout=timeout, poll=poll
            )
            stopped.append(experiment_id)
        except (FisCallError, WaitTimeout) as error:
            problems.append(f"FIS experiment {experiment_id} may still be running: {error}")
    deleted: list[str] = []
    try:
        templates = [
            t
            for page in fis_pages(client.list_experiment_templates)
            for t in page.get("experimentTemplates") or ()
            if _ours(t, run_id)
        ]
    except FisCallError as error:
        problems.append(f"listing FIS templates failed: {error}")
        templates = []
    for template in templates:
        try:
            call(client.delete_experiment_template, id=str(template["id"]))
            deleted.append(str(template["id"]))
        except FisCallError as error:
            if error.code != "ResourceNotFoundException":
                problems.append(f"FIS template {template['id']} was not deleted: {error}")
    return FisRecovery(
        run_id=run_id,
        stopped=tuple(stopped),
        deleted_templates=tuple(deleted),
        problems=tuple(problems),
    )


def settle_experiment(
    client: FISClient,
    experiment_id: str,
    template_id: str | None,
    *,
    clock: Clock | None = None,
    timeout: float = DEFAULT_RECOVER_TIMEOUT,
    poll: float = DEFAULT_RECOVER_POLL,
) -> str:
    """Stop the experiment a journal names unless it has ended, wait until it has, delete
    its template; what was done, in words. FisCallError or WaitTimeout when it could not."""
    clock = clock or SystemClock()
    # Asked to stop without a look first: StopExperiment answers what state it found (FIS
    # refuses, or leaves alone, one that has ended), and a look is one more call.
    last, requested = stop_until_ended(
        client, experiment_id, seen=None, clock=clock, timeout=timeout, poll=poll
    )
    if requested:
        done = f"stopped FIS experiment {experiment_id}"
    else:
        done = f"FIS experiment {experiment_id} had ended ({status_of(last)})"
    if template_id is None:
        return done
    try:
        call(client.delete_experiment_template, id=template_id)
    except FisCallError as error:
        if error.code != "ResourceNotFoundException":
            raise
        return f"{done}; its template {template_id} was deleted already"
    return f"{done}; deleted its template {template_id}"


def _ours(
    summary: ExperimentSummaryTypeDef | ExperimentTemplateSummaryTypeDef, run_id: str
) -> bool:
    return (summary.get("tags") or {}).get(RUN_ID_TAG) == run_id


def _experiments(client: FISClient) -> list[ExperimentSummaryTypeDef]:
    """Every experiment in the account and region, page after page."""
    return [
        summary
        for page in fis_pages(client.list_experiments)
        for summary in page.get("experiments") or ()
    ]


def stop_tagged(
    client: FISClient,
    *,
    clock: Clock | None = None,
    timeout: float = DEFAULT_RECOVER_TIMEOUT,
    poll: float = DEFAULT_RECOVER_POLL,
) -> FisRecovery:
    """The emergency stop: every FIS experiment that carries the run tag, whatever its run,
    and has not ended is stopped, and waited for until it has. The templates are left for
    ``chaoskit recover``, which settles each run's journal."""
    clock = clock or SystemClock()
    stopped: list[str] = []
    problems: list[str] = []
    try:
        experiments = [
            e
            for e in _experiments(client)
            if RUN_ID_TAG in (e.get("tags") or {}) and status_of(e) not in ENDED
        ]
    except FisCallError as error:
        return FisRecovery(run_id="*", problems=(f"listing FIS experiments failed: {error}",))
    for summary in experiments:
        experiment_id = str(summary["id"])
        try:
            stop_until_ended(
                client, experiment_id, seen=summary, clock=clock, timeout=timeout, poll=poll
            )
            stopped.append(f"{experiment_id} (run {summary['tags'][RUN_ID_TAG]})")
        except (FisCallError, WaitTimeout) as error:
            problems.append(f"FIS experiment {experiment_id} may still be running: {error}")
    return FisRecovery(run_id="*", stopped=tuple(stopped), problems=tuple(problems))
