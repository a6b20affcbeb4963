"""The plugin, black-box through pytester: markers, outcomes, exit codes, reports.

The environment, the load and the clock are replaced through chaoskit's hooks with the fakes
of ``chaoskit.testing``, so these tests run in milliseconds and need no processes.
"""

from __future__ import annotations

import json
import re

import pytest

CONFTEST = """
import pytest
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver, Traffic

CLOCK = FakeClock()
ENV = FakeEnvironment(name="local")
BAD_SECONDS = set()

def traffic(second):
    # The test modules mark seconds as slow or failing through BAD_SECONDS.
    return Traffic(requests=2000, latency_ms=500 if second in BAD_SECONDS else 5)

def pytest_chaoskit_make_environment(config, env_config):
    return ENV

def pytest_chaoskit_make_load_driver(config, spec, url):
    return FakeLoadDriver(traffic)

def pytest_chaoskit_clock(config):
    return CLOCK
"""

HEADER = """
import pytest
from chaoskit import faults, load, slo
import conftest

pytestmark = pytest.mark.chaos(
    load=load.Locust("locustfile.py", users=5),
    steady_state=[slo.latency(p=99, below="300ms"), slo.error_rate(below="1%")],
    baseline="5s",
    recovery="5s",
)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(locustfile="")
    return pytester


def run(project: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    project.makepyfile(test_experiment=HEADER + body)
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_a_healthy_experiment_passes_and_writes_the_report(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
def test_latency(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="8s")
""",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*chaos test_experiment.py::test_latency*",
            "*steady state before: p99 < 300ms 5ms ok, errors < 1% 0.00% ok",
            "*inject Latency 10ms on 1 of web -> i-*",
            "*fault 1: p99 < 300ms 5ms ok*",
            "*recovery: p99 < 300ms 5ms ok*",
            "*verdict: passed*",
            "*chaoskit*",
            "PASSED  test_experiment.py::test_latency",
            "*report: *latest.html",
        ]
    )
    reports = project.path / "reports"
    assert (reports / "latest.html").is_file()
    journal_path = next(reports.glob("chaoskit-*.json"))
    journal = json.loads(journal_path.read_text())
    assert [e["outcome"] for e in journal["experiments"]] == ["passed"]
    assert journal["experiments"][0]["injections"][0]["status"] == "reverted"


def test_a_breach_during_the_fault_fails_the_test_and_the_exit_code(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
def test_slow(chaos):
    now = int(conftest.CLOCK.now())
    conftest.BAD_SECONDS.update(range(now, now + 8))
    chaos.inject(faults.Latency(target="web", delay="500ms"), hold="8s")
""",
    )
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*SLOBreached: SLO breached: p99 < 300ms in fault 1*",
            "resilience score: 0/100 over 1 experiment",
        ]
    )
    # chaoskit's own message, not a traceback through chaoskit's internals: no frame of any
    # chaoskit module (an installed one included) is shown
    frames = re.findall(r"\bchaoskit[/\\][\w/\\]*\.py:\d+", result.stdout.str())
    assert frames == []


def test_an_expected_breach_marked_xfail_keeps_the_run_green(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
from chaoskit.errors import SLOBreached

@pytest.mark.xfail(raises=SLOBreached, strict=True, reason="one slow instance breaks p99")
def test_slow(chaos):
    now = int(conftest.CLOCK.now())
    conftest.BAD_SECONDS.update(range(now, now + 8))
    chaos.inject(faults.Latency(target="web", delay="500ms"), hold="8s")
""",
    )
    result.assert_outcomes(xfailed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "XFAIL   test_experiment.py::test_slow (failed as expected)",
            "resilience score: none: no experiment was judged (1 failed as expected, not counted)",
        ]
    )
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    assert journal["experiments"][0]["expected_to_fail"] is True
    assert journal["experiments"][0]["cause"] == "slo_breached"


def test_an_allowed_pass_with_nothing_judged_says_so_in_the_terminal(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
from chaoskit.testing import Traffic

SPARSE = []
# From the body on, too few requests for a p99 in the fault and recovery windows.
conftest.traffic = lambda second: Traffic(requests=50 if SPARSE else 2000)

@pytest.mark.chaos(steady_state=["p99<300ms"], allow_inconclusive=True)
def test_sparse(chaos):
    SPARSE.append(True)
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="8s")
""",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*verdict: passed: nothing could be judged during or after the fault: 2 checks had "
            "too few samples (allowed by allow_inconclusive=True): p99 < 300ms in fault 1: *",
            "PASSED  test_experiment.py::test_sparse",
            "*why: nothing could be judged during or after the fault: *",
        ]
    )
    assert "every objective held" not in result.stdout.str()


def test_a_broken_steady_state_is_an_error_not_a_pass(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
conftest.BAD_SECONDS.update(range(int(conftest.CLOCK.now()), int(conftest.CLOCK.now()) + 60))

def test_never_runs(chaos):
    raise AssertionError("the body must not run when the steady state is broken")
""",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*SteadyStateBroken: steady state did not hold*"])
    assert "the body must not run" not in result.stdout.str()


def test_a_recovery_too_short_to_judge_is_an_error_before_anything_is_injected(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
@pytest.mark.chaos(recovery="1s")
def test_never_runs(chaos):
    raise AssertionError("the body must not run when the plan cannot be judged")
""",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ConfigError: the plan cannot be judged*p99 < 300ms in recovery: 1s holds 0 whole*"]
    )
    assert "the body must not run" not in result.stdout.str()
    assert _injections_in_reports(project) == []


def test_a_hold_too_short_to_judge_is_refused_at_inject_and_recorded_as_an_error(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
def test_short(chaos):
    chaos.inject(faults.TerminateInstances(target="web"), hold="1s")
""",
    )
    result.assert_outcomes(failed=1)  # pytest fails the test at the user's inject line
    result.stdout.fnmatch_lines(["*ConfigError: the plan cannot be judged*hold fault 1 at least*"])
    [experiment] = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())[
        "experiments"
    ]
    assert experiment["outcome"] == "error" and experiment["injections"] == []


def _injections_in_reports(project: pytest.Pytester) -> list[object]:
    reports = list((project.path / "reports").glob("chaoskit-*.json"))
    return [
        i
        for r in reports
        for e in json.loads(r.read_text())["experiments"]
        for i in e["injections"]
    ]


def test_a_fault_that_cannot_be_injected_fails(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
def test_refused(chaos):
    conftest.ENV.targets["web"].fail_terminate = True
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*InjectionError*refused to terminate*"])


def test_a_failed_revert_is_an_error_naming_what_is_still_active(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
def test_stuck(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"))
    conftest.ENV.targets["web"].fail_remove = True

def test_next_experiment(chaos):
    raise AssertionError("no experiment may run while a fault may still be active")
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    injected = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    [record] = injected["experiments"][0]["injections"]
    [instance] = record["instance_ids"]
    result.stdout.fnmatch_lines(
        [
            f"*RevertError*still active on {instance}*",
            "*chaoskit: a fault could not be reverted; no further experiments run. "
            f"May still be active: Latency 10ms on 1 of web on {instance} *",
        ]
    )
    assert result.ret == 1


def test_an_exception_in_the_body_reverts_and_fails(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
def test_crash(chaos):
    with chaos.inject(faults.Latency(target="web", delay="10ms")):
        raise RuntimeError("boom")

def test_nothing_left_active():
    assert conftest.ENV.targets["web"].faults == {}
""",
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: boom*"])


def test_an_experiment_without_a_fault_fails(project: pytest.Pytester) -> None:
    result = run(project, "\ndef test_forgot(chaos):\n    pass\n")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no fault was injected*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("baseline='soon'", "chaos(baseline='soon') is not a duration*"),
        ("bogus=1", "chaos() got unknown argument(s) bogus*"),
        ("steady_state='p99'", "chaos(steady_state=?...?): cannot read objective 'p99': expected*"),
        (
            "steady_state=[42]",
            "chaos(steady_state=?42?) must be a list of objectives*42 is not one*",
        ),
        ("load=None", "chaos() has no load*"),
        ("rto='30s'", "chaos(rto='30s') cannot be checked in a recovery window of 5s*"),
        ("halt_after=0", "chaos(halt_after=0) is a number of seconds in a row*"),
        (
            "guardrail='errors<'",
            "chaos(guardrail=?...?): cannot read objective 'errors<': expected*",
        ),
        ("error_budget='99.9%'", "chaos(error_budget='99.9%') is not an error budget*"),
        ("allow_inconclusive='yes'", "chaos(allow_inconclusive='yes') must be True or False*"),
    ],
)
def test_a_bad_marker_is_a_usage_error_before_anything_runs(
    project: pytest.Pytester, marker: str, message: str
) -> None:
    result = run(
        project,
        f"""
@pytest.mark.chaos({marker})
def test_bad(chaos):
    raise AssertionError("must not run")
""",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_experiment.py::test_bad: " + message])
    assert not (project.path / "reports").exists()


def test_the_nearest_marker_wins_key_by_key(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
@pytest.mark.chaos(steady_state=[slo.error_rate(below="5%")])
def test_override(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")
""",
    )
    result.assert_outcomes(passed=1)
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    experiment = journal["experiments"][0]
    assert experiment["objectives"] == ["errors < 5%"]
    baseline = next(p for p in experiment["phases"] if p["kind"] == "baseline")
    assert baseline["end"] - baseline["start"] == 5  # baseline still from the module marker


def test_the_fixture_without_a_marker_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_x(chaos):\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: uses the chaos fixture but has no chaos marker*"])


def test_dry_run_prints_the_plan_and_injects_nothing(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
def test_plan(chaos):
    chaos.inject(faults.TerminateInstances(target="web", count=2), hold="5s")

def test_untouched():
    assert conftest.ENV.targets["web"].terminated == []
""",
        "--chaos-dry-run",
        "-rs",
    )
    result.assert_outcomes(skipped=1, passed=1)
    result.stdout.fnmatch_lines(["*dry run: would inject TerminateInstances 2 of web on i-*"])


def test_a_dry_run_refuses_every_change_the_body_makes_through_the_environment(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
def test_terminates_by_hand(chaos, chaos_env):
    web = chaos_env.target("web")
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
    web.terminate([web.instances()[0].id])

@pytest.mark.parametrize("change", ["stop_instances", "reboot_instances", "stress_cpu"])
def test_other_changes(chaos, chaos_env, change):
    web = chaos_env.target("web")
    getattr(web, change)([web.instances()[0].id])

def test_reads_still_work(chaos, chaos_env):
    web = chaos_env.target("web")
    assert len(web.instances()) == 3 and web.active_faults() == [] and web.url

def test_untouched():
    web = conftest.ENV.targets["web"]
    assert (web.terminated, web.rebooted, web.faults) == ([], [], {})
""",
        "--chaos-dry-run",
    )
    result.assert_outcomes(failed=4, skipped=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*DryRunRefused: target 'web'.terminate was refused: this is a dry run "
            "(--chaos-dry-run), which changes nothing*",
        ]
    )
    for change in ("stop_instances", "reboot_instances", "stress_cpu"):
        result.stdout.fnmatch_lines([f"*target 'web'.{change} was refused*"])


def test_a_dry_run_refuses_changes_reached_through_the_environments_attributes(
    project: pytest.Pytester,
) -> None:
    result = run(
        project,
        """
class Ec2:
    calls = []

    def terminate_instances(self, **kwargs):
        self.calls.append(kwargs)

# What a provider holds besides its methods: its environment from a target, its clients.
conftest.ENV.targets["web"].env = conftest.ENV
conftest.ENV.clients = type("Clients", (), {"ec2": Ec2(), "region": "eu-west-1"})()

def test_through_the_targets_environment(chaos, chaos_env):
    web = chaos_env.target("web")
    web.env.target("web").terminate([web.instances()[0].id])

def test_through_a_client(chaos, chaos_env):
    assert chaos_env.clients.region == "eu-west-1"
    chaos_env.clients.ec2.terminate_instances(InstanceIds=["i-000000000000"])

def test_through_a_private_attribute(chaos, chaos_env):
    chaos_env.target("web")._hold("stop", ["i-000000000000"])

def test_untouched():
    web = conftest.ENV.targets["web"]
    assert (web.terminated, web.faults, Ec2.calls) == ([], {}, [])
""",
        "--chaos-dry-run",
    )
    result.assert_outcomes(failed=3, passed=1)
    for call in (
        "target 'web'.terminate",
        "environment 'local'.clients.ec2.terminate_instances",
        "target 'web'._hold",
    ):
        result.stdout.fnmatch_lines([f"*DryRunRefused: {call} was refused: this is a dry run*"])


def test_the_seed_makes_the_victims_repeatable_and_another_seed_can_choose_another(
    project: pytest.Pytester,
) -> None:
    body = """
def test_plan(chaos):
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
"""

    def victim(seed: int) -> str:
        result = run(project, body, "--chaos-dry-run", "--chaos-seed", str(seed))
        return next(line for line in result.outlines if "would inject" in line).split()[-3]

    assert victim(42) == victim(42)
    # A seed fixes the choice rather than the choice ignoring the seed: among a few seeds, one
    # picks another of the three instances.
    assert len({victim(seed) for seed in (42, 1, 2, 3)}) > 1


def test_an_unknown_environment_is_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "\ndef test_x(chaos):\n    pass\n", "--chaos-env", "staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--chaos-env 'staging' is not defined; known environments*"])


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('env = "local"', "*env = 'local' in *pyproject.toml must be a table of environments*"),
        ("report_dir = 5", "*report_dir = 5 in *pyproject.toml must be a non-empty string*"),
        ("default_env = 5", "*default_env = 5 in *pyproject.toml must be a non-empty string*"),
        ('defualt_env = "local"', "*unknown key 'defualt_env'; did you mean 'default_env'?*"),
    ],
)
def test_a_bad_tool_table_is_a_usage_error_at_collection(
    project: pytest.Pytester, toml: str, message: str
) -> None:
    project.makefile(".toml", pyproject=f"[tool.chaoskit]\n{toml}\n")
    project.makepyfile(test_experiment=HEADER + "\ndef test_x(chaos):\n    pass\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_collecting_experiments_imports_neither_locust_nor_boto3(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
import json, sys

def pytest_collection_finish(session):
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                    {"locust", "gevent", "boto3", "botocore", "chaoskit"})
    with open("modules.json", "w") as out:
        json.dump(loaded, out)
"""
    )
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(
        test_experiment=HEADER
        + """
def test_one(chaos):
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
"""
    )
    result = pytester.runpytest_subprocess("--co")
    assert result.ret == 0, result.stdout.str()
    loaded = json.loads((pytester.path / "modules.json").read_text())
    assert "chaoskit.plugin" in loaded and "chaoskit.faults" in loaded  # what --co really loads
    heavy = [m for m in loaded if m.split(".")[0] in {"locust", "gevent", "boto3", "botocore"}]
    assert heavy == []


def test_load_that_breaks_during_the_baseline_is_an_error(project: pytest.Pytester) -> None:
    project.makeconftest(
        CONFTEST
        + """
from chaoskit.errors import LoadError

class BrokenLoad(FakeLoadDriver):
    def collect(self, start, end):
        raise LoadError("worker 1 stopped reporting")

def pytest_chaoskit_make_load_driver(config, spec, url):
    return BrokenLoad(traffic)
"""
    )
    result = run(project, "\ndef test_x(chaos):\n    raise AssertionError('must not run')\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*LoadError: worker 1 stopped reporting*"])
    journal = json.loads(next((project.path / "reports").glob("chaoskit-*.json")).read_text())
    assert journal["experiments"][0]["cause"] == "setup_failed"


AWS_ENVIRONMENT = """
[tool.chaoskit.env.staging]
provider = "aws"
region = "eu-west-1"
allowed_accounts = ["123456789012"]
instance_faults = "ec2"
[tool.chaoskit.env.staging.targets.web]
resource_type = "aws:ec2:instance"
tags = { app = "shop" }
max_count = 1
url = "https://staging.example.com"
"""


def test_an_aws_environment_runs_only_with_allow_destructive(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(AWS_ENVIRONMENT)
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(test_experiment=HEADER + "\ndef test_x(chaos):\n    pass\n")
    result = pytester.runpytest_subprocess("--chaos-env", "staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*environment 'staging' (provider 'aws') reaches real resources: pass "
            "--chaos-allow-destructive to run its experiments, or --chaos-dry-run to see what "
            "they would do without changing anything."
        ]
    )
    assert not (pytester.path / "reports").exists()  # stopped before anything ran


def test_collecting_against_an_aws_environment_imports_no_boto3(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml(AWS_ENVIRONMENT)
    pytester.makeconftest(
        """
import json, sys

def pytest_collection_finish(session):
    with open("modules.json", "w") as out:
        json.dump(sorted(m for m in sys.modules if m.split(".")[0] in {"boto3", "botocore"}), out)
"""
    )
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(test_experiment=HEADER + "\ndef test_x(chaos):\n    pass\n")
    result = pytester.runpytest_subprocess("--co", "--chaos-env", "staging")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert json.loads((pytester.path / "modules.json").read_text()) == []
