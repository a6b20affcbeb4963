"""What a run leaves for people and pipelines: every experiment in the journal, the report
and the summary (skipped and setup-failed ones included), JUnit properties, the terminal.

Black-box through pytester, with the fakes of ``chaoskit.testing`` (see test_plugin.py).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from tests.plugin.test_plugin import CONFTEST, run

UNRUN = """
@pytest.fixture
def broken_database():
    raise ConnectionError("database at db:5432 refused the connection")

def test_runs(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")

@pytest.mark.skip(reason="needs two regions")
def test_skipped_by_marker(chaos):
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")

def test_skipped_in_a_fixture(request, chaos):
    pass

def test_setup_failed(broken_database, chaos):
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(locustfile="")
    return pytester


def test_skipped_and_setup_failed_experiments_reach_the_journal_report_and_summary(
    project: pytest.Pytester,
) -> None:
    body = UNRUN.replace(
        "def test_skipped_in_a_fixture(request, chaos):",
        "@pytest.fixture\ndef no_prometheus():\n    pytest.skip('needs Prometheus')\n\n"
        "def test_skipped_in_a_fixture(no_prometheus, chaos):",
    )
    result = run(project, body)
    result.assert_outcomes(passed=1, skipped=2, errors=1)
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    got = [(e["name"].split("::")[1], e["outcome"], e["reason"]) for e in journal["experiments"]]
    assert got == [
        ("test_runs", "passed", "every objective held"),
        ("test_skipped_by_marker", "skipped", "needs two regions"),
        ("test_skipped_in_a_fixture", "skipped", "needs Prometheus"),
        (
            "test_setup_failed",
            "error",
            "setup failed before the experiment began: "
            "ConnectionError: database at db:5432 refused the connection",
        ),
    ]
    html = (project.path / "reports" / "latest.html").read_text()
    assert html.count('<span class="badge skipped">skipped</span>') == 2 * 2  # table + card
    assert "needs two regions" in html and "refused the connection" in html
    assert "1 skipped" not in html and "2 skipped, not counted" in html
    index = (project.path / "reports" / "index.html").read_text()
    assert "2 skipped" in index
    result.stdout.fnmatch_lines(
        [
            "SKIPPED test_experiment.py::test_skipped_by_marker",
            "        why: needs two regions",
            "SKIPPED test_experiment.py::test_skipped_in_a_fixture",
            "ERROR   test_experiment.py::test_setup_failed",
            "        why: setup failed before the experiment began: ConnectionError: *",
        ]
    )


def test_a_session_of_skipped_experiments_still_reports_them(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
@pytest.mark.skip(reason="staging is frozen this week")
def test_one(chaos):
    pass
""",
    )
    result.assert_outcomes(skipped=1)
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    assert [e["reason"] for e in journal["experiments"]] == ["staging is frozen this week"]
    assert journal["resilience_score"] is None


def test_a_body_that_skips_itself_is_reverted_and_recorded_as_skipped(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
def test_skips_after_injecting(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"))
    pytest.skip("the canary is not deployed")
""",
    )
    result.assert_outcomes(skipped=1)
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    [experiment] = journal["experiments"]
    assert (experiment["outcome"], experiment["cause"]) == ("skipped", "skipped")
    assert experiment["reason"] == "skipped in its body: the canary is not deployed"
    assert [i["status"] for i in experiment["injections"]] == ["reverted"]
    assert journal["resilience_score"] is None  # a skip is never counted
    result.stdout.fnmatch_lines(["SKIPPED test_experiment.py::test_skips_after_injecting"])


def test_a_dry_run_records_no_skipped_experiment(project: pytest.Pytester) -> None:
    result = run(project, UNRUN, "--chaos-dry-run")
    assert not list((project.path / "reports").glob("chaoskit-*.json"))
    assert "SKIPPED test_experiment.py" not in result.stdout.str()


def test_junit_xml_carries_each_verdict_its_slis_score_and_report(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
def test_slow(chaos):
    now = int(conftest.CLOCK.now())
    conftest.BAD_SECONDS.update(range(now, now + 8))
    chaos.inject(faults.Latency(target="web", delay="500ms"), hold="8s")

def test_fine(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")

@pytest.mark.skip(reason="needs two regions")
def test_skipped(chaos):
    pass
""",
        "--junitxml=junit.xml",
    )
    result.assert_outcomes(failed=1, passed=1, skipped=1)
    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(project.path / "junit.xml").iter("testcase")
    }
    slow, fine, skipped = cases["test_slow"], cases["test_fine"], cases["test_skipped"]
    assert (slow["chaoskit.outcome"], slow["chaoskit.cause"]) == ("failed", "slo_breached")
    assert slow["chaoskit.reason"].startswith("SLO breached: p99 < 300ms in fault 1")
    assert slow["chaoskit.sli.fault 1.p99 < 300ms"] == "500ms fail"
    assert slow["chaoskit.sli.baseline.p99 < 300ms"] == "5ms pass"
    assert slow["chaoskit.score"] == "0" and fine["chaoskit.score"] == "100"
    [report] = (project.path / "reports").glob("chaoskit-*.html")
    assert slow["chaoskit.report"] == fine["chaoskit.report"] == str(report)
    assert slow["chaoskit.fault"].startswith("Latency 500ms on 1 of web -> i-")
    assert (skipped["chaoskit.outcome"], skipped["chaoskit.reason"]) == (
        "skipped",
        "needs two regions",
    )


TWO = """
def test_first(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")

def test_second(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")
"""


@pytest.mark.parametrize("verbosity", ["-q", "", "-v"])
def test_the_progress_header_is_on_a_line_of_its_own_in_every_verbosity(
    project: pytest.Pytester, verbosity: str
) -> None:
    result = run(project, TWO, *([verbosity] if verbosity else []))
    result.assert_outcomes(passed=2)
    lines = result.stdout.lines
    headers = [line for line in lines if "chaos test_experiment.py::" in line]
    assert headers == [
        "chaos test_experiment.py::test_first",
        "chaos test_experiment.py::test_second",
    ], lines


def test_summary_rows_stay_in_columns_whatever_their_length(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
@pytest.mark.chaos(
    steady_state=[
        slo.latency(p=99, below="300ms"),
        slo.error_rate(below="1%"),
        slo.latency(p=50, below="250ms") & slo.error_rate(below="2%"),
    ],
    error_budget=slo.budget(target="99.9%", period="30d"),
)
def test_latency(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")
""",
    )
    result.assert_outcomes(passed=1)
    lines = result.stdout.lines
    start = lines.index("PASSED  test_experiment.py::test_latency")
    rows = [
        line for line in lines[start + 1 :] if line.startswith("        ") and "fault:" not in line
    ]
    rows = [row for row in rows if not row.lstrip().startswith("why:")]
    assert len(rows) >= 10
    # each column starts at the same place in every row: the value's right edge and the status
    ends = {len(row.rstrip()) - len(row.rstrip().split("  ")[-1]) for row in rows}
    assert len(ends) == 1, "\\n".join(rows)
    assert any(row.lstrip().startswith("faults + recovery") for row in rows)


def test_the_journal_keeps_each_experiment_as_written_skipped_ones_included(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
@pytest.mark.chaos(halt_after=2)
def test_runs(chaos):
    # the password=hunter2hunter2 of the demo user
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")

@pytest.mark.skip(reason="needs two regions")
def test_skipped(chaos):
    pass
""",
    )
    result.assert_outcomes(passed=1, skipped=1)
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    ran, skipped = (e["as_written"] for e in journal["experiments"])
    assert ran["source"].startswith("@pytest.mark.chaos(halt_after=2)\ndef test_runs(chaos):")
    assert "hunter2" not in ran["source"] and "password=[redacted]" in ran["source"]
    assert ran["location"] == "test_experiment.py:12"
    # the module's marker and the test's, merged: the nearest wins
    assert ran["arguments"]["halt_after"] == "2"
    assert ran["arguments"]["steady_state"] == "[p99 < 300ms, errors < 1%]"
    assert ran["faults"][0].startswith("Latency(target='web'")
    assert ran["load"]["users"] == "5"
    assert [t["name"] for t in ran["targets"]] == ["web"]
    assert skipped["source"].startswith("@pytest.mark.skip")


def test_a_password_in_a_test_id_is_redacted_and_experiment_names_stay_distinct(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
@pytest.mark.parametrize("cli", ["--password hunter2", "--user admin"])
def test_login(chaos, cli):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")

def test_token_refresh(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")

def test_password_reset(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")
""",
    )
    result.assert_outcomes(passed=4)
    reports = project.path / "reports"
    [journal_jsonl] = (reports / "journals").glob("*.jsonl")
    [journal_json] = reports.glob("chaoskit-*.json")
    for path in (journal_jsonl, journal_json, reports / "latest.html", reports / "index.html"):
        assert "hunter2" not in path.read_text(encoding="utf-8"), path.name
    names = [e["name"] for e in json.loads(journal_json.read_text())["experiments"]]
    assert sorted(names) == [
        "test_experiment.py::test_login[--password [redacted]]",
        "test_experiment.py::test_login[--user admin]",
        "test_experiment.py::test_password_reset",
        "test_experiment.py::test_token_refresh",
    ]
    html = (reports / "latest.html").read_text(encoding="utf-8")
    for name in ("test_login[--user admin]", "test_token_refresh", "test_password_reset"):
        assert name in html
