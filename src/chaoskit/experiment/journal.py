"""The on-disk journal: an append-only JSON-lines log, one per run.

Every fault's intent (what, where, how to undo it) is written and fsync'ed *before* the fault
is injected, and marked done after it is reverted, so a run that is killed half-way leaves a
record of exactly what may still be active. The events themselves are in
``chaoskit.experiment.events``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from chaoskit.experiment.events import (
    FaultIntent,
    FaultNotInjected,
    FaultReverted,
    JournalEvent,
    MalformedEvent,
    UnknownEvent,
    decode,
)


class JournalWriter:
    """Appends events to ``path``; durable events (the faults') reach the disk before
    ``append`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = _ends_torn(path)
        self._file = path.open("a", encoding="utf-8")
        if torn:  # a killed run's half line: what is appended starts a line of its own
            self._file.write("\n")

    def append(self, event: JournalEvent) -> None:
        # default=str: an injection's undo may hold values JSON has no type for.
        self._file.write(json.dumps(event.to_json(), default=str) + "\n")
        self._file.flush()
        if event.durable:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _ends_torn(path: Path) -> bool:
    try:
        with path.open("rb") as existing:
            existing.seek(0, os.SEEK_END)
            if existing.tell() == 0:
                return False
            existing.seek(-1, os.SEEK_END)
            return existing.read(1) != b"\n"
    except FileNotFoundError:
        return False


def read_events(path: Path) -> Iterator[JournalEvent]:
    """The events of one journal. A torn last line (the run was killed mid-write), and a line
    this version does not know, are skipped."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                yield decode(json.loads(line))
            except (json.JSONDecodeError, UnknownEvent, MalformedEvent):
                continue


def unreverted_intents(path: Path) -> list[FaultIntent]:
    """Intents that were written but never marked reverted: faults that may still be active."""
    open_intents: dict[str, FaultIntent] = {}
    for event in read_events(path):
        if isinstance(event, FaultIntent):
            open_intents[event.injection_id] = event
        elif isinstance(event, FaultReverted | FaultNotInjected):
            open_intents.pop(event.injection_id, None)
    return list(open_intents.values())
