"""The pipeline examples in docs/ci.md and the journal's documentation in docs/journal.md
hold: the YAML parses, the gate runs `pytest experiments/` and keeps the report whatever the
verdict, and every command and option they use exists in this project."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit.cli import main
from chaoskit.experiment.result import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = ROOT / "docs" / "ci.md"


def _examples() -> dict[str, Any]:
    """Each ```yaml block of docs/ci.md by the file name on its first line."""
    blocks = re.findall(r"```yaml\n# (\S+)\n(.*?)```", CI_DOC.read_text(), flags=re.S)
    return {name: yaml.safe_load(body) for name, body in blocks}


def _commands() -> list[list[str]]:
    examples = _examples()
    workflow = examples[".github/workflows/resilience-gate.yml"]
    lines = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    buildspec = examples["buildspec.yml"]
    lines += [c for phase in buildspec["phases"].values() for c in phase.get("commands", [])]
    return [shlex.split(line) for line in lines]


def test_the_docs_hold_a_workflow_and_a_buildspec() -> None:
    assert set(_examples()) == {".github/workflows/resilience-gate.yml", "buildspec.yml"}


def test_the_github_workflow_gates_on_the_experiments_and_always_keeps_the_report() -> None:
    workflow = _examples()[".github/workflows/resilience-gate.yml"]
    assert workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    [job] = workflow["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    gate = next(run for run in runs if run.startswith("pytest experiments/"))
    assert "--junit-xml=reports/junit.xml" in gate
    [upload] = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload")]
    assert upload["if"] == "always()"  # a failed gate is when the report is read
    assert upload["with"]["path"] == "reports/"
    python = next(s for s in job["steps"] if "setup-python" in str(s.get("uses", "")))
    assert python["with"]["python-version"] == "3.11"


def test_the_buildspec_gates_on_the_experiments_and_keeps_report_and_junit() -> None:
    buildspec = _examples()["buildspec.yml"]
    assert buildspec["version"] == 0.2
    assert (
        "pytest experiments/ --junit-xml=reports/junit.xml"
        in buildspec["phases"]["build"]["commands"]
    )
    [group] = buildspec["reports"].values()
    assert (group["file-format"], group["base-directory"], group["files"]) == (
        "JUNITXML",
        "reports",
        ["junit.xml"],
    )
    assert buildspec["artifacts"]["base-directory"] == "reports"


def test_every_command_the_examples_run_exists_in_the_project() -> None:
    commands = _commands()
    assert ["pip", "install", "-e", "."] in commands
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "experiments").is_dir()
    pytest_help = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    used = {arg.split("=")[0] for cmd in commands if cmd[0] == "pytest" for arg in cmd[1:]}
    # and the options the page tells readers to add
    used |= set(re.findall(r"(--chaos-[a-z-]+)", CI_DOC.read_text()))
    for option in sorted(o for o in used if o.startswith("--")):
        assert re.search(rf"\s{re.escape(option)}[\s=,]", pytest_help), option
    for cmd in commands:
        assert cmd[0] in ("pip", "pytest"), cmd
        if cmd[0] == "pytest":
            assert (ROOT / cmd[1]).is_dir(), cmd


def test_the_chaoskit_commands_the_docs_name_exist(capsys: pytest.CaptureFixture[str]) -> None:
    named = set(re.findall(r"`chaoskit ([a-z]+)", CI_DOC.read_text()))
    assert named == {"publish"}
    for command in named:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0


def test_the_journal_doc_names_every_field_a_journal_holds_and_the_current_version() -> None:
    from tests.report_journals import journal, result

    doc = (ROOT / "docs" / "journal.md").read_text()
    data = journal(result()).to_json()
    assert data["schema_version"] == SCHEMA_VERSION
    assert f"| {SCHEMA_VERSION} |" in doc
    [experiment] = data["experiments"]  # type: ignore[misc]
    fields = [*data, *experiment, *experiment["injections"][0], *experiment["seconds"][0]]
    fields += [*experiment["phases"][0]]
    missing = [name for name in fields if f"`{name}`" not in doc]
    assert missing == []
