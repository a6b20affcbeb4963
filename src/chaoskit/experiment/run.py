"""A run: the experiments of one session sharing an environment, load processes and a journal.

A run is made on first use (the plugin makes it for the first experiment). It opens its
environment first, so that the journal's ``run_started`` records how to reach it again (an AWS
account's region and the account checked) and a refused environment leaves no journal behind.
The load generators start on first use; all of it stays up for the whole run (starting it per
experiment would cost seconds each), and ``close`` stops it all.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from chaoskit.clock import SystemClock
from chaoskit.errors import ConfigError
from chaoskit.experiment.dry_run import DryRun
from chaoskit.experiment.events import RunFinished, RunStarted
from chaoskit.experiment.journal import JournalWriter
from chaoskit.experiment.lifecycle import Experiment, ExperimentSettings
from chaoskit.experiment.protocol import Notify
from chaoskit.experiment.read_only import ReadOnlyEnvironment
from chaoskit.experiment.result import ExperimentResult, Journal
from chaoskit.experiment.score import resilience_score
from chaoskit.load import Locust
from chaoskit.redaction import DEFAULT_REDACTOR, Redactor
from chaoskit.typing import Clock, Environment, LoadDriver, RecordsSettings

LoadFactory = Callable[[Locust, str], LoadDriver]


def locust_driver(spec: Locust, url: str) -> LoadDriver:
    from chaoskit.load.driver import LocustDriver

    return LocustDriver(spec, host=url)


def new_run_id(started: float) -> str:
    """A run's id: when it started (sortable, so the newest journal sorts last), and a
    random suffix for runs started in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    return f"{stamp}-{secrets.token_hex(3)}"


class Run:
    def __init__(
        self,
        *,
        env_name: str,
        provider: str = "",
        env_factory: Callable[[str], Environment],  # given the run id
        journal_dir: Path,
        seed: int | None = None,
        load_factory: LoadFactory = locust_driver,
        clock: Clock | None = None,
        redactor: Redactor = DEFAULT_REDACTOR,
        read_only: bool = False,
        run_id: str | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.env_name = env_name
        self.started = self.clock.now()
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        self.run_id = run_id or new_run_id(self.started)
        opened = env_factory(self.run_id)
        # A dry run's environment refuses every change, the test body's own calls included.
        self._env: Environment = ReadOnlyEnvironment(opened) if read_only else opened
        try:
            self.journal = JournalWriter(journal_dir / f"{self.run_id}.jsonl", redactor=redactor)
        except BaseException:
            self._env.close()
            raise
        self.journal.append(
            RunStarted(
                run_id=self.run_id,
                env=env_name,
                provider=provider,
                seed=self.seed,
                at=self.started,
                pid=os.getpid(),
                settings=opened.settings if isinstance(opened, RecordsSettings) else {},
            )
        )
        self.results: list[ExperimentResult] = []
        self._load_factory = load_factory
        self._drivers: dict[tuple[Locust, str], LoadDriver] = {}

    @property
    def environment(self) -> Environment:
        return self._env

    def load_driver(self, spec: Locust) -> LoadDriver:
        target = self.environment.target(spec.target)
        if not target.url:
            raise ConfigError(
                f"load.Locust(target={spec.target!r}): target {spec.target!r} has no url to "
                f"send load to; set url in its environment settings."
            )
        key = (spec, target.url)
        if key not in self._drivers:
            self._drivers[key] = self._load_factory(spec, target.url)
        return self._drivers[key]

    def experiment(self, settings: ExperimentSettings, load: Locust, notify: Notify) -> Experiment:
        return Experiment(
            settings=settings,
            env=self.environment,
            load=self.load_driver(load),
            journal=self.journal,
            clock=self.clock,
            rng=self.rng_for(settings),
            notify=notify,
        )

    def dry_run(self, settings: ExperimentSettings, notify: Notify) -> DryRun:
        """What ``experiment`` plans, printed instead of run (``--chaos-dry-run``)."""
        return DryRun(
            settings=settings, env=self.environment, rng=self.rng_for(settings), notify=notify
        )

    def rng_for(self, settings: ExperimentSettings) -> random.Random:
        # Each experiment draws its victims from its own stream, so adding or reordering
        # experiments does not change which instances another one hits for a given seed.
        return random.Random(f"{self.seed}:{settings.name}")

    def record(self, result: ExperimentResult) -> None:
        self.results.append(result)

    def record_unrun(self, result: ExperimentResult) -> None:
        """An experiment that never began (``chaoskit.experiment.unrun``): journaled as its
        lifecycle would have, so the run's log lists it too."""
        self.results.append(self.journal.finished(result))

    def close(self) -> Journal:
        """Stop load processes and the environment; return the run's journal."""
        try:
            for driver in self._drivers.values():
                driver.close()
        finally:
            self._env.close()
        finished = self.clock.now()
        self.journal.append(RunFinished(at=finished))
        self.journal.close()
        return Journal(
            run_id=self.run_id,
            env=self.env_name,
            started=self.started,
            finished=finished,
            seed=self.seed,
            experiments=tuple(self.results),
            resilience_score=resilience_score(self.results),
        )
