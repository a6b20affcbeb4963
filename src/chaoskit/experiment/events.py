"""The journal's events: one frozen value per line of a run's JSON-lines journal.

The safety model rests on these lines: a ``FaultIntent`` reaches the disk before its fault is
injected, and a ``FaultReverted`` or ``FaultNotInjected`` closes it, so ``chaoskit recover``
can tell from the journal alone what a killed run may have left active. Fault events are
``durable`` (fsync'ed before the lifecycle goes on).

Each event encodes to ``{"event": NAME, ...fields}`` with the keys journals have always had,
so journals written by earlier versions still read, recover and re-render. ``decode`` turns a
parsed line back into its event; a line of an unknown event, or one missing a field, raises
``UnknownEvent`` or ``MalformedEvent``. The reader skips it, unless it is a fault intent or
injection (``chaoskit.experiment.journal.UnreadableFaultEvent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Self

from chaoskit.experiment.journal_checks import check_result
from chaoskit.experiment.result import ExperimentResult, JsonObject


class UnknownEvent(ValueError):
    """A line whose ``event`` is not one of this module's."""


class MalformedEvent(ValueError):
    """A known event missing a field, or with a field of the wrong type."""


@dataclass(frozen=True, kw_only=True)
class RunStarted:
    event: ClassVar[str] = "run_started"
    durable: ClassVar[bool] = False

    run_id: str
    env: str
    provider: str = ""
    seed: int | None = None
    at: float | None = None
    pid: int | None = None  # the pytest process: recover leaves a run alone while it lives
    # How to reach the environment again (an AWS region, endpoint, the account checked):
    # what `chaoskit recover` reconnects with. Never credentials.
    settings: Mapping[str, object] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, object]:
        encoded: dict[str, object] = {
            "event": self.event,
            "run_id": self.run_id,
            "env": self.env,
            "provider": self.provider,
            "seed": self.seed,
            "at": self.at,
            "pid": self.pid,
        }
        if self.settings:
            encoded["settings"] = dict(self.settings)
        return encoded

    @classmethod
    def from_json(cls, data: JsonObject) -> RunStarted:
        settings = data.get("settings", {})
        if not isinstance(settings, dict):
            raise MalformedEvent("run_started: 'settings' is not an object")
        started = cls(
            run_id=_text(data, "run_id"),
            env=_text(data, "env"),
            provider=_text(data, "provider", default=""),
            seed=_integer(data, "seed"),
            at=_number(data, "at"),
            pid=_integer(data, "pid"),
            settings=settings,
        )
        if started.pid is not None and started.pid <= 1:
            # Signalled as it stands, 0 and -1 would reach a process group or every process.
            raise MalformedEvent(f"run_started: 'pid' {started.pid} is not a process id of a run")
        return started


@dataclass(frozen=True, kw_only=True)
class ExperimentStarted:
    event: ClassVar[str] = "experiment_started"
    durable: ClassVar[bool] = False

    name: str
    env: str
    at: float

    def to_json(self) -> dict[str, object]:
        return {"event": self.event, "name": self.name, "env": self.env, "at": self.at}

    @classmethod
    def from_json(cls, data: JsonObject) -> ExperimentStarted:
        at = _number(data, "at")
        if at is None:
            raise MalformedEvent("experiment_started without 'at'")
        return cls(name=_text(data, "name"), env=_text(data, "env"), at=at)


@dataclass(frozen=True, kw_only=True)
class FaultIntent:
    """Written before the fault is injected: what, where, in which experiment."""

    event: ClassVar[str] = "fault_intent"
    durable: ClassVar[bool] = True

    injection_id: str
    experiment: str
    env: str
    fault: str
    target: str
    instance_ids: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "event": self.event,
            "injection_id": self.injection_id,
            "experiment": self.experiment,
            "env": self.env,
            "fault": self.fault,
            "target": self.target,
            "instance_ids": list(self.instance_ids),
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> FaultIntent:
        ids = data.get("instance_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise MalformedEvent("fault_intent without a list of instance_ids")
        return cls(
            injection_id=_text(data, "injection_id"),
            experiment=_text(data, "experiment", default=""),
            env=_text(data, "env"),
            fault=_text(data, "fault"),
            target=_text(data, "target"),
            instance_ids=tuple(ids),
        )


@dataclass(frozen=True, kw_only=True)
class FaultInjected:
    """The fault took effect; ``undo`` says how to revert it without the process that did it."""

    event: ClassVar[str] = "fault_injected"
    durable: ClassVar[bool] = True

    injection_id: str
    at: float
    undo: Mapping[str, object]

    def to_json(self) -> dict[str, object]:
        return {
            "event": self.event,
            "injection_id": self.injection_id,
            "at": self.at,
            "undo": dict(self.undo),
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> FaultInjected:
        at, undo = _number(data, "at"), data.get("undo", {})
        if at is None or not isinstance(undo, dict):
            raise MalformedEvent("fault_injected without 'at' or 'undo'")
        return cls(injection_id=_text(data, "injection_id"), at=at, undo=undo)


@dataclass(frozen=True, kw_only=True)
class _FaultError:
    """A fault event that carries the error that ended an injection or a revert."""

    event: ClassVar[str]
    durable: ClassVar[bool] = True

    injection_id: str
    error: str

    def to_json(self) -> dict[str, object]:
        return {"event": self.event, "injection_id": self.injection_id, "error": self.error}

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(injection_id=_text(data, "injection_id"), error=_text(data, "error"))


@dataclass(frozen=True, kw_only=True)
class FaultNotInjected(_FaultError):
    """Injecting failed before the fault took effect: nothing to revert."""

    event: ClassVar[str] = "fault_not_injected"


@dataclass(frozen=True, kw_only=True)
class FaultRevertFailed(_FaultError):
    """Reverting failed, or injecting failed in a way that may have left the fault active."""

    event: ClassVar[str] = "fault_revert_failed"


@dataclass(frozen=True, kw_only=True)
class FaultReverted:
    """The fault is gone: reverted by the run at ``at``, or settled afterwards ``by``
    ``chaoskit recover`` (with a ``note`` saying why, and no time)."""

    event: ClassVar[str] = "fault_reverted"
    durable: ClassVar[bool] = True

    injection_id: str
    at: float | None = None
    by: str = ""
    note: str = ""

    def to_json(self) -> dict[str, object]:
        encoded: dict[str, object] = {"event": self.event, "injection_id": self.injection_id}
        if self.at is not None:
            encoded["at"] = self.at
        if self.by:
            encoded["by"] = self.by
        if self.note:
            encoded["note"] = self.note
        return encoded

    @classmethod
    def from_json(cls, data: JsonObject) -> FaultReverted:
        return cls(
            injection_id=_text(data, "injection_id"),
            at=_number(data, "at"),
            by=_text(data, "by", default=""),
            note=_text(data, "note", default=""),
        )


@dataclass(frozen=True, kw_only=True)
class ExperimentFinished:
    event: ClassVar[str] = "experiment_finished"
    durable: ClassVar[bool] = False

    result: ExperimentResult

    def to_json(self) -> dict[str, object]:
        return {"event": self.event, "result": self.result.to_json()}

    @classmethod
    def from_json(cls, data: JsonObject) -> ExperimentFinished:
        result = data.get("result")
        if not isinstance(result, dict):
            raise MalformedEvent("experiment_finished without a result")
        try:
            check_result(result)
            return cls(result=ExperimentResult.from_json(result))
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedEvent(f"experiment_finished with a bad result: {error}") from error


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    event: ClassVar[str] = "run_finished"
    durable: ClassVar[bool] = False

    at: float | None = None

    def to_json(self) -> dict[str, object]:
        return {"event": self.event, "at": self.at}

    @classmethod
    def from_json(cls, data: JsonObject) -> RunFinished:
        return cls(at=_number(data, "at"))


JournalEvent = (
    RunStarted
    | ExperimentStarted
    | FaultIntent
    | FaultInjected
    | FaultNotInjected
    | FaultRevertFailed
    | FaultReverted
    | ExperimentFinished
    | RunFinished
)
_BY_NAME: dict[str, type[JournalEvent]] = {
    kind.event: kind
    for kind in (
        RunStarted,
        ExperimentStarted,
        FaultIntent,
        FaultInjected,
        FaultNotInjected,
        FaultRevertFailed,
        FaultReverted,
        ExperimentFinished,
        RunFinished,
    )
}


def decode(data: object) -> JournalEvent:
    """The event a parsed journal line holds; UnknownEvent or MalformedEvent otherwise."""
    if not isinstance(data, dict):
        raise MalformedEvent("a journal line is a JSON object")
    kind = _BY_NAME.get(str(data.get("event")))
    if kind is None:
        raise UnknownEvent(f"unknown journal event {data.get('event')!r}")
    return kind.from_json(data)


def _text(data: JsonObject, key: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise MalformedEvent(f"{data.get('event')}: {key!r} is not text")
    return value


def _number(data: JsonObject, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedEvent(f"{data.get('event')}: {key!r} is not a number")
    return float(value)


def _integer(data: JsonObject, key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEvent(f"{data.get('event')}: {key!r} is not a whole number")
    return value
