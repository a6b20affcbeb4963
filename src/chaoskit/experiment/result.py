"""What an experiment produced: its windows, injections, measurements and verdict.

These are the journal's content; the report renders them and the plugin maps the outcome onto
pytest's. Every class round-trips through plain JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chaoskit.slo.objectives import Measurement

Outcome = Literal["passed", "failed", "error"]
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
]


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
    status: Literal["reverted", "not injected", "revert failed", "active"]
    error: str = ""
    severity: float = 1.0
    # From the injection to the first second outside the baseline's band (slo.recovery).
    detected_after: float | None = None
    # From the revert to the first run of seconds back inside the band; None: not seen.
    recovered_after: float | None = None


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
    seconds: tuple[dict[str, Any], ...] = ()  # SecondStats.to_json() of every measured second
    expected_to_fail: bool = False

    def breaches(self) -> list[Measurement]:
        return [m for m in self.measurements if m.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExperimentResult:
        return cls(
            **{
                **data,
                "objectives": tuple(data["objectives"]),
                "phases": tuple(Phase(**p) for p in data["phases"]),
                "injections": tuple(
                    InjectionRecord(**{**i, "instance_ids": tuple(i["instance_ids"])})
                    for i in data["injections"]
                ),
                "measurements": tuple(Measurement(**m) for m in data["measurements"]),
                "seconds": tuple(data["seconds"]),
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

    def to_json(self) -> dict[str, Any]:
        return {
            "chaoskit_journal": 1,
            "resilience_score": self.resilience_score,
            "run_id": self.run_id,
            "env": self.env,
            "started": self.started,
            "finished": self.finished,
            "seed": self.seed,
            "experiments": [e.to_json() for e in self.experiments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Journal:
        return cls(
            run_id=data["run_id"],
            env=data["env"],
            started=data["started"],
            finished=data["finished"],
            seed=data["seed"],
            experiments=tuple(ExperimentResult.from_json(e) for e in data["experiments"]),
            resilience_score=data.get("resilience_score"),
        )
