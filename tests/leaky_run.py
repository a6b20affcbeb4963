"""A run whose every kind of text carries a credential: the test id, an objective's name, a
``slo.custom`` value, failure reasons, a fault's error, and a pattern of one's own. The tests of
the journal, the report and the report in Chromium check that none of them comes out."""

from __future__ import annotations

import random
from pathlib import Path

from chaoskit import slo
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.redaction import Redactor
from chaoskit.report import write_reports
from chaoskit.slo.seconds import SecondStats
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver, Traffic

URL_PASSWORD = "hunter2secret"
SECRETS = {
    "test id": URL_PASSWORD,
    "objective name": "ghp_" + "A1b2C3d4" * 5,
    "custom value": "sk_live_" + "9z8y7x6w5v" * 2,
    "failure reason": "AKIAIOSFODNN7EXAMPLE",
    "fault error": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw",
    "configured": "INTERNAL-4711",
}


class _LeakyLoad(FakeLoadDriver):
    """Every failure's reason quotes a credential, as an exception message may."""

    def collect(self, start: float, end: float) -> list[SecondStats]:
        seconds = super().collect(start, end)
        for stats in seconds:
            count = sum(stats.failed.values())
            stats.failed = {f"denied for key {SECRETS['failure reason']}": count} if count else {}
        return seconds


class _LeakyFault(FakeFault):
    def describe(self) -> str:
        return f"FakeFault via {{'aws_secret_access_key': '{SECRETS['fault error']}'}}"


def run_with_secrets(directory: Path) -> tuple[Journal, Path, list[Path]]:
    redactor = Redactor(extra=("INTERNAL-[0-9]+",))
    journal_path = directory / "journals" / "run.jsonl"
    leaky_check = slo.custom(
        f"token={SECRETS['objective name']} holds",
        lambda window: (True, f"client_secret={SECRETS['custom value']}"),
    )
    experiment = Experiment(
        settings=ExperimentSettings(
            name=f"test_login[https://admin:{URL_PASSWORD}@shop/ {SECRETS['configured']}]",
            objectives=(leaky_check, slo.error_rate(below="50%")),
            baseline=5.0,
            recovery=5.0,
        ),
        env=FakeEnvironment(),
        load=_LeakyLoad(lambda second: Traffic(error_ratio=0.01)),
        journal=JournalWriter(journal_path, redactor=redactor),
        clock=FakeClock(),
        rng=random.Random(1),
    )
    result = experiment.run(lambda chaos: chaos.inject(_LeakyFault(fail_revert=True), hold="6s"))
    assert result.outcome == "error"  # the revert failed, with the fault's text in it
    journal = Journal(
        run_id="20261126-120000-abcdef",
        env="fake",
        started=result.started,
        finished=result.finished,
        seed=1,
        experiments=(result,),
    )
    return journal, journal_path, write_reports(journal, directory, redactor=redactor)


def leaked(text: str) -> list[str]:
    return [where for where, secret in SECRETS.items() if secret in text]
