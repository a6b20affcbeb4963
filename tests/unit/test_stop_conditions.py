"""A fault that something other than chaoskit can end (an FIS experiment and its stop alarm):
the hold watches it, a stop ends the hold and halts the experiment, and what the provider
reported of the fault reaches the journal."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaoskit import slo
from chaoskit.errors import Halted, InjectionError
from chaoskit.experiment import Experiment, ExperimentSettings, JournalWriter
from chaoskit.experiment.guardrail import STOP_CONDITION_POLL
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver
from chaoskit.typing import Environment
from chaoskit.vocabulary import FaultPlan


@dataclass(kw_only=True)
class StoppableFault:
    """Ends by itself (as an FIS stop alarm would end it) once ``stops_at`` is reached."""

    clock: FakeClock
    stops_at: float | None = None
    halted_at_start: bool = False
    looks: list[float] = field(default_factory=list)
    reverted: int = 0

    def describe(self) -> str:
        return "StoppableFault on web"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        first = env.target("web").instances()[0]
        return FaultPlan(fault=self.describe(), target="web", instance_ids=(first.id,))

    def inject(self, plan: FaultPlan, env: Environment) -> StoppableInjection:
        if self.halted_at_start:
            raise Halted("alarm web-5xx went into ALARM before the experiment ran")
        return StoppableInjection(plan=plan, fault=self)


@dataclass(kw_only=True)
class StoppableInjection:
    plan: FaultPlan
    fault: StoppableFault

    @property
    def undo(self) -> Mapping[str, object]:
        return {"op": "stop_fis_experiment", "experiment_id": "EXP1"}

    @property
    def details(self) -> Mapping[str, object]:
        state = "stopped" if self._stopped() else "running"
        return {"experiment_id": "EXP1", "state": state, "actions": {"slow": state}}

    def halt_reason(self) -> str | None:
        self.fault.looks.append(self.fault.clock.now())
        return "stop condition web-5xx went into ALARM" if self._stopped() else None

    def revert(self) -> None:
        self.fault.reverted += 1

    def _stopped(self) -> bool:
        stops_at = self.fault.stops_at
        return stops_at is not None and self.fault.clock.now() >= stops_at


def experiment(tmp_path: Path, clock: FakeClock) -> Experiment:
    return Experiment(
        settings=ExperimentSettings(
            name="fis",
            objectives=(slo.parse("errors<1%"),),
            baseline=8.0,
            recovery=6.0,
        ),
        env=FakeEnvironment(),
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(1),
    )


def test_a_stop_condition_ends_the_hold_and_halts_the_experiment(tmp_path: Path) -> None:
    clock = FakeClock()
    fault = StoppableFault(clock=clock)
    run = experiment(tmp_path, clock)
    second = StoppableFault(clock=clock)

    def body(chaos: Experiment) -> None:
        fault.stops_at = clock.now() + 5
        chaos.inject(fault, hold="60s")
        chaos.inject(second, hold="5s")

    result = run.run(body)
    assert result.outcome == "failed" and result.cause == "halted"
    assert result.reason.startswith("halted: stop condition web-5xx went into ALARM")
    # Looked at every few seconds, and the hold ended at the first look after the stop.
    assert len(fault.looks) == 3 and fault.looks[1] - fault.looks[0] == pytest.approx(
        STOP_CONDITION_POLL
    )
    [phase] = [p for p in result.phases if p.kind == "fault"]
    assert phase.end - phase.start < 5 + STOP_CONDITION_POLL + 1
    assert fault.reverted == 1
    # Nothing more is injected into a halted experiment.
    assert second.looks == [] and second.reverted == 0
    # What the provider reported is in the result and in the JSON journal beside it.
    assert result.injections[0].details == {
        "experiment_id": "EXP1",
        "state": "stopped",
        "actions": {"slow": "stopped"},
    }
    assert json.loads(json.dumps(result.to_json()))["injections"][0]["details"]["state"] == (
        "stopped"
    )


def test_a_fault_nothing_stops_holds_its_full_length(tmp_path: Path) -> None:
    clock = FakeClock()
    fault = StoppableFault(clock=clock)
    result = experiment(tmp_path, clock).run(lambda chaos: chaos.inject(fault, hold="10s"))
    assert result.outcome == "passed", result.reason
    [phase] = [p for p in result.phases if p.kind == "fault"]
    assert phase.end - phase.start == pytest.approx(10)
    # Every 2 s of the hold, and once after the revert (did it end on its own before?).
    assert 5 <= len(fault.looks) <= 6
    assert result.injections[0].details["state"] == "running"


def test_a_fault_halted_as_it_starts_halts_the_experiment(tmp_path: Path) -> None:
    clock = FakeClock()
    fault = StoppableFault(clock=clock, halted_at_start=True)
    result = experiment(tmp_path, clock).run(lambda chaos: chaos.inject(fault, hold="10s"))
    assert result.outcome == "failed" and result.cause == "halted"
    assert result.reason == ("halted: alarm web-5xx went into ALARM before the experiment ran")
    assert issubclass(Halted, InjectionError)
