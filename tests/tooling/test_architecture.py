"""The layers of docs/architecture.md hold: import-linter's contracts (``[tool.importlinter]`` in
pyproject.toml) run as part of the test command, and a deliberate bad import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = "each layer imports only the layers below it (docs/architecture.md)"
PROCESS_SIDES = "the pytest process never imports a process side, locust or gevent"
JUDGES = "the ledger, the guardrail and the verdict are independent"
BOTO3 = "only the AWS provider imports boto3 and botocore"
PROVIDERS = "the providers are independent"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(
            "import-linter is not installed; install the test extras: pip install -e '.[test]'"
        )
    environment = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [found, "--no-cache"], cwd=project, env=environment, capture_output=True, text=True
    )


def test_the_import_contracts_hold() -> None:
    linted = lint_imports(ROOT)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 broken" in linted.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        # A lower layer importing a higher one (the SLO maths reaching for the lifecycle).
        ("chaoskit/slo/window.py", "import chaoskit.experiment.lifecycle", LAYERS),
        # A fault reaching into a provider instead of going through the Target protocol.
        ("chaoskit/faults/terminate.py", "import chaoskit.providers.local", LAYERS),
        # The pytest side of the load importing the locust side, even inside a function.
        (
            "chaoskit/load/driver.py",
            "def _late() -> None:\n    import chaoskit.load._locust.worker",
            PROCESS_SIDES,
        ),
        # The pytest side of the local provider importing the system process.
        (
            "chaoskit/providers/local/target.py",
            "import chaoskit.providers.local.system.fleet",
            PROCESS_SIDES,
        ),
        # The chaoskit command importing gevent (it starts workers as processes of their own).
        ("chaoskit/cli.py", "import gevent", PROCESS_SIDES),
        # A message module of the control API importing the system process.
        (
            "chaoskit/providers/local/control_protocol/_wire.py",
            "import chaoskit.providers.local.system.host",
            PROCESS_SIDES,
        ),
        # The lifecycle importing locust itself (it would monkey-patch the pytest process).
        ("chaoskit/experiment/lifecycle.py", "import locust", PROCESS_SIDES),
        # The injection ledger reaching for the verdict.
        ("chaoskit/experiment/injections.py", "import chaoskit.experiment.verdict", JUDGES),
        # A fault calling AWS itself instead of through the AWS target.
        ("chaoskit/faults/terminate.py", "import boto3", BOTO3),
        # The chaoskit command reading an error class of botocore's.
        ("chaoskit/cli.py", "def _late() -> None:\n    import botocore.exceptions", BOTO3),
        # One provider borrowing from another.
        ("chaoskit/providers/aws/target.py", "import chaoskit.providers.local.config", PROVIDERS),
    ],
)
def test_a_bad_import_breaks_the_contracts(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "src" / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{bad_import}\n")
    linted = lint_imports(tmp_path)
    assert linted.returncode != 0, linted.stdout
    broken = linted.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, linted.stdout
