"""The pytest side of the local provider never imports the system process's modules.

The system (``chaoskit.providers.local.system``) runs asyncio servers, a supervisor and the
fault proxy in a process of its own; the pytest process only starts it and talks to its
control port. Importing the system side into pytest would bring all of that in for nothing,
and is the first step towards calling it in-process by mistake.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import chaoskit.providers.local

SYSTEM = "chaoskit.providers.local.system"
PYTEST_SIDE = Path(chaoskit.providers.local.__file__).parent
ENTRY_POINTS = (
    "chaoskit.providers",
    "chaoskit.providers.local",
    "chaoskit.providers.local.environment",
    "chaoskit.providers.local.target",
    "chaoskit.providers.local.client",
    "chaoskit.providers.local.control_protocol",
    "chaoskit.providers.local.startup",
    "chaoskit.providers.local.binaries",
    "chaoskit.plugin",
)


def _modules_after_importing(module: str) -> list[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_importing_the_pytest_side_loads_nothing_of_the_system(module):
    loaded = _modules_after_importing(module)
    assert module in loaded
    assert [name for name in loaded if name == SYSTEM or name.startswith(SYSTEM + ".")] == []


def _imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_pytest_side_module_imports_the_system_even_inside_a_function():
    """Imports that only run on some path (inside a function) are caught here."""
    pytest_side = [
        path
        for path in sorted(PYTEST_SIDE.rglob("*.py"))
        if path.relative_to(PYTEST_SIDE).parts[0] != "system"
    ]
    assert len(pytest_side) >= 8
    offenders = {
        str(path.relative_to(PYTEST_SIDE)): [
            name for name in _imported_names(path) if name.startswith(SYSTEM)
        ]
        for path in pytest_side
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_an_import_of_the_system(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def later():\n    from chaoskit.providers.local.system import fleet\n    return fleet\n"
    )
    assert "chaoskit.providers.local.system.fleet" in _imported_names(bad)
