"""Stopping instances so that they can always be found and started again.

Before StopInstances, each instance is tagged ``chaoskit:stopped-by-run`` = the run id: the
run reverts its own stops, and ``chaoskit recover`` finds a killed run's stopped instances by
the tag even when the run died before the journal said what it had done. Starting again
clears the tag; only instances carrying the run's tag are started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.instances import describe_ids
from chaoskit.typing import Clock

STOPPED_BY = "chaoskit:stopped-by-run"


def stop_tagged(clients: AwsClients, instance_ids: Sequence[str], *, run_id: str) -> None:
    tag_stopped_by(clients, instance_ids, run_id=run_id)
    clients.call(clients.ec2.stop_instances, InstanceIds=list(instance_ids))


def tag_stopped_by(clients: AwsClients, instance_ids: Sequence[str], *, run_id: str) -> None:
    """Mark the instances as stopped by run ``run_id``, before they are: ``recover`` starts
    what carries the mark of a run that is gone."""
    clients.call(
        clients.ec2.create_tags,
        Resources=list(instance_ids),
        Tags=[{"Key": STOPPED_BY, "Value": run_id}],
    )


@dataclass(frozen=True, kw_only=True)
class Restarted:
    started: tuple[str, ...]  # were stopped by the run, and are starting
    gone: tuple[str, ...]  # terminated meanwhile (an Auto Scaling group replaced them)
    not_stopped: tuple[str, ...]  # running already, or never stopped by this run

    def describe(self) -> str:
        parts = [f"started {', '.join(self.started)}"] if self.started else []
        if self.gone:
            parts.append(f"{', '.join(self.gone)} terminated meanwhile (nothing to start)")
        if self.not_stopped:
            parts.append(f"{', '.join(self.not_stopped)} not stopped: nothing to start")
        return "; ".join(parts) or "nothing to start"


class _StillStopping(ProviderError):
    pass


def start_again(
    clients: AwsClients,
    instance_ids: Sequence[str],
    *,
    run_id: str,
    clock: Clock,
    timeout: float,
    poll: float,
) -> Restarted:
    """Start the instances of ``instance_ids`` that the run ``run_id`` stopped, once they
    have finished stopping (waits up to ``timeout``), then clear the run's tag."""
    deadline = clock.now() + timeout

    def past_deadline(state: RetryCallState) -> bool:
        return clock.now() >= deadline

    def stopped_by_run() -> list[str]:
        ours = [
            i
            for i in describe_ids(clients, instance_ids)
            if i.tags.get(STOPPED_BY) == run_id and i.state not in ("shutting-down", "terminated")
        ]
        stopping = [i.id for i in ours if i.state == "stopping"]
        if stopping:
            raise _StillStopping(f"{', '.join(stopping)} still stopping")
        return [i.id for i in ours]

    retrying = Retrying(
        stop=past_deadline,
        wait=wait_fixed(poll),
        retry=retry_if_exception_type(_StillStopping),
        sleep=clock.sleep,
        reraise=True,
    )
    try:
        ours = retrying(stopped_by_run)
    except _StillStopping as error:
        raise ProviderError(
            f"cannot start {', '.join(instance_ids)} again: {error} after {timeout:g}s; "
            f"start them by hand (aws ec2 start-instances) once they have stopped."
        ) from error
    current = {i.id: i for i in describe_ids(clients, ours)}
    to_start = [i for i in ours if current[i].state == "stopped"]
    if to_start:
        clients.call(clients.ec2.start_instances, InstanceIds=to_start)
    if ours:
        clients.call(clients.ec2.delete_tags, Resources=ours, Tags=[{"Key": STOPPED_BY}])
    known = {i.id: i for i in describe_ids(clients, instance_ids)}
    gone = tuple(
        i
        for i in instance_ids
        if i not in known or known[i].state in ("shutting-down", "terminated")
    )
    return Restarted(
        started=tuple(to_start),
        gone=gone,
        not_stopped=tuple(i for i in instance_ids if i not in to_start and i not in gone),
    )
