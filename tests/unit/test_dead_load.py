"""A load worker killed mid-experiment: the experiment is recorded for that, and the next
experiment of the run gets load processes of its own."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chaoskit import faults, load, slo
from chaoskit.errors import LoadError
from chaoskit.experiment import Experiment, ExperimentSettings, JournalWriter
from chaoskit.experiment.run import Run
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver

DIED = "load worker process 4242 exited with code -9."
SETTINGS = ExperimentSettings(
    name="exp", objectives=(slo.error_rate(below="1%"),), baseline=5.0, recovery=5.0
)


class DyingLoad(FakeLoadDriver):
    """Measures until its worker is killed; then every call that needs the worker fails."""

    def __init__(self) -> None:
        super().__init__()
        self.dead = False
        self.closed = False

    def kill_worker(self) -> None:
        self.dead = True

    def broken(self) -> str:
        return DIED if self.dead else ""

    def collect(self, start: float, end: float):  # type: ignore[no-untyped-def]
        if self.dead:
            raise LoadError(DIED)
        return super().collect(start, end)

    def start(self) -> None:
        if self.dead:
            raise LoadError(DIED)
        super().start()

    def stop(self) -> None:
        if self.dead:
            raise LoadError(DIED)
        super().stop()

    def close(self) -> None:
        self.closed = True


def test_a_worker_killed_during_the_hold_is_the_recorded_cause(tmp_path: Path) -> None:
    dying = DyingLoad()
    journal = JournalWriter(tmp_path / "run.jsonl")
    experiment = Experiment(
        settings=SETTINGS,
        env=FakeEnvironment(),
        load=dying,
        journal=journal,
        clock=FakeClock(),
        rng=random.Random(1),
    )
    experiment.start()
    experiment.inject(faults.Latency(target="web", delay="10ms"), hold="6s")
    dying.kill_worker()
    with pytest.raises(LoadError) as raised:
        experiment.finish()
    # What the plugin does with it: the result names the dead worker, not "pytest ended...".
    result = experiment.abort(raised.value, during="setup")
    assert result.outcome == "error"
    assert result.cause == "setup_failed"
    assert DIED in result.reason
    assert experiment.result == result
    assert experiment.env.target("web").faults == {}


def test_a_run_replaces_a_load_driver_whose_worker_died(tmp_path: Path) -> None:
    made: list[DyingLoad] = []

    def make_load(spec: load.Locust, url: str) -> DyingLoad:
        made.append(DyingLoad())
        return made[-1]

    run = Run(
        env_name="local",
        env_factory=lambda run_id: FakeEnvironment(name="local"),
        load_factory=make_load,
        journal_dir=tmp_path,
        clock=FakeClock(),
    )
    (tmp_path / "locustfile.py").write_text("")
    spec = load.Locust(str(tmp_path / "locustfile.py"), users=1)
    first = run.load_driver(spec)
    assert run.load_driver(spec) is first  # kept for the whole run while it works
    made[0].kill_worker()
    second = run.load_driver(spec)
    assert second is not first
    assert made[0].closed
    second.start()  # the next experiment's load starts
    run.close()
