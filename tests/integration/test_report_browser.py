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


OFFLINE = [
    # Any request the page made would fail: no proxy answers, no name resolves.
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
]


def _game_day() -> Journal:
    """A run with what a game day's report must show: a breach with failures of two causes,
    a rehearsed FIS action in the timeline, and an experiment that was skipped."""
    from dataclasses import replace

    from tests.report_journals import T0, journal, latency, result, second

    def failing(offset: int) -> object:
        if 6 <= offset < 11:
            return second(offset, latency_ms=420, ok=60, failed={"HTTP 503": 35, "ReadTimeout": 5})
        return second(offset)

    breached = result(
        "experiments/test_web.py::test_latency_on_one_instance",
        outcome="failed",
        cause="slo_breached",
        reason="SLO breached: p99 < 300ms in fault 1: 420ms is not below 300ms",
        seconds=failing,
        measurements=(
            latency("p99 < 300ms", 0.3, "baseline", 4),
            latency("p99 < 300ms", 0.3, "fault 1", 420),
            latency("p95 < 300ms", 0.3, "fault 1", 420),
            latency("p99 < 300ms", 0.3, "recovery", 4),
        ),
    )
    [injection] = breached.injections
    fis = replace(
        injection,
        details={
            "kind": "fis_rehearsal",
            "template": "stop-web.json",
            "state": {"status": "completed"},
            "actions": [
                {
                    "name": "stopWeb",
                    "action_id": "aws:ec2:stop-instances",
                    "state": "completed",
                    "instances": {"web": ["i-0abc"]},
                    "started": T0 + 5.5,
                    "ended": T0 + 10.5,
                }
            ],
        },
    )
    skipped = replace(
        result("experiments/test_web.py::test_two_regions", started=T0 + 16, injections=()),
        outcome="skipped",
        cause="skipped",
        reason="needs two regions",
        phases=(),
        seconds=(),
        finished=T0 + 16,
    )
    return journal(replace(breached, injections=(fis,)), skipped)


def test_the_report_opens_offline_without_console_errors_and_shows_the_whole_story(
    tmp_path: Path, chromium: str
) -> None:
    latest, *_ = write_reports(_game_day(), tmp_path / "reports")
    opened = subprocess.run(
        [chromium, *FLAGS, *OFFLINE, "--dump-dom", latest.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert not re.findall(r"CONSOLE.*", opened.stderr), opened.stderr
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", opened.stdout)).split())
    assert "latency ms (p50 / p95 / p99) (log scale)" in text
    assert "p99 < 300ms · p95 < 300ms" in text  # one label for two objectives at 300 ms
    assert "+5.5s FIS action stopWeb (aws:ec2:stop-instances) started on i-0abc of web" in text
    assert "injecting the fault: not judged" in text
    # A template rehearsed at its own pace says nothing of a time scale.
    assert "rehearsed on the local system: completed" in text and "Time scale" not in text
    assert "HTTP 503" in text and "ReadTimeout" in text
    assert "needs two regions" in text and "Not run: no load was sent" in text

    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *FLAGS,
            *OFFLINE,
            "--window-size=1100,2600",
            f"--screenshot={screenshot}",
            latest.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert screenshot.stat().st_size > 20_000
    keep = os.environ.get("CHAOSKIT_KEEP_GAME_DAY_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, keep)
