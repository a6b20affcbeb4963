"""A run: the experiments of one session sharing an environment, load processes and a journal.

A run is made on first use (the plugin makes it for the first experiment). It opens its
environment first, so that the journal's ``run_started`` records how to reach it again (an AWS
account's region and the account checked) and a refused environment leaves no journal behind.
The load generators start on first use; all of it stays up for the whole run (starting it per
experiment would cost seconds each), and ``close`` stops it all.

An environment that does not start is remembered for the run: every experiment is recorded as
not set up, at once, instead of waiting for the same start-up to fail again. A load driver
whose processes died (a killed worker) is replaced for the next experiment.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from chaoskit.clock import SystemClock
from chaoskit.errors import ChaoskitError, ConfigError, EnvironmentRefused, ProviderError
from chaoskit.experiment.dry_run import DryRun
from chaoskit.experiment.events import ExperimentStarted, RunFinished, RunStarted
from chaoskit.experiment.journal import JournalWriter
from chaoskit.experiment.lifecycle import Experiment, ExperimentSettings
from chaoskit.experiment.protocol import Notify
from chaoskit.experiment.read_only import ReadOnlyEnvironment
from chaoskit.experiment.registry import register, unregister
from chaoskit.experiment.result import ExperimentResult, Journal
from chaoskit.experiment.score import resilience_score
from chaoskit.experiment.unrun import unrun_result
from chaoskit.load import Locust
from chaoskit.redaction import DEFAULT_REDACTOR, Redactor
from chaoskit.typing import Clock, Environment, LoadDriver, RecordsSettings, ReportsBroken

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
        self._env: Environment | None = None
        # Why the environment did not start: said again by every experiment of the run.
        self._env_error: str = ""
        opened: Environment | None = None
        try:
            opened = env_factory(self.run_id)
        except EnvironmentRefused:
            raise  # a safety check: nothing was touched, and the run stops here
        except Exception as error:
            self._env_error = (
                str(error)
                if isinstance(error, ChaoskitError)
                else f"{type(error).__name__}: {error}"
            )
        if opened is not None:
            # A dry run's environment refuses every change, the test body's own calls included.
            self._env = ReadOnlyEnvironment(opened) if read_only else opened
        try:
            self.journal = JournalWriter(journal_dir / f"{self.run_id}.jsonl", redactor=redactor)
        except BaseException:
            if self._env is not None:
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
        # Listed for chaoskit stop and recover wherever the report folder is; why not, if not.
        self.unlisted = "" if read_only else register(self.run_id, self.journal.path)
        self.results: list[ExperimentResult] = []
        self._load_factory = load_factory
        self._drivers: dict[tuple[Locust, str], LoadDriver] = {}

    @property
    def has_environment(self) -> bool:
        """Whether the environment started (``environment`` raises when it did not)."""
        return self._env is not None

    @property
    def environment(self) -> Environment:
        if self._env is None:
            raise ProviderError(
                f"environment {self.env_name!r} did not start: {self._env_error} (it is not "
                f"started again in this run; fix it and run again)"
            )
        return self._env

    def load_driver(self, spec: Locust) -> LoadDriver:
        target = self.environment.target(spec.target)
        if not target.url:
            raise ConfigError(
                f"load.Locust(target={spec.target!r}): target {spec.target!r} has no url to "
                f"send load to; set url in its environment settings."
            )
        key = (spec, target.url)
        driver = self._drivers.get(key)
        if isinstance(driver, ReportsBroken) and driver.broken():
            # A killed worker: the next experiment gets load processes of its own.
            del self._drivers[key]
            driver.close()
            driver = None
        if driver is None:
            driver = self._drivers[key] = self._load_factory(spec, target.url)
        return driver

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

    def setup_failed(self, settings: ExperimentSettings, error: BaseException) -> ExperimentResult:
        """Record an experiment that could not be set up (its environment, its load) as an
        error of the run, with the reason; nothing of it ran."""
        now = self.clock.now()
        self.journal.append(ExperimentStarted(name=settings.name, env=self.env_name, at=now))
        unrun = unrun_result(settings, env=self.env_name, why="setup_failed", reason="", at=now)
        result = self.journal.finished(
            replace(
                unrun,
                reason=f"the experiment could not be set up: {type(error).__name__}: {error}",
            )
        )
        self.record(result)
        return result

    def close(self) -> Journal:
        """Stop load processes and the environment; return the run's journal."""
        try:
            for driver in self._drivers.values():
                driver.close()
        finally:
            if self._env is not None:
                self._env.close()
        finished = self.clock.now()
        self.journal.append(RunFinished(at=finished))
        self.journal.close()
        unregister(self.run_id)
        return Journal(
            run_id=self.run_id,
            env=self.env_name,
            started=self.started,
            finished=finished,
            seed=self.seed,
            experiments=tuple(self.results),
            resilience_score=resilience_score(self.results),
        )
