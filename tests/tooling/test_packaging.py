"""The wheel carries what an installed chaoskit needs: the report templates and the plugin."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_report_templates_and_registers_the_plugin(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("chaoskit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        registered = archive.read(entry_points).decode()
    for template in (ROOT / "reports" / "templates").iterdir():
        assert f"chaoskit/_templates/{template.name}" in names
    assert "chaoskit/py.typed" in names
    assert "chaoskit = chaoskit.plugin" in registered
    assert "chaoskit = chaoskit.cli:main" in registered
