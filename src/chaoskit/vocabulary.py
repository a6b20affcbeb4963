"""The values the layers exchange: a target's instances, the network faults a target can put
on their traffic, the CPU stress it can put on them, a fault resolved into a plan, the JSON
that faults hand to the journal, and an AWS FIS template's body.

Faults build them, providers act on them (both ends of the local system's control API among
them), and ``chaoskit.testing``'s fakes record them. Constructing one checks every field, so
each side refuses the same mistakes. Protocols live in ``chaoskit.typing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypeAlias, TypedDict

from chaoskit.durations import name_value
from chaoskit.errors import ConfigError

if TYPE_CHECKING:
    # Types only (the test extra's boto3-stubs): the fields FIS's API model gives them.
    from mypy_boto3_fis.type_defs import (
        CreateExperimentTemplateActionInputTypeDef,
        CreateExperimentTemplateExperimentOptionsInputTypeDef,
        CreateExperimentTemplateLogConfigurationInputTypeDef,
        CreateExperimentTemplateReportConfigurationInputTypeDef,
        CreateExperimentTemplateStopConditionInputTypeDef,
        CreateExperimentTemplateTargetInputTypeDef,
    )

# What the journal holds and ``json.dumps`` writes: the details and undo records faults give.
JsonValue: TypeAlias = (
    "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)
JsonObject: TypeAlias = Mapping[str, JsonValue]

FisTarget: TypeAlias = "CreateExperimentTemplateTargetInputTypeDef"
FisAction: TypeAlias = "CreateExperimentTemplateActionInputTypeDef"
FisStopCondition: TypeAlias = "CreateExperimentTemplateStopConditionInputTypeDef"


class FisTemplateBody(TypedDict):
    """An FIS template as CreateExperimentTemplate takes it (``aws fis
    create-experiment-template --cli-input-json``), once ``faults.fis_template`` checked it
    against FIS's model, or a fault generated it. The environment that runs it sets its
    ``roleArn``; each creation gets a token of its own, so one given is dropped."""

    description: str
    roleArn: NotRequired[str]
    stopConditions: Sequence[FisStopCondition]
    actions: Mapping[str, FisAction]
    targets: NotRequired[Mapping[str, FisTarget]]
    tags: NotRequired[Mapping[str, str]]
    logConfiguration: NotRequired[CreateExperimentTemplateLogConfigurationInputTypeDef]
    experimentOptions: NotRequired[CreateExperimentTemplateExperimentOptionsInputTypeDef]
    experimentReportConfiguration: NotRequired[
        CreateExperimentTemplateReportConfigurationInputTypeDef
    ]
    clientToken: NotRequired[str]


@dataclass(frozen=True, kw_only=True)
class Instance:
    """One member of a target: a replica process locally, an EC2 instance on AWS."""

    id: str
    target: str
    address: str
    state: str  # "healthy", "unhealthy", "stopped", "rebooting", "terminated"
    tags: Mapping[str, str] = field(default_factory=dict)


NETWORK_FAULT_KINDS = (
    "latency",
    "bandwidth",
    "blackhole",
    "reset",
    "slow_close",
    "timeout",
    "http_error",
)
DIRECTIONS = ("upstream", "downstream", "both")


@dataclass(frozen=True, kw_only=True)
class NetworkFault:
    """What the network path to some instances does to their traffic (the local proxy's faults).

    ``direction`` is ``"upstream"`` (bytes from clients to the instance), ``"downstream"``
    (bytes back to clients) or ``"both"``. ``toxicity`` is the share of connections it
    applies to (for ``http_error``, of requests). ``delay`` is the latency, the slow-close
    delay, the time before a reset or before a timed-out connection is closed (0: never);
    ``rate`` is bytes per second; ``status`` is the HTTP status answered. Constructing one
    checks every field, so both ends of the control API refuse the same mistakes.
    """

    kind: str
    direction: str = "downstream"
    toxicity: float = 1.0
    delay: float = 0.0
    jitter: float = 0.0
    rate: float = 0.0
    status: int = 0

    def __post_init__(self) -> None:
        if self.kind not in NETWORK_FAULT_KINDS:
            raise ConfigError(
                f"network fault kind {self.kind!r} is unknown; use one of {NETWORK_FAULT_KINDS}."
            )
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"direction={self.direction!r} must be one of {DIRECTIONS} (upstream: requests "
                f"to the instance; downstream: its responses)."
            )
        _require_amount(self.kind, "toxicity", self.toxicity)
        _require_amount(self.kind, "delay", self.delay)
        _require_amount(self.kind, "jitter", self.jitter)
        _require_amount(self.kind, "rate", self.rate)
        if not 0 < self.toxicity <= 1:
            raise ConfigError(
                f"{self.kind}: toxicity={self.toxicity!r} must be above 0 and at most 1 "
                f"(the share of connections it applies to)."
            )
        if self.jitter > self.delay:
            raise ConfigError(
                f"{self.kind}: jitter={self.jitter!r} s exceeds delay={self.delay!r} s; a delay "
                f"cannot go below zero, so keep jitter at most the delay."
            )
        if self.kind == "bandwidth" and self.rate <= 0:
            raise ConfigError(f"bandwidth: rate={self.rate!r} must be above 0 bytes per second.")
        if self.kind == "http_error" and (
            isinstance(self.status, bool)
            or not isinstance(self.status, int)
            or not 400 <= self.status <= 599
        ):
            raise ConfigError(
                f"http_error: status={self.status!r} must be an HTTP error status, 400 to 599."
            )
        if self.kind == "http_error" and self.direction != "upstream":
            raise ConfigError("http_error answers requests, so its direction is 'upstream'.")


def _require_amount(kind: str, field: str, value: object) -> None:
    """A finite number >= 0 (a bool is not one), or ConfigError naming the field."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < float("inf")
    ):
        raise ConfigError(f"{kind}: {field}={value!r} must be a number >= 0.")


# Past this many burners per instance a stress only adds processes: 16 leave it 1/17 of a core.
MAX_CPU_STRESS_WORKERS = 16


def check_workers(workers: object, *, field: str) -> int:
    """``workers`` of a CPU stress, or ConfigError naming ``field``; the one check, used by
    ``StressCpu``, ``LocalTarget.stress_cpu`` and the local system's ``stress_cpu`` op."""
    if (
        isinstance(workers, bool)
        or not isinstance(workers, int)
        or not 1 <= workers <= MAX_CPU_STRESS_WORKERS
    ):
        raise ConfigError(
            f"{name_value(field, workers)}: workers is the number of busy processes sharing "
            f"each instance's core, a whole number from 1 to {MAX_CPU_STRESS_WORKERS}; the "
            f"instance keeps about 1/(workers+1) of the core."
        )
    return workers


@dataclass(frozen=True, kw_only=True)
class CpuStress:
    """How hard a CPU stress starves each instance: ``workers`` busy processes share its core,
    leaving it about 1/(workers+1) of it. Constructing one checks ``workers``."""

    workers: int = 1

    def __post_init__(self) -> None:
        check_workers(self.workers, field="workers")


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """A fault resolved against an environment: which instances, and how to undo it."""

    fault: str  # human description, e.g. "Latency 200ms ±20ms on 1 of web"
    target: str
    instance_ids: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)  # from plan() to inject()
    # How hard the fault hits, 1 (mild) to 3 (severe): weighs the run's resilience score.
    severity: float = 1.0
    # How long the experiment holds it (seconds; None: until reverted). A provider that
    # starts something lasting (an FIS action) bounds it by this, so that it ends by itself.
    hold: float | None = None
    # What a dry-run shows besides the instances, in the provider's terms (an FIS
    # template's actions and the resources its targets resolve to).
    preview: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LoadProgress:
    """How far a load driver's measurements have come (epoch seconds), for the guardrail:
    every second before ``complete_until`` is complete (all of its requests are back), and
    ``reported_at`` is when the quietest load generator last reported anything (a complete
    second or a live one): a generator silent for long is stuck or gone."""

    complete_until: float
    reported_at: float
