"""The on-disk journal: an append-only JSON-lines log, one per run.

Every fault's intent (what, where, how to undo it) is written and fsync'ed *before* the fault
is injected, and marked done after it is reverted, so a run that is killed half-way leaves a
record of exactly what may still be active. The events themselves are in
``chaoskit.experiment.events``.

Reading never silently drops what may be an active fault: a line that names a fault intent
or injection but does not decode is an ``UnreadableFaultEvent``, which ``chaoskit recover``
hands to a human. Any other line that does not read (not UTF-8, not JSON, not an event) is a
``DamagedLine``, reported with its place and skipped; one that is not even JSON may have been
anything, a fault intent included, and says so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from chaoskit.experiment.events import (
    ExperimentFinished,
    FaultInjected,
    FaultIntent,
    FaultNotInjected,
    FaultReverted,
    JournalEvent,
    MalformedEvent,
    UnknownEvent,
    decode,
)
from chaoskit.experiment.result import ExperimentResult
from chaoskit.redaction import DEFAULT_REDACTOR, Redactor

# Valid JSON that json.loads refuses all the same: Python reads no integer of more digits than
# sys.get_int_max_str_digits() from text (a guard against quadratic-time conversion).
TOO_MANY_DIGITS: Final = (
    f"a number of more than {sys.get_int_max_str_digits()} digits, more than any journal holds"
)

# The events that say a fault may be active. Losing another fault event hides nothing: a
# closing event that does not read leaves its intent open, and so reported.
_OPENING_EVENTS = frozenset({FaultIntent.event, FaultInjected.event})


@dataclass(frozen=True, kw_only=True)
class UnreadableFaultEvent:
    """A journal line that names a fault intent or injection but does not decode (a field is
    missing or of the wrong type): it may be the only record of a fault still active."""

    path: Path
    line: int  # from 1
    event: str
    injection_id: str | None  # None: not readable either
    fields: Mapping[str, object]  # the line's other fields, as far as they could be read
    error: str  # what is wrong with it

    def describe(self) -> str:
        readable = ", ".join(f"{key}={value!r}" for key, value in self.fields.items())
        return (
            f"line {self.line} of {self.path}, a {self.event} chaoskit cannot read "
            f"({self.error}): {readable or 'no fields'}"
        )


@dataclass(frozen=True, kw_only=True)
class DamagedLine:
    """A journal line that does not read as an event, skipped."""

    path: Path
    line: int  # from 1
    why: str
    # Whether it may have been a fault's event: its text could not be read at all.
    may_be_fault: bool

    def describe(self) -> str:
        return f"line {self.line} of {self.path} is damaged ({self.why}); skipped it"


class JournalWriter:
    """Appends events to ``path``; durable events (the faults') reach the disk before
    ``append`` returns.

    This is where data enters the journal, so it is where credentials are taken out: every
    string of every event goes through ``redactor`` (``chaoskit.redaction``) on its way in,
    and an experiment's result is handed back as recorded (``finished``), so that the
    report, the run's JSON and ``chaos.result`` only ever see the redacted text.
    """

    def __init__(self, path: Path, *, redactor: Redactor = DEFAULT_REDACTOR) -> None:
        self.path = path
        self.redactor = redactor
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = _ends_torn(path)
        self._file = path.open("a", encoding="utf-8")
        if torn:  # a killed run's half line: what is appended starts a line of its own
            self._file.write("\n")

    def append(self, event: JournalEvent) -> dict[str, object]:
        """Write ``event``; returns what was written (redacted)."""
        written = self.redactor.value(event.to_json())
        assert isinstance(written, dict)  # an event encodes to a JSON object
        # default=str: an injection's undo may hold values JSON has no type for.
        self._file.write(json.dumps(written, default=str) + "\n")
        self._file.flush()
        if event.durable:
            os.fsync(self._file.fileno())
        return written

    def finished(self, result: ExperimentResult) -> ExperimentResult:
        """Record an experiment's result; returns it as recorded, credentials redacted."""
        written = self.append(ExperimentFinished(result=result))["result"]
        assert isinstance(written, dict)
        # What cannot be reverted is not in the JSON; the session needs it to stop.
        return replace(ExperimentResult.from_json(written), revert_failures=result.revert_failures)

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
    """The events of one journal. A torn line (the run was killed mid-write), a line this
    version does not know, and one that does not decode are skipped: see
    ``unreadable_fault_events`` for those that may hide an active fault."""
    for read in _read(path):
        if not isinstance(read, UnreadableFaultEvent | DamagedLine):
            yield read


def unreverted_intents(path: Path) -> list[FaultIntent]:
    """Intents that were written but never marked reverted: faults that may still be active.

    An intent that does not decode is not among them: ``unreadable_fault_events`` has it.
    """
    return list(scan(path).open_intents)


def damaged_lines(path: Path) -> list[DamagedLine]:
    """The lines of a journal that do not read as events, with why (a torn last line, the
    mark of a run killed mid-write, is not damage: see ``_read``)."""
    return list(scan(path).damaged)


def unreadable_fault_events(path: Path) -> list[UnreadableFaultEvent]:
    """Fault intents and injections that do not decode and that no later event closes: each
    may be a fault still active, which only a human can tell."""
    return list(scan(path).unreadable)


@dataclass(frozen=True, kw_only=True)
class JournalScan:
    """One journal read once: its events, its damaged lines, the intents still open and the
    fault events that do not decode and that nothing closed."""

    events: tuple[JournalEvent, ...]
    damaged: tuple[DamagedLine, ...]
    open_intents: tuple[FaultIntent, ...]
    unreadable: tuple[UnreadableFaultEvent, ...]


def scan(path: Path) -> JournalScan:
    """Read ``path`` once for all that ``chaoskit recover`` looks at (OSError if it cannot)."""
    events: list[JournalEvent] = []
    damaged: list[DamagedLine] = []
    open_intents: dict[str, FaultIntent] = {}
    unreadable: list[UnreadableFaultEvent] = []
    for read in _read(path):
        if isinstance(read, DamagedLine):
            damaged.append(read)
        elif isinstance(read, UnreadableFaultEvent):
            unreadable.append(read)
        else:
            events.append(read)
            if isinstance(read, FaultIntent):
                open_intents[read.injection_id] = read
            elif isinstance(read, FaultReverted | FaultNotInjected):
                open_intents.pop(read.injection_id, None)
                # A journal written by a later version may fail to decode here line after
                # line; what it closed again is settled all the same.
                unreadable = [u for u in unreadable if u.injection_id != read.injection_id]
    return JournalScan(
        events=tuple(events),
        damaged=tuple(damaged),
        open_intents=tuple(open_intents.values()),
        unreadable=tuple(unreadable),
    )


def _read(path: Path) -> Iterator[JournalEvent | UnreadableFaultEvent | DamagedLine]:
    lines = path.read_bytes().splitlines(keepends=True)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            yield DamagedLine(path=path, line=number, why="not UTF-8 text", may_be_fault=True)
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            if error.pos >= len(text) or error.msg.startswith("Unterminated string"):
                # Torn: valid JSON cut short, by a run killed mid-write. That hides no fault:
                # an intent is on the disk whole before its fault is injected, and a torn
                # closing event leaves its intent open. (After `chaoskit recover` appended,
                # such a line is no longer last.)
                continue
            yield DamagedLine(path=path, line=number, why="not JSON", may_be_fault=True)
            continue
        except RecursionError:
            yield DamagedLine(path=path, line=number, why="JSON nested too deep", may_be_fault=True)
            continue
        except ValueError:  # not a JSONDecodeError, caught above: what json.loads then raises
            yield DamagedLine(path=path, line=number, why=TOO_MANY_DIGITS, may_be_fault=True)
            continue
        try:
            yield decode(data)
        except UnknownEvent:
            if not isinstance(data.get("event"), str):
                yield DamagedLine(
                    path=path, line=number, why="a JSON object without an event", may_be_fault=False
                )
            continue  # an event of a later version: what it says is not this one's to act on
        except MalformedEvent as error:
            event = data.get("event") if isinstance(data, dict) else None
            if event not in _OPENING_EVENTS:
                yield DamagedLine(path=path, line=number, why=str(error), may_be_fault=False)
                continue
            injection_id = data.get("injection_id")
            yield UnreadableFaultEvent(
                path=path,
                line=number,
                event=str(event),
                injection_id=injection_id if isinstance(injection_id, str) else None,
                fields={k: v for k, v in data.items() if k != "event"},
                error=str(error),
            )
