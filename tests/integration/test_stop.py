"""``chaoskit stop``: every run in progress on the machine is halted like a Ctrl-C (faults
reverted, journal closed, report written), and the command says what it stopped."""

from __future__ import annotations

import pytest
from test_game_day import no_stray_processes  # noqa: F401
from test_signals import start, wait_for

from chaoskit.cli import main
from chaoskit.experiment import read_events, unreverted_intents

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def test_stop_halts_a_running_experiment_which_reverts_and_reports(
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process = start(
        pytester,
        """
def test_long_hold(chaos):
    chaos.inject(faults.Latency(target="web", delay="50ms"), hold="120s")
""",
    )
    try:
        wait_for(pytester, process, "fault_injected")
        monkeypatch.chdir(pytester.path)
        code = main(["stop", "--dir", str(pytester.path / "reports"), "--timeout", "60"])
        said = capsys.readouterr().out
        assert code == 0, said
        assert f"(pid {process.pid}" in said
        assert "stopped run " in said
        assert process.poll() is not None  # ended before stop returned
        output = process.communicate()[0]
        assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    [log] = (pytester.path / "reports" / "journals").glob("*.jsonl")
    assert unreverted_intents(log) == []
    assert [e.event for e in read_events(log)][-1] == "run_finished"
    assert (pytester.path / "reports" / "latest.html").is_file()
    assert "interrupted by SIGTERM" in (pytester.path / "reports" / "latest.html").read_text()
    # Nothing left to stop, nor to recover.
    assert main(["stop", "--dir", str(pytester.path / "reports")]) == 0
    assert "nothing to stop" in capsys.readouterr().out
    assert main(["recover", "--dir", str(pytester.path / "reports")]) == 0
