"""The FIS experiment templates chaoskit generates for its own faults.

Each builder returns CreateExperimentTemplate input without ``roleArn``: the environment
that runs it adds its role, its stop alarms and the run's tag (``providers.aws.fis_runner``),
then validates the whole with ``fis_template.check_template`` before sending it.

Every action a builder writes ends by itself: instance terminations and reboots are single
API calls, a stop restarts the instances after ``startInstancesAfterDuration``, and every
other action has a ``duration`` (and the SSM documents a ``DurationSeconds``) bounded by the
hold. If the process that started an experiment dies, the experiment still ends.

Targets name resources by ARN (at most 5 per target, the model's limit), so an experiment
hits exactly what chaoskit chose within the blast radius, never what a tag happens to match
when it starts. More resources than that are split over several targets, one action each;
FIS runs actions without ``startAfter`` in parallel.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from chaoskit.errors import ConfigError
from chaoskit.faults.fis_documents import LATENCY, LATENCY_SOURCES
from chaoskit.faults.fis_durations import format_iso_duration
from chaoskit.vocabulary import FisTemplateBody

# FIS action durations run from one minute to 12 hours (ISO 8601 in the API).
MIN_ACTION_SECONDS = 60
MAX_ACTION_SECONDS = 12 * 3600
_ARNS_PER_TARGET = 5

InstanceAction = Literal["terminate", "stop", "reboot"]
ApiError = Literal["throttle", "internal", "unavailable"]

_INSTANCE_ACTIONS: Mapping[str, str] = {
    "terminate": "aws:ec2:terminate-instances",
    "stop": "aws:ec2:stop-instances",
    "reboot": "aws:ec2:reboot-instances",
}
API_ERROR_ACTIONS: Mapping[str, str] = {
    "throttle": "aws:fis:inject-api-throttle-error",
    "internal": "aws:fis:inject-api-internal-error",
    "unavailable": "aws:fis:inject-api-unavailable-error",
}


def fis_duration(seconds: float, *, field: str) -> str:
    """``seconds`` as an ISO 8601 FIS duration in whole minutes, rounded up to at least one
    (FIS's shortest); ConfigError naming ``field`` past FIS's 12 hours."""
    if not 0 < seconds <= MAX_ACTION_SECONDS:
        raise ConfigError(
            f"{field}={seconds:g}s: an FIS action lasts from 1 minute to 12 hours; give a "
            f"duration in that range."
        )
    return format_iso_duration(60 * max(1, math.ceil(seconds / 60)))


def instance_template(
    action: InstanceAction,
    instance_arns: Sequence[str],
    *,
    description: str,
    restart_after: float | None = None,
) -> FisTemplateBody:
    """Terminate, stop or reboot exactly ``instance_arns``. A stop restarts them after
    ``restart_after`` seconds (required: it bounds the stop if chaoskit is not there to)."""
    parameters: dict[str, str] = {}
    if action == "stop":
        if restart_after is None:
            raise ConfigError(
                "a generated stop-instances action needs restart_after (the hold): FIS then "
                "starts the instances again by itself even if chaoskit is gone."
            )
        parameters["startInstancesAfterDuration"] = fis_duration(
            restart_after, field="restart_after"
        )
    return _template(
        description=description,
        resource_type="aws:ec2:instance",
        target_key="Instances",
        arns=instance_arns,
        action_id=_INSTANCE_ACTIONS[action],
        parameters=parameters,
    )


def latency_template(
    instance_arns: Sequence[str],
    *,
    description: str,
    delay: float,
    duration: float,
    jitter: float = 0.0,
    sources: Sequence[str] = (),
    interface: str | None = None,
) -> FisTemplateBody:
    """Delay the network traffic of ``instance_arns`` by ``delay`` (± ``jitter``) seconds for
    ``duration`` seconds through SSM's AWSFIS-Run-Network-Latency document, or its -Sources
    variant when ``sources`` limits it to some dependencies (addresses, CIDRs, domains, AZs,
    ``DYNAMODB``, ``S3``) or when there is jitter, which only that variant takes."""
    arns = list(instance_arns)
    if not arns:
        raise ConfigError("a latency experiment needs at least one instance ARN.")
    partition, region = _partition_region(arns[0])
    seconds = math.ceil(duration)
    document_parameters: dict[str, str] = {
        "DelayMilliseconds": str(round(delay * 1000)),
        "DurationSeconds": str(seconds),
        "InstallDependencies": "True",
    }
    if interface is not None:
        document_parameters["Interface"] = interface
    document = LATENCY
    if sources or jitter:
        document = LATENCY_SOURCES
        # The -Sources document requires Sources; ALL keeps the plain document's scope.
        document_parameters["Sources"] = ",".join(sources) if sources else "ALL"
        document_parameters["JitterMilliseconds"] = str(round(jitter * 1000))
        # Its default is ingress; the plain document delays what the instance sends.
        document_parameters["TrafficType"] = "egress"
    return _template(
        description=description,
        resource_type="aws:ec2:instance",
        target_key="Instances",
        arns=arns,
        action_id="aws:ssm:send-command",
        parameters={
            "documentArn": f"arn:{partition}:ssm:{region}::document/{document}",
            "documentParameters": json.dumps(document_parameters, sort_keys=True),
            # The action's own bound: FIS cancels the command when it runs out.
            "duration": fis_duration(seconds, field="duration"),
        },
    )


def lambda_template(
    function_arns: Sequence[str],
    *,
    description: str,
    duration: float,
    percent: int,
    startup_delay: float | None = None,
    prevent_execution: bool | None = None,
) -> FisTemplateBody:
    """Delay (``startup_delay`` seconds before the code runs) or fail (``prevent_execution``:
    without running the code, or after it) ``percent`` % of the invocations of
    ``function_arns`` for ``duration`` seconds. Exactly one of the two must be given."""
    parameters = {
        "duration": fis_duration(duration, field="duration"),
        "invocationPercentage": str(percent),
    }
    if (startup_delay is None) == (prevent_execution is None):
        raise ConfigError("a Lambda experiment either delays or fails invocations, not both.")
    if startup_delay is not None:
        action_id = "aws:lambda:invocation-add-delay"
        parameters["startupDelayMilliseconds"] = str(round(startup_delay * 1000))
    else:
        action_id = "aws:lambda:invocation-error"
        parameters["preventExecution"] = "true" if prevent_execution else "false"
    return _template(
        description=description,
        resource_type="aws:lambda:function",
        target_key="Functions",
        arns=function_arns,
        action_id=action_id,
        parameters=parameters,
    )


def api_error_template(
    error: ApiError,
    role_arns: Sequence[str],
    *,
    description: str,
    service: str,
    operations: Sequence[str],
    percent: int,
    duration: float,
) -> FisTemplateBody:
    """Fail ``percent`` % of the ``service`` API calls (``operations``) that the IAM roles
    ``role_arns`` make, with throttling, internal or unavailable errors, for ``duration``."""
    return _template(
        description=description,
        resource_type="aws:iam:role",
        target_key="Roles",
        arns=role_arns,
        action_id=API_ERROR_ACTIONS[error],
        parameters={
            "duration": fis_duration(duration, field="duration"),
            "service": service,
            "operations": ",".join(operations),
            "percentage": str(percent),
        },
    )


def _template(
    *,
    description: str,
    resource_type: str,
    target_key: str,
    arns: Sequence[str],
    action_id: str,
    parameters: Mapping[str, str],
) -> FisTemplateBody:
    arns = list(dict.fromkeys(arns))  # each resource once, in the order given
    if not arns:
        raise ConfigError(f"{action_id} needs at least one resource ARN to act on.")
    targets: dict[str, Any] = {}
    actions: dict[str, Any] = {}
    chunks = [arns[i : i + _ARNS_PER_TARGET] for i in range(0, len(arns), _ARNS_PER_TARGET)]
    for index, chunk in enumerate(chunks, start=1):
        suffix = "" if len(chunks) == 1 else f"-{index}"
        targets[f"chaoskit-target{suffix}"] = {
            "resourceType": resource_type,
            "resourceArns": chunk,
            "selectionMode": "ALL",
        }
        action: dict[str, Any] = {
            "actionId": action_id,
            "description": description[:512],
            "targets": {target_key: f"chaoskit-target{suffix}"},
        }
        if parameters:
            action["parameters"] = dict(parameters)
        actions[f"chaoskit-action{suffix}"] = action
    return {
        "description": description[:512],
        "targets": targets,
        "actions": actions,
        # The environment replaces this with its stop alarms when it has any.
        "stopConditions": [{"source": "none"}],
    }


def _partition_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        raise ConfigError(
            f"{arn!r} is not a regional resource ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...)."
        )
    return parts[1], parts[3]
