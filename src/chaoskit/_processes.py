"""What every process chaoskit starts (local system, load workers) inherits, and when a
process started (to tell a run's process from another that got its id later)."""

from __future__ import annotations

import os
from pathlib import Path

import chaoskit


def child_environment() -> dict[str, str]:
    """This process's environment, with this very chaoskit first on the child's import path.

    chaoskit may be importable here only through sys.path changes (pytest's pythonpath
    setting, a conftest); the children must import the same package, not another install.
    """
    environment = dict(os.environ)
    package_root = str(Path(chaoskit.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (package_root, environment.get("PYTHONPATH", "")) if path
    )
    return environment


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds, to about a second), or None when that
    cannot be told here (no such process, or no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text(encoding="ascii").splitlines()
            if line.startswith("btime ")
        )
        # Field 22, counted after the command name, which may itself hold spaces and ')'.
        ticks = int(stat.rpartition(")")[2].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def process_has_exited(pid: int) -> bool:
    """Whether process ``pid`` has ended but was not yet reaped by its parent (a zombie):
    it holds its id, yet runs nothing any more. False where that cannot be told."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] in ("Z", "X")
