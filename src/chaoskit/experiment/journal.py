"""The on-disk journal: an append-only JSON-lines log, one per run.

Every fault's intent (what, where, how to undo it) is written and fsync'ed *before* the fault
is injected, and marked done after it is reverted, so a run that is killed half-way leaves a
record of exactly what may still be active.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JournalWriter:
    """Appends events to ``path``; ``durable=True`` events reach the disk before returning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def append(self, event: str, *, durable: bool = False, **fields: Any) -> None:
        self._file.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of one journal; a torn last line (the run was killed mid-write) is skipped."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def unreverted_intents(path: Path) -> list[dict[str, Any]]:
    """Intents that were written but never marked reverted: faults that may still be active."""
    open_intents: dict[str, dict[str, Any]] = {}
    for event in read_events(path):
        if event["event"] == "fault_intent":
            open_intents[event["injection_id"]] = event
        elif event["event"] in ("fault_reverted", "fault_not_injected"):
            open_intents.pop(event["injection_id"], None)
    return list(open_intents.values())
