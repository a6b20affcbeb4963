"""The machine's list of runs in progress, so that ``chaoskit stop`` and ``chaoskit recover``
find every run whatever its report folder (``--chaos-report``, ``report_dir``) or the folder
they are started in.

Each run lists its journal here when it opens it, as one small file named by its run id
holding the journal's absolute path, and takes it off when the journal is closed. A run that
was killed stays listed: its journal may hold faults to recover, and ``chaoskit recover``
takes it off once nothing in it is left to settle. The folder is ``$CHAOSKIT_RUNS_DIR``, or
``$XDG_STATE_HOME/chaoskit/runs`` (``~/.local/state/chaoskit/runs``).

The list is a convenience on top of the journals, never the only record: a folder that
cannot be written leaves the run unlisted (it says so), and the commands still read the
report folder they are given.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

RUNS_DIR_VARIABLE = "CHAOSKIT_RUNS_DIR"


def runs_dir() -> Path:
    explicit = os.environ.get(RUNS_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "chaoskit" / "runs"


def register(run_id: str, journal: Path) -> str:
    """List ``journal`` as run ``run_id``'s; "" when listed, else why not (the run goes on)."""
    folder = runs_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{run_id}.journal").write_text(str(journal.resolve()), encoding="utf-8")
    except OSError as error:
        return (
            f"this run is not in the list of runs in {folder} ({error}); chaoskit stop and "
            f"chaoskit recover find it only with --dir {journal.parent.parent}"
        )
    return ""


def unregister(run_id: str) -> None:
    with contextlib.suppress(OSError):
        (runs_dir() / f"{run_id}.journal").unlink()


def registered_journals() -> dict[Path, str]:
    """The journals listed, each with its run id; entries whose journal is gone are dropped."""
    journals: dict[Path, str] = {}
    try:
        entries = sorted(runs_dir().glob("*.journal"))
    except OSError:
        return journals
    for entry in entries:
        try:
            journal = Path(entry.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError):
            continue
        if journal.is_absolute() and journal.suffix == ".jsonl" and journal.is_file():
            journals[journal] = entry.stem
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return journals
