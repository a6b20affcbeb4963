"""What happened in one experiment, in order and with times: its phases, each injection and
the instances it hit, how long it held, a halt, each revert and how users recovered, and
each action of a rehearsed FIS template. Read from the journal's result alone, so a report
rendered again from an old journal tells the same story."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from chaoskit.experiment.result import ExperimentResult, InjectionRecord

Kind = Literal["phase", "inject", "hold", "halt", "revert", "recover", "action", "problem"]


@dataclass(frozen=True, kw_only=True)
class Moment:
    at: float  # seconds since the experiment started
    kind: Kind
    what: str


def chronology(result: ExperimentResult) -> tuple[Moment, ...]:
    moments: list[Moment] = []
    for phase in result.phases:
        start, end = phase.start - result.started, phase.end - result.started
        moments.append(Moment(at=start, kind="phase", what=f"{phase.name} began"))
        if phase.kind == "fault":
            moments.append(
                Moment(at=end, kind="hold", what=f"{phase.name} ended after {end - start:.1f}s")
            )
    faults = [p for p in result.phases if p.kind == "fault"]
    if result.cause == "halted" and faults:
        moments.append(
            Moment(at=faults[-1].end - result.started, kind="halt", what=f"halted: {result.reason}")
        )
    for record in result.injections:
        moments += _injection(record, result.started)
    # Phases before injections at the same moment: a fault phase begins as its fault lands.
    order = {kind: rank for rank, kind in enumerate(get_args(Kind))}
    return tuple(sorted(moments, key=lambda m: (round(m.at, 3), order[m.kind])))


def _injection(record: InjectionRecord, started: float) -> list[Moment]:
    moments = []
    where = ", ".join(record.instance_ids) or "no instance"
    if record.injected_at is not None:
        injected = record.injected_at - started
        moments.append(
            Moment(at=injected, kind="inject", what=f"injected {record.fault} on {where}")
        )
        if record.detected_after is not None:
            moments.append(
                Moment(
                    at=injected + record.detected_after,
                    kind="problem",
                    what=f"users affected by {record.fault}: first second outside the baseline",
                )
            )
        healed = record.details.get("time_to_self_heal")
        if isinstance(healed, int | float):
            moments.append(
                Moment(
                    at=injected + healed,
                    kind="recover",
                    what=f"{record.target} at healthy capacity again (replacements up)",
                )
            )
    if record.status == "not injected":
        moments.append(
            Moment(
                at=(record.reverted_at or started) - started,
                kind="problem",
                what=f"{record.fault} could not be injected: {record.error}",
            )
        )
    if record.reverted_at is not None:
        reverted = record.reverted_at - started
        if record.status == "revert failed":
            what = f"revert of {record.fault} FAILED: {record.error}; may still be active"
            moments.append(Moment(at=reverted, kind="problem", what=what))
        else:
            moments.append(Moment(at=reverted, kind="revert", what=f"reverted {record.fault}"))
        if record.recovered_after is not None:
            moments.append(
                Moment(
                    at=reverted + record.recovered_after,
                    kind="recover",
                    what="users back inside the baseline's band",
                )
            )
    elif record.status in ("active", "revert failed"):
        moments.append(
            Moment(
                at=(record.injected_at or started) - started,
                kind="problem",
                what=f"{record.fault} was never reverted: {record.error or 'still active'}",
            )
        )
    for action in record.details.get("actions", ()):
        moments += _action(action, started)
    return moments


def _action(action: Any, started: float) -> list[Moment]:
    """A rehearsed FIS action's start and end (``chaoskit.faults.fis_rehearsal``)."""
    if not isinstance(action, dict):
        return []
    name, state = str(action.get("name", "?")), str(action.get("state", ""))
    instances = "; ".join(
        f"{', '.join(ids)} of {target}" for target, ids in dict(action.get("instances", {})).items()
    )
    moments = []
    if isinstance(action.get("started"), int | float):
        on = f" on {instances}" if instances else ""
        moments.append(
            Moment(
                at=float(action["started"]) - started,
                kind="action",
                what=f"FIS action {name} ({action.get('action_id', '')}) started{on}",
            )
        )
    if isinstance(action.get("ended"), int | float):
        why = f": {action['reason']}" if action.get("reason") else ""
        moments.append(
            Moment(
                at=float(action["ended"]) - started,
                kind="action",
                what=f"FIS action {name} {state}{why}",
            )
        )
    return moments
