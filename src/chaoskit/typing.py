"""The protocols the layers meet at. Providers, load drivers and faults implement them;
``chaoskit.testing`` ships fakes of each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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
    state: str  # "healthy", "unhealthy", "stopped", "terminated"
    tags: Mapping[str, str] = field(default_factory=dict)


class Target(Protocol):
    """What an environment exposes per target name; faults act through it."""

    name: str

    @property
    def url(self) -> str | None:
        """Where load for this target goes, if it takes load."""

    def instances(self) -> list[Instance]:
        """The live (not terminated) instances, in a stable order."""

    def terminate(self, instance_ids: Sequence[str]) -> None: ...

    def add_latency(self, instance_ids: Sequence[str], *, delay: float, jitter: float) -> str:
        """Delay every response of the given instances; returns a handle for ``remove_fault``."""

    def remove_fault(self, handle: str) -> None:
        """Undo ``add_latency`` (idempotent: an unknown or removed handle is not an error)."""

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
