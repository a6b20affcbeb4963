"""What an experiment produced: its windows, injections, measurements and verdict.

These are the journal's content; the report renders them and the plugin maps the outcome onto
pytest's. Every class round-trips through plain JSON: the per-second measurements stay
``SecondStats`` in the process and are encoded only when the journal is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chaoskit.errors import RevertFailure
from chaoskit.experiment.written import AsWritten
from chaoskit.slo.instances import InstanceTraffic, decode_instances, encode_instances
from chaoskit.slo.measurement import Measurement
from chaoskit.slo.seconds import SecondStats

# "skipped": never run (a skip marker, a skip in a fixture, an unmet requirement): listed with
# its reason so a reader sees every experiment, never counted in the score.
Outcome = Literal["passed", "failed", "error", "skipped"]
# Why an experiment did not pass; the plugin picks the exception (and so pytest's outcome) by it.
Cause = Literal[
    "",
    "steady_state_broken",
    "nothing_injected",
    "slo_breached",
    "halted",
    "inconclusive",
    "body_raised",
    "setup_failed",
    "revert_failed",
    "interrupted",
    "skipped",
]
InjectionStatus = Literal["reverted", "not injected", "revert failed", "active"]
# The JSON journal's layout (docs/journal.md). Journals without the field are version 1 and
# read as they always have; a change that an older chaoskit could misread raises it.
SCHEMA_VERSION = 4
# JSON as ``json.loads`` returns it: checked field by field where it is read.
JsonObject = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Phase:
    """A window of the experiment: ``baseline``, ``fault 1``, ``recovery``."""

    name: str
    kind: Literal["baseline", "fault", "recovery"]
    start: float
    end: float


@dataclass(frozen=True, kw_only=True)
class InjectionRecord:
    injection_id: str
    fault: str
    target: str
    instance_ids: tuple[str, ...]
    injected_at: float | None
    reverted_at: float | None
    status: InjectionStatus
    error: str = ""
    severity: float = 1.0
    # From the injection to the first second outside the baseline's band (slo.recovery).
    detected_after: float | None = None
    # From the revert to the first run of seconds back inside the band; None: not seen.
    recovered_after: float | None = None
    # What the provider reported of the fault beyond its plan: the time to self-heal
    # (seconds until the target was at healthy capacity again), an FIS experiment's ids,
    # final state and each action's; empty for faults with nothing more to say.
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, kw_only=True)
class Recovery:
    """One fault's effect on users, against the baseline's band (``chaoskit.slo.recovery``):
    the verdict measures it, the injection ledger keeps it in the fault's record."""

    detected_after: float | None  # from the injection; None: no effect seen
    # From the revert; None: not back within the recovery window, or no effect to recover from.
    recovered_after: float | None

    def describe(self) -> str:
        if self.detected_after is None:
            return "no effect seen; nothing to recover from"
        recovered = (
            "not back in the baseline band within the recovery window"
            if self.recovered_after is None
            else f"recovered {self.recovered_after:.1f}s after the revert"
        )
        return f"detected after {self.detected_after:.1f}s, {recovered}"


@dataclass(frozen=True, kw_only=True)
class ExperimentResult:
    name: str
    env: str
    outcome: Outcome
    reason: str
    cause: Cause
    started: float
    finished: float
    objectives: tuple[str, ...]
    phases: tuple[Phase, ...] = ()
    injections: tuple[InjectionRecord, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    seconds: tuple[SecondStats, ...] = ()  # every measured second, for the report
    expected_to_fail: bool = False
    # The test's source, its chaos(...) arguments, the load and the targets (written.py).
    written: AsWritten = field(default_factory=AsWritten)
    # What each instance of the load's target served per second, where its provider counts
    # it (typing.ReportsInstances: the local system's proxy); empty elsewhere.
    instances: tuple[InstanceTraffic, ...] = ()
    # What could not be reverted (cause "revert_failed"). Not written to the JSON: the journal
    # holds each failure as a fault_revert_failed event and in its injection's record.
    revert_failures: tuple[RevertFailure, ...] = field(default=(), compare=False)

    def breaches(self) -> list[Measurement]:
        return [m for m in self.measurements if m.status == "fail"]

    def to_json(self) -> dict[str, object]:
        # Not asdict(self): it would deep-copy every second's histogram.
        return {
            "name": self.name,
            "env": self.env,
            "outcome": self.outcome,
            "reason": self.reason,
            "cause": self.cause,
            "started": self.started,
            "finished": self.finished,
            "objectives": list(self.objectives),
            "phases": [asdict(phase) for phase in self.phases],
            "injections": [asdict(injection) for injection in self.injections],
            "measurements": [asdict(measurement) for measurement in self.measurements],
            "seconds": [second.to_json() for second in self.seconds],
            "expected_to_fail": self.expected_to_fail,
            **({"as_written": self.written.to_json()} if self.written else {}),
            **({"instances": encode_instances(self.instances)} if self.instances else {}),
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> ExperimentResult:
        fields = {
            key: value for key, value in data.items() if key not in ("as_written", "instances")
        }
        return cls(
            **{
                **fields,
                "objectives": tuple(data["objectives"]),
                "phases": tuple(Phase(**p) for p in data["phases"]),
                "injections": tuple(
                    InjectionRecord(**{**i, "instance_ids": tuple(i["instance_ids"])})
                    for i in data["injections"]
                ),
                "measurements": tuple(Measurement(**m) for m in data["measurements"]),
                "seconds": tuple(SecondStats.from_json(s) for s in data["seconds"]),
                "written": AsWritten.from_json(data.get("as_written") or {}),
                "instances": decode_instances(data.get("instances", [])),
            }
        )


@dataclass(frozen=True, kw_only=True)
class Journal:
    """One run: every experiment it ran, in order."""

    run_id: str
    env: str
    started: float
    finished: float
    seed: int
    experiments: tuple[ExperimentResult, ...] = field(default_factory=tuple)
    resilience_score: float | None = None  # see chaoskit.experiment.score
    merged_from: tuple[str, ...] = ()  # a game day's report: the runs merged into it

    def to_json(self) -> dict[str, object]:
        merged = {"merged_from": list(self.merged_from)} if self.merged_from else {}
        return {
            "chaoskit_journal": 1,  # marks the file as a run's journal, whatever its version
            "schema_version": SCHEMA_VERSION,
            "resilience_score": self.resilience_score,
            "run_id": self.run_id,
            "env": self.env,
            "started": self.started,
            "finished": self.finished,
            "seed": self.seed,
            "experiments": [e.to_json() for e in self.experiments],
            **merged,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> Journal:
        return cls(
            run_id=data["run_id"],
            env=data["env"],
            started=data["started"],
            finished=data["finished"],
            seed=data["seed"],
            experiments=tuple(ExperimentResult.from_json(e) for e in data["experiments"]),
            resilience_score=data.get("resilience_score"),
            merged_from=tuple(data.get("merged_from", ())),
        )
