"""What can be checked before anything starts is checked then: at collection, so that
``pytest --co`` and ``chaoskit plan`` find it, never one experiment at a time after the load
and the environment started."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

EXPERIMENT = """
import pytest
from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust("locustfile.py", users=2{load_args}),
    steady_state=[slo.error_rate(below="1%")],
    baseline="2s",
    recovery="2s",
)

def test_one(chaos):
    chaos.inject(faults.{fault}, hold="2s")
"""


def _project(
    pytester: pytest.Pytester,
    *,
    pyproject: str = "",
    load_args: str = "",
    fault: str = 'Latency(target="web", delay="10ms")',
) -> None:
    if pyproject:
        pytester.makefile(".toml", pyproject=pyproject)
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(
        test_experiment=EXPERIMENT.format(load_args=load_args, fault=fault),
    )


def _collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--co", *args)


def test_a_target_setting_of_the_wrong_type_stops_collection(pytester: pytest.Pytester) -> None:
    _project(pytester, pyproject='[tool.chaoskit.env.local.targets.web]\nreplicas = "abc"\n')
    result = _collect(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*targets.web.replicas='abc' must be a whole number*"])


def test_more_replicas_than_one_machine_runs_stops_collection(pytester: pytest.Pytester) -> None:
    _project(pytester, pyproject="[tool.chaoskit.env.local.targets.web]\nreplicas = 100000000\n")
    result = _collect(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*targets.web.replicas=100000000 is more than 64*"])


def test_a_load_target_the_environment_lacks_stops_collection(pytester: pytest.Pytester) -> None:
    _project(pytester, load_args=', target="nope"')
    result = _collect(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*test_experiment.py::test_one: load.Locust(target='nope'): *local* has no target "
            "'nope'; its targets: web*"
        ]
    )


def test_the_default_load_target_after_defining_ones_own_stops_collection(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, pyproject="[tool.chaoskit.env.local.targets.api]\nreplicas = 1\n")
    result = _collect(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*load.Locust(target='web'): *has no target 'web'; its targets: api*target='api'*"]
    )


def test_a_report_folder_that_cannot_be_written_stops_the_session_at_once(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    (pytester.path / "a-file").write_text("not a folder")
    result = _collect(pytester, "--chaos-report", "a-file/reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--chaos-report*a-file/reports*cannot be written*"])


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A service chaoskit does not run: a listening socket is all its TCP health check needs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.mark.integration
def test_plan_finds_an_instance_fault_on_a_service_chaoskit_does_not_run(
    pytester: pytest.Pytester, listening_port: int
) -> None:
    _project(
        pytester,
        pyproject=(
            "[tool.chaoskit.env.local.targets.web]\nreplicas = 1\n"
            "[tool.chaoskit.env.local.targets.db]\n"
            f'upstreams = ["127.0.0.1:{listening_port}"]\nprotocol = "tcp"\n'
        ),
        fault='TerminateInstances(target="db", count=1)',
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--chaos-dry-run")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*TerminateInstances on target 'db'*external service*cannot terminate*"]
    )


@pytest.mark.parametrize(
    "arguments",
    [
        "load=5",
        "steady_state='(' * 400 + 'p99<1s' + ')' * 400",
        "steady_state=['p99<1s'], baseline=1e308",
        "steady_state=['p99<1s'], guardrail=None",
        "steady_state=['p99<1s'], toxicity='NaN%'",
        "steady_state=[slo.latency(p=99, below='1s', phases=5)]",
    ],
)
def test_no_frame_of_chaoskit_reaches_the_user_for_a_bad_marker(
    pytester: pytest.Pytester, arguments: str
) -> None:
    if "load=" not in arguments:
        arguments = "load=load.Locust('locustfile.py', users=1), " + arguments
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(
        test_experiment=f"""
import pytest
from chaoskit import faults, load, slo

@pytest.mark.chaos({arguments})
def test_one(chaos):
    pass
"""
    )
    for args in ((), ("--chaos-dry-run",)):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
        assert result.ret in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERRUPTED)
        said = result.stdout.str() + result.stderr.str()
        assert "Traceback" not in said and "INTERNALERROR" not in said
        assert "chaoskit/" not in said, said  # no frame, no path of chaoskit's own
        assert "test_experiment.py" in said
        assert "ConfigError: " in said or "invalid chaos experiment" in said
