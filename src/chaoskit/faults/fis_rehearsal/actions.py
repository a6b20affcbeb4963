"""What each FIS action does in a rehearsal: a ``Recipe`` of its effect on local instances
and its timing in the template's seconds, or the reason it cannot be rehearsed.

The effects are those of chaoskit's own faults on the local system: terminating, stopping
and rebooting replicas, the fault proxy's latency and blackhole, CPU burners. An action the
local system has nothing to stand in for (a database failover, a DynamoDB table, a Direct
Connect interface, an SSM Automation runbook) is refused by name, unless the user maps it
onto a chaoskit fault or asks to skip it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from chaoskit.errors import ConfigError
from chaoskit.faults.fis_durations import format_iso_duration, parse_iso_duration
from chaoskit.faults.fis_rehearsal.documents import DOCUMENTS, read_document
from chaoskit.typing import Fault
from chaoskit.vocabulary import FisAction, NetworkFault

# FIS's default notice before a Spot interruption.
SPOT_NOTICE = 120.0
# Parameters that say how long an action a user mapped onto a chaoskit fault lasts.
_LENGTH_PARAMETERS = (
    "duration",
    "maxDuration",
    "startInstancesAfterDuration",
    "durationBeforeInterruption",
)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """One template action as the rehearsal runs it. Times are the template's seconds.

    The action starts, waits ``delay``, applies its effect to the instances of ``target``,
    keeps it ``lasts`` (None: the effect is over at once, like a termination, or lasts until
    the rehearsal ends, like a stop that never restarts), and completes after ``length``.
    """

    name: str
    action_id: str
    effect: str  # terminate, stop, reboot, network, cpu, wait, fault (mapped), skip
    length: float
    target: str | None = None  # the template target it acts on
    delay: float = 0.0
    lasts: float | None = None
    network: NetworkFault | None = None
    workers: int = 1
    fault: Fault | None = None  # the chaoskit fault a user mapped the action onto
    shown: str = ""  # the effect in words
    note: str = ""  # where the local stand-in differs from AWS
    skipped: str = ""  # why the action is skipped (unsupported="skip")


@dataclass(frozen=True, kw_only=True)
class Unrehearsable:
    name: str
    action_id: str
    why: str

    def describe(self) -> str:
        return f"{self.name} ({self.action_id}): {self.why}"


def recipe_for(
    name: str, action: FisAction, *, mapped: Fault | None = None
) -> Recipe | Unrehearsable:
    """How ``action`` (the template's ``actions.<name>``) is rehearsed, or why it cannot be."""
    action_id = str(action["actionId"])
    parameters: Mapping[str, str] = action.get("parameters") or {}
    where = f"actions.{name}.parameters"
    targets = action.get("targets") or {}
    target = next(iter(targets.values()), None)
    if mapped is not None:
        length = next(
            (
                parse_iso_duration(parameters[key], field=f"{where}.{key}")
                for key in _LENGTH_PARAMETERS
                if parameters.get(key)
            ),
            0.0,
        )
        return Recipe(
            name=name,
            action_id=action_id,
            effect="fault",
            length=length,
            lasts=length,
            fault=mapped,
            shown=f"{mapped.describe()} (mapped)",
        )

    def length_of(key: str, default: float | None = None) -> float:
        if not parameters.get(key):
            if default is None:
                _missing(name, key)
            return float(default or 0.0)
        return parse_iso_duration(parameters[key], field=f"{where}.{key}")

    def recipe(effect: str, length: float, **more: Any) -> Recipe:
        return Recipe(
            name=name, action_id=action_id, effect=effect, length=length, target=target, **more
        )

    if action_id in ("aws:ec2:terminate-instances", "aws:ecs:stop-task"):
        what = "terminate" if action_id.startswith("aws:ec2") else "stop the task of"
        return recipe("terminate", 0.0, shown=f"{what} each instance")
    if action_id == "aws:ec2:reboot-instances":
        return recipe("reboot", 0.0, shown="reboot each instance")
    if action_id == "aws:ec2:stop-instances":
        restart = length_of("startInstancesAfterDuration", default=0.0) or None
        shown = (
            f"stop, start again after {format_iso_duration(restart)}"
            if restart
            else "stop until the rehearsal ends"
        )
        return recipe("stop", restart or 0.0, lasts=restart, shown=shown)
    if action_id == "aws:ec2:send-spot-instance-interruptions":
        notice = length_of("durationBeforeInterruption", default=SPOT_NOTICE)
        return recipe(
            "terminate",
            notice,
            delay=notice,
            shown=f"interrupt (terminate) after {format_iso_duration(notice)} of notice",
        )
    if action_id == "aws:fis:wait":
        return recipe("wait", length_of("duration"), shown="wait")
    if action_id == "aws:network:disrupt-connectivity":
        scope = parameters.get("scope", "all")
        if scope != "all":
            return Unrehearsable(
                name=name,
                action_id=action_id,
                why=f"scope {scope!r} cuts the subnet off from {scope} only, which the local "
                f"system does not have; only scope 'all' is rehearsed (a blackhole)",
            )
        lasts = length_of("duration")
        fault = NetworkFault(kind="blackhole", direction="both")
        return recipe("network", lasts, lasts=lasts, network=fault, shown="blackhole (scope all)")
    if action_id == "aws:ssm:send-command":
        document, effect = read_document(parameters, where=where)
        if effect is None:
            return Unrehearsable(
                name=name,
                action_id=action_id,
                why=f"runs SSM document {document or '(none)'}, which only an instance can "
                f"run; a rehearsal runs {', '.join(DOCUMENTS)}",
            )
        if effect.kind == "kill":
            return recipe("terminate", 0.0, shown=effect.shown, note=effect.note)
        window = length_of("duration", default=effect.lasts)
        lasts = min(window, effect.lasts or window)
        return recipe(
            effect.kind,
            window,
            lasts=lasts,
            network=effect.network,
            workers=effect.workers,
            shown=f"{effect.shown} for {format_iso_duration(lasts)}",
            note=effect.note,
        )
    return Unrehearsable(name=name, action_id=action_id, why=_why_not(action_id, parameters))


def _missing(name: str, key: str) -> NoReturn:
    raise ConfigError(
        f"actions.{name}.parameters.{key} is required for this action; give it as an ISO 8601 "
        f"duration, e.g. 'PT5M'."
    )


def _why_not(action_id: str, parameters: Mapping[str, str]) -> str:
    if action_id == "aws:ssm:start-automation-execution":
        document = str(parameters.get("documentArn", "")).rpartition("/")[2] or "(none)"
        return f"runs the SSM Automation runbook {document}, whose steps only AWS can run"
    service = action_id.split(":")[1] if action_id.count(":") >= 2 else action_id
    return f"acts on {service} resources, which the local system does not have"


def skipped(name: str, action_id: str, why: str) -> Recipe:
    """An action the user asked to skip: it runs nothing, and its dependants start after it."""
    return Recipe(name=name, action_id=action_id, effect="skip", length=0.0, skipped=why)
