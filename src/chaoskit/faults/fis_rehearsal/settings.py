"""``FisExperiment``'s rehearsal arguments, checked when the fault is made: each wrong one is
a ConfigError naming the argument, before any environment is opened."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

from chaoskit.errors import ConfigError
from chaoskit.faults.fis_rehearsal.plan import RehearsalSettings, Unsupported
from chaoskit.slo.grammar import parse_objective
from chaoskit.slo.measurement import Objective
from chaoskit.typing import Fault


def check_rehearsal_settings(
    fault: str,
    *,
    targets: object,
    stop_conditions: object,
    time_scale: object,
    unsupported: object,
    actions: object,
) -> RehearsalSettings:
    return RehearsalSettings(
        targets=_names(fault, "targets", targets, example="{'Instances': 'web'}"),
        stop_conditions=_objectives(fault, stop_conditions),
        time_scale=_scale(fault, time_scale),
        unsupported=_unsupported(fault, unsupported),
        actions=_faults(fault, actions),
    )


def _mapping(fault: str, argument: str, value: object, *, example: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise ConfigError(
            f"{fault}({argument}={value!r}) must map names of the template to values, e.g. "
            f"{argument}={example}."
        )
    return value


def _names(fault: str, argument: str, value: object, *, example: str) -> dict[str, str]:
    given = _mapping(fault, argument, value, example=example)
    for key, local in given.items():
        if not isinstance(local, str) or not local:
            raise ConfigError(
                f"{fault}({argument}={{{key!r}: {local!r}}}): name the local target that "
                f"stands for template target {key!r}, e.g. {argument}={example}."
            )
    return cast(dict[str, str], dict(given))


def _objectives(fault: str, value: object) -> dict[str, Objective]:
    example = "{'web-5xx': 'errors<5%'}"
    given = _mapping(fault, "stop_conditions", value, example=example)
    objectives: dict[str, Objective] = {}
    for alarm, objective in given.items():
        if isinstance(objective, str):
            try:
                objectives[alarm] = parse_objective(objective)
            except ConfigError as error:
                raise ConfigError(f"{fault}(stop_conditions[{alarm!r}]): {error}") from error
        elif hasattr(objective, "evaluate") and hasattr(objective, "describe"):
            objectives[alarm] = cast(Objective, objective)
        else:
            raise ConfigError(
                f"{fault}(stop_conditions[{alarm!r}]={objective!r}) must be an objective, an "
                f"object such as slo.error_rate(below='5%') or a string such as 'errors<5%'."
            )
    return objectives


def _scale(fault: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ConfigError(
            f"{fault}(time_scale={value!r}): time_scale is the local seconds each second of "
            f"the template takes, above 0 and at most 1; e.g. time_scale=1/20 rehearses a "
            f"PT5M action in 15s."
        )
    return float(value)


def _unsupported(fault: str, value: object) -> Unsupported:
    if value == "error":
        return "error"
    if value == "skip":
        return "skip"
    raise ConfigError(
        f"{fault}(unsupported={value!r}) must be 'error' (refuse a template with actions the "
        f"local system cannot rehearse) or 'skip' (rehearse the rest, showing those skipped)."
    )


def _faults(fault: str, value: object) -> dict[str, Fault]:
    given = _mapping(
        fault, "actions", value, example="{'failover': faults.RebootInstances(target='db')}"
    )
    for key, mapped in given.items():
        if not isinstance(mapped, Fault):
            raise ConfigError(
                f"{fault}(actions[{key!r}]={mapped!r}) must be a chaoskit fault that stands "
                f"for the action, e.g. faults.RebootInstances(target='web')."
            )
    return cast(dict[str, Fault], dict(given))
