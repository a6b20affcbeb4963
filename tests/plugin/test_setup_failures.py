"""Experiments that cannot be set up are results of the run, with their reason: they reach
the journal, the summary and the report, also when every experiment of the run fails so."""

from __future__ import annotations

import html
import json

import pytest

HEADER = """
import pytest
from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust("locustfile.py", users=5, target=TARGET),
    steady_state=[slo.latency(p=99, below="300ms")],
    baseline="5s",
    recovery="5s",
)

def test_first(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="8s")

def test_second(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="8s")
"""

CONFTEST = """
from pathlib import Path
from chaoskit.errors import LoadError, ProviderError
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver, Traffic

CLOCK = FakeClock()

def pytest_chaoskit_make_environment(config, env_config):
    with open(Path(__file__).parent / "opened.txt", "a") as opened:
        opened.write("x")
    if BROKEN == "environment":
        raise ProviderError("target 'web': replica exited with code 2 at start-up")
    return FakeEnvironment(name="local")

def pytest_chaoskit_make_load_driver(config, spec, url):
    if BROKEN == "locustfile":
        raise LoadError("the locust file locustfile.py failed to import: NameError: nmae")
    return FakeLoadDriver(lambda second: Traffic(requests=2000, latency_ms=5))

def pytest_chaoskit_clock(config):
    return CLOCK
"""


def _run(pytester: pytest.Pytester, *, broken: str, target: str = "web") -> pytest.RunResult:
    pytester.makeconftest(f"BROKEN = {broken!r}\n" + CONFTEST)
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(test_experiment=f"TARGET = {target!r}\n" + HEADER)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider")


def _experiments(pytester: pytest.Pytester) -> list[dict[str, object]]:
    [journal] = (pytester.path / "reports").glob("chaoskit-*.json")
    experiments: list[dict[str, object]] = json.loads(journal.read_text())["experiments"]
    return experiments


@pytest.mark.parametrize(
    ("broken", "target", "why"),
    [
        ("environment", "web", "replica exited with code 2 at start-up"),
        ("locustfile", "web", "failed to import: NameError"),
        ("", "nope", "target 'nope' is not defined"),
    ],
    ids=["environment-never-starts", "locustfile-fails-at-import", "unknown-load-target"],
)
def test_an_experiment_that_cannot_be_set_up_is_journaled_reported_and_summarised(
    pytester: pytest.Pytester, broken: str, target: str, why: str
) -> None:
    result = _run(pytester, broken=broken, target=target)
    result.assert_outcomes(errors=2)
    experiments = _experiments(pytester)
    assert [e["name"] for e in experiments] == [
        "test_experiment.py::test_first",
        "test_experiment.py::test_second",
    ]
    for experiment in experiments:
        assert experiment["outcome"] == "error"
        assert experiment["cause"] == "setup_failed"
        assert why in str(experiment["reason"])
    assert (pytester.path / "reports" / "latest.html").is_file()
    assert why in html.unescape((pytester.path / "reports" / "latest.html").read_text())
    summary = result.stdout.str().partition("chaoskit")[2]
    assert "test_first" in summary and "test_second" in summary
    assert why in summary


def test_an_environment_that_failed_to_start_is_not_started_again_for_each_experiment(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, broken="environment")
    result.assert_outcomes(errors=2)
    assert (pytester.path / "opened.txt").read_text() == "x"
    result.stdout.fnmatch_lines(["*ProviderError*replica exited with code 2*"])
