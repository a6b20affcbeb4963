"""The machine's list of runs in progress: what ``chaoskit stop`` and ``recover`` read."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.experiment.registry import register, registered_journals, runs_dir, unregister


def test_a_run_is_listed_until_it_is_taken_off(tmp_path: Path) -> None:
    journal = tmp_path / "reports" / "journals" / "run-1.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_text("")
    assert register("run-1", journal) == ""
    assert registered_journals() == {journal.resolve(): "run-1"}
    unregister("run-1")
    assert registered_journals() == {}


def test_an_entry_whose_journal_is_gone_is_dropped(tmp_path: Path) -> None:
    journal = tmp_path / "run-2.jsonl"
    journal.write_text("")
    register("run-2", journal)
    journal.unlink()
    assert registered_journals() == {}
    assert list(runs_dir().iterdir()) == []


def test_a_list_that_cannot_be_written_leaves_the_run_going_and_says_how_to_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("CHAOSKIT_RUNS_DIR", str(blocked / "runs"))
    journal = tmp_path / "reports" / "journals" / "run-3.jsonl"
    note = register("run-3", journal)
    assert f"only with --dir {tmp_path / 'reports'}" in note
