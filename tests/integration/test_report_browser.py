"""The HTML report as a reader sees it: rendered by a real headless Chromium, offline."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest
from tests.leaky_run import leaked, run_with_secrets

from chaoskit import faults, slo
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.report import write_reports
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver, Traffic

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def _journal(tmp_path: Path) -> Journal:
    clock = FakeClock()
    # The second experiment starts after the first (16 s), then 5 s of baseline.
    slow_from = int(clock.now()) + 16 + 6
    slow = set(range(slow_from, slow_from + 5))
    results = []
    for name, fault, traffic in [
        (
            "experiments/test_web.py::test_kill_one",
            faults.TerminateInstances(target="web"),
            lambda s: Traffic(requests=1500, latency_ms=4),
        ),
        (
            "experiments/test_web.py::test_slow_one <script>alert(1)</script>",
            faults.Latency(target="web", delay="400ms"),
            lambda s: Traffic(
                requests=1500,
                latency_ms=420 if s in slow else 4,
                queued=300 if s in slow else 0,  # users held up by the slow responses
                queued_max_ms=410 if s in slow else 0,
            ),
        ),
    ]:
        experiment = Experiment(
            settings=ExperimentSettings(
                name=name,
                objectives=(slo.latency(p=99, below="300ms"), slo.error_rate(below="1%")),
                baseline=5,
                recovery=5,
            ),
            env=FakeEnvironment(name="local"),
            load=FakeLoadDriver(traffic),
            journal=JournalWriter(tmp_path / "run.jsonl"),
            clock=clock,
            rng=random.Random(3),
        )
        results.append(experiment.run(lambda chaos, f=fault: chaos.inject(f, hold="6s")))
    return Journal(
        run_id="20261126-120000-abcdef",
        env="local",
        started=results[0].started,
        finished=clock.now(),
        seed=3,
        experiments=tuple(results),
    )


def test_the_report_renders_offline_with_verdicts_faults_and_charts(
    tmp_path: Path, chromium: str
) -> None:
    journal = _journal(tmp_path)
    assert [e.outcome for e in journal.experiments] == ["passed", "failed"]
    latest, stamped, journal_json, index = write_reports(journal, tmp_path / "reports")
    html = latest.read_text()
    assert stamped.read_text() == html and journal_json.is_file() and index.is_file()
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script>alert(1)</script>" not in html  # names are escaped

    dom = subprocess.run(
        [chromium, *FLAGS, "--dump-dom", latest.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "TerminateInstances 1 of web" in text
    assert "Latency 400ms on 1 of web" in text
    assert "SLO breached: p99 &lt; 300ms in fault 1" in dom
    assert dom.count("<svg") == 6  # throughput, errors, latency for each experiment
    assert "i-000000000" in text  # the instance each fault hit
    waited = re.findall(
        r"(\d+) requests waited for their user to\s+finish an earlier task run "
        r"\(up to (\d+) ms\)",
        text,
    )
    assert waited == [("1500", "410")]  # the slow experiment only

    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *FLAGS,
            "--window-size=1100,2400",
            f"--screenshot={screenshot}",
            latest.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert screenshot.stat().st_size > 20_000  # a page with content, not a blank one
    keep = os.environ.get("CHAOSKIT_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, keep)


def test_the_report_in_a_browser_shows_no_secret(tmp_path: Path, chromium: str) -> None:
    _journal, _log, (latest, *_others) = run_with_secrets(tmp_path)
    dom = subprocess.run(
        [chromium, *FLAGS, "--dump-dom", latest.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    # The DOM holds every attribute (title tooltips included) and all the text a reader sees.
    assert "[redacted]" in dom
    assert leaked(dom) == []
    assert leaked(unescape(dom)) == []
