"""The protocols the layers meet at. Providers, load drivers and faults implement them;
``chaoskit.testing`` ships fakes of each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from chaoskit.errors import ConfigError

if TYPE_CHECKING:
    import random

    from chaoskit.slo.seconds import SecondStats


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""

    def sleep(self, seconds: float) -> None: ...


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
        for name in ("toxicity", "delay", "jitter", "rate"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= value < float("inf"))
            ):
                raise ConfigError(f"{self.kind}: {name}={value!r} must be a number >= 0.")
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


class Target(Protocol):
    """What an environment exposes per target name; faults act through it."""

    name: str

    @property
    def url(self) -> str | None:
        """Where load for this target goes, if it takes load."""

    def instances(self) -> list[Instance]:
        """The live (not terminated) instances, in a stable order."""

    def terminate(self, instance_ids: Sequence[str]) -> None: ...

    def add_network_fault(self, instance_ids: Sequence[str], fault: NetworkFault) -> str:
        """Apply ``fault`` to the traffic of the given instances; returns a handle for
        ``remove_fault``."""

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        """Stop the given instances (they keep their identity and answer nothing) until
        ``remove_fault`` of the returned handle starts them again."""

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        """Reboot the given instances in place; returns before they are back (see
        ``wait_healthy``)."""

    def stress_cpu(self, instance_ids: Sequence[str], *, workers: int = 1) -> str:
        """Starve the given instances of CPU until ``remove_fault`` of the returned handle."""

    def remove_fault(self, handle: str) -> None:
        """Undo ``add_network_fault``, ``stop_instances`` or ``stress_cpu`` (idempotent: an unknown
        or removed handle is not an error)."""

    def active_faults(self) -> list[str]:
        """Handles of the faults active on this target right now."""

    def wait_healthy(self, timeout: float) -> None:
        """Block until the target is back at its healthy capacity, or raise ProviderError."""


class Environment(Protocol):
    """A named mapping of target names to real things (the local system, an AWS account)."""

    name: str

    def target(self, name: str) -> Target:
        """The target called ``name``; ConfigError listing the known names otherwise."""

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """A fault resolved against an environment: which instances, and how to undo it."""

    fault: str  # human description, e.g. "Latency 200ms ±20ms on 1 of web"
    target: str
    instance_ids: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)
    # How hard the fault hits, 1 (mild) to 3 (severe): weighs the run's resilience score.
    severity: float = 1.0


class Injection(Protocol):
    """A fault that is active. ``revert`` is idempotent."""

    plan: FaultPlan

    @property
    def undo(self) -> Mapping[str, Any]:
        """How to undo it without this object (written to the journal before injecting)."""

    def revert(self) -> None: ...


@runtime_checkable
class Fault(Protocol):
    def describe(self) -> str: ...

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        """Resolve targets with read-only calls; refuse what is out of bounds (ConfigError)."""

    def inject(self, plan: FaultPlan, env: Environment) -> Injection:
        """Make the fault active, or raise InjectionError."""


class LoadDriver(Protocol):
    """Generates load from separate processes and hands back per-second measurements."""

    def start(self) -> None:
        """Begin sending load; returns once the users are spawned."""

    def stop(self) -> None:
        """Stop sending load; requests in flight are still recorded."""

    def collect(self, start: float, end: float) -> list[SecondStats]:
        """The seconds in ``[start, end)`` once every worker has reported past ``end``.

        Blocks up to a deadline and raises LoadError if the data does not arrive.
        """

    def peek(self, start: float, end: float) -> list[SecondStats]:
        """The seconds in ``[start, end)`` as far as they have arrived, without waiting.

        Requests still in flight are missing; a second nothing arrived for is an empty one.
        """

    def close(self) -> None: ...
