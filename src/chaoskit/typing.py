"""The protocols the layers meet at. Providers, load drivers and faults implement them;
``chaoskit.testing`` ships fakes of each. The values they exchange are in
``chaoskit.vocabulary``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from chaoskit.vocabulary import FaultPlan, Instance, LoadProgress, NetworkFault

if TYPE_CHECKING:
    import random

    from chaoskit.slo.instances import InstanceTraffic
    from chaoskit.slo.measurement import Objective
    from chaoskit.slo.seconds import SecondStats
    from chaoskit.vocabulary import FisTemplateBody, JsonObject


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""

    def sleep(self, seconds: float) -> None: ...


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

    def wait_healthy(self, timeout: float) -> float | None:
        """Block until the target is back at its healthy capacity, or raise ProviderError.

        Returns the time to self-heal in seconds (from the first loss of capacity not yet
        made good to healthy again) where the provider measures it, else None.
        """


@runtime_checkable
class DelaysToSources(Protocol):
    """A target that can limit a latency to the traffic with some sources (addresses, CIDR
    blocks, domains, zones, ``DYNAMODB``, ``S3``): on AWS, SSM's
    AWSFIS-Run-Network-Latency-Sources document through FIS."""

    def add_latency_to_sources(
        self, instance_ids: Sequence[str], fault: NetworkFault, sources: Sequence[str]
    ) -> str:
        """Apply the latency ``fault`` to the instances' traffic with ``sources`` only;
        returns the handle for ``remove_fault``."""


@runtime_checkable
class ChecksFaults(Protocol):
    """A target that refuses some faults at plan time, before any write: ones it cannot do
    (a proxy-only fault on an AWS target) and ones beyond its blast radius. Faults ask it
    when the target has it."""

    def check_fault(self, *, fault: str, action: str, instance_ids: Sequence[str], of: int) -> None:
        """ConfigError when ``fault`` (a fault class name, acting through the Target method
        ``action``) may not hit ``instance_ids`` out of the ``of`` live instances."""


class FaultRecord(Protocol):
    """What a provider started for one fault, as the injection journals it: how to undo it
    without the target (merged into the injection's undo) and what to report of it."""

    @property
    def undo(self) -> JsonObject: ...

    @property
    def details(self) -> JsonObject: ...


@runtime_checkable
class RecordsFaults(Protocol):
    """A target whose faults are things of their own at the provider (an AWS FIS experiment
    per fault). Faults call its Target methods inside ``recording(plan)``: the target learns
    the plan (how long the fault is held, so that what it starts ends by itself), and the
    record it yields holds, afterwards, what it started (empty when nothing)."""

    def recording(self, plan: FaultPlan) -> AbstractContextManager[FaultRecord]: ...


class Environment(Protocol):
    """A named mapping of target names to real things (the local system, an AWS account)."""

    name: str

    def target(self, name: str) -> Target:
        """The target called ``name``; ConfigError listing the known names otherwise."""

    def close(self) -> None: ...


@runtime_checkable
class ReportsInstances(Protocol):
    """A target that can say what each of its instances served, second by second (the local
    system, whose proxy sees every request). An AWS target cannot without its load
    balancer's logs, and does not implement it; the report then says nothing per instance."""

    def instance_traffic(self, since: float, until: float) -> Sequence[InstanceTraffic]:
        """Each instance that took traffic at some time in ``[since, until]`` (epoch seconds),
        with its seconds in it; ProviderError when they cannot be read."""


@runtime_checkable
class RecordsSettings(Protocol):
    """An environment whose settings the journal's ``run_started`` records, so that
    ``chaoskit recover`` can reconnect to it (region, endpoint, the account checked, ...;
    never credentials)."""

    @property
    def settings(self) -> Mapping[str, object]: ...


class Injection(Protocol):
    """A fault that is active. ``revert`` is idempotent."""

    plan: FaultPlan

    @property
    def undo(self) -> JsonObject:
        """How to undo it without this object (written to the journal before injecting)."""

    def revert(self) -> None: ...


@runtime_checkable
class ReportsDetails(Protocol):
    """An injection that knows more than its plan once reverted (the time to self-heal, ...):
    the injection's record in the journal carries it as ``details``."""

    @property
    def details(self) -> Mapping[str, object]: ...


@runtime_checkable
class Halting(Protocol):
    """An injection that can be ended by something other than chaoskit (an FIS stop
    condition): ``halt_reason`` looks now and says why it ended, or None."""

    def halt_reason(self) -> str | None: ...


@runtime_checkable
class Guarded(Protocol):
    """An injection with stop conditions of its own, judged on the load second by second by
    the guardrail (a rehearsed FIS template's alarms, mapped onto objectives)."""

    @property
    def stop_objectives(self) -> Mapping[str, Objective]:
        """Stop condition name (an alarm's) -> the objective that stands for it."""

    def stop(self, reason: str) -> None:
        """The hold was halted (by one of its stop conditions, or the guardrail): end as a
        stopped experiment would, ``reason`` in its state. Reverting still follows."""


@runtime_checkable
class Fault(Protocol):
    def describe(self) -> str: ...

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        """Resolve targets with read-only calls; refuse what is out of bounds (ConfigError)."""

    def inject(self, plan: FaultPlan, env: Environment) -> Injection:
        """Make the fault active, or raise InjectionError."""


class FisRun(Protocol):
    """An AWS FIS experiment chaoskit started and has not yet cleaned up after."""

    @property
    def undo(self) -> JsonObject:
        """How to stop it without this object: experiment, template and run id (journaled)."""

    @property
    def details(self) -> JsonObject:
        """For the journal: experiment id, template id, the last state seen, each action's."""

    def halt_reason(self) -> str | None:
        """Looks at the experiment now: why FIS failed it, or why a stop condition (or
        someone outside chaoskit) ended it; None while it runs, once it completed, or after
        chaoskit stopped it. After the revert, what the revert found (no call)."""

    def revert(self) -> None:
        """Stop it unless it has ended, wait until it has, delete the templates chaoskit
        created for it. Idempotent; RevertError naming the experiment when it fails."""


@runtime_checkable
class RunsFis(Protocol):
    """An environment that can run AWS FIS experiments (``provider = "aws"``)."""

    name: str

    def fis_template(self, template_id: str) -> FisTemplateBody:
        """The existing template ``template_id`` as CreateExperimentTemplate input (a
        read-only GetExperimentTemplate); ConfigError when there is none."""

    def run_fis(self, template: FisTemplateBody, *, timeout: float) -> FisRun:
        """Create ``template`` (CreateExperimentTemplate input) with the environment's role,
        stop alarms and run id tag, start it and wait up to ``timeout`` seconds until it runs.

        InjectionError with FIS's reason when it fails; Halted when a stop condition ends it.
        """


@runtime_checkable
class RehearsesFis(Environment, Protocol):
    """An environment on which AWS FIS templates are rehearsed instead of run (the local
    system): its targets' instances stand for the template's resources, and chaoskit runs
    the template's actions on them itself."""

    def target_names(self) -> tuple[str, ...]:
        """Every target's name, in a stable order: where template targets are looked for."""


@runtime_checkable
class PlansFis(Protocol):
    """An environment that checks FIS faults when they are planned, with read-only calls."""

    def check_fis(self, fault: str) -> None:
        """ConfigError, naming ``fault`` and the setting, when the environment cannot run
        FIS experiments as configured (no role for FIS, a stop alarm that does not exist)."""

    def fis_targets(self, template: FisTemplateBody) -> Mapping[str, tuple[str, ...]]:
        """Each target of ``template`` resolved to what it would hit now, read-only: its
        ARNs, or the resources its tags and filters select (FIS then applies the selection
        mode among them); empty for a target that cannot be resolved without FIS."""

    def check_fis_reach(self, fault: str, template: FisTemplateBody) -> None:
        """ConfigError, naming ``fault``, the template target, the limit and where it is
        set, when ``template`` could act outside the environment's account or region, on
        resources outside its targets, or beyond a target's blast radius (read-only)."""


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

        A second not complete yet counts with what of it has come back, its requests still
        outstanding in ``in_flight`` (at least ``in_flight_age_us`` old); a second nothing
        arrived for is an empty one.
        """

    def progress(self) -> LoadProgress:
        """Which seconds are complete, and when the load generators last reported."""

    def close(self) -> None: ...


@runtime_checkable
class ReportsBroken(Protocol):
    """A load driver that can tell its processes died (a killed worker), so that the run
    replaces it rather than failing every later experiment with it."""

    def broken(self) -> str:
        """Why the driver can no longer send load; "" while it can."""
