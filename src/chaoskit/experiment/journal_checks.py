"""A run's JSON (``chaoskit-<run id>.json``) and an experiment's recorded result, checked
field by field before anything reads them.

A journal is a file on disk: copied, edited by hand, cut short, written by another version.
Read without checks, a damaged one fails far from the damage (a ``"finished": Infinity``
makes the report's charts loop for ever; a NaN, a string where a number belongs or a missing
key raise from deep inside the renderer). Here each is a ``DamagedJournal`` naming the field
(``experiments[0].finished``), what it holds and what it should.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Final

from chaoskit.durations import MAX_DURATION
from chaoskit.experiment.result import SCHEMA_VERSION, InjectionRecord, Phase
from chaoskit.slo.endpoints import decode_endpoints
from chaoskit.slo.instances import decode_instances
from chaoskit.slo.measurement import Measurement
from chaoskit.slo.percentiles import UnreadableEncoding, check_encoding
from chaoskit.slo.seconds import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS

# An epoch second further than this from zero is no time a run happened at (year ~5138).
_MAX_EPOCH: Final = 1e11


class DamagedJournal(ValueError):
    """A field of a journal is missing or holds what it cannot."""


Check = Callable[[object], bool]


def _text(value: object) -> bool:
    return isinstance(value, str)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _moment(value: object) -> bool:
    return isinstance(value, int | float) and _number(value) and abs(value) <= _MAX_EPOCH


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


# What each annotation of a recorded dataclass must hold, as written in its source.
_BY_ANNOTATION: Final[Mapping[str, tuple[Check, str]]] = {
    "str": (_text, "text"),
    "int": (_whole, "a whole number"),
    "float": (_number, "a finite number"),
    "float | None": (_optional(_number), "a finite number or null"),
    "bool": (lambda value: isinstance(value, bool), "true or false"),
    "tuple[str, ...]": (
        lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
        "a list of text",
    ),
    # A provider's own record of a fault (an injection's ``details``): any JSON object.
    "Mapping[str, Any]": (lambda value: isinstance(value, dict), "a JSON object"),
}


def check_journal(data: object) -> None:
    """Raise DamagedJournal naming the first field of a run's JSON that cannot be read."""
    record = _object(data, "the journal")
    version = record.get("schema_version", 1)
    if not (isinstance(version, int) and _whole(version) and 1 <= version <= SCHEMA_VERSION):
        raise DamagedJournal(
            f"schema_version is {_shown(version)}; this chaoskit reads versions 1 to "
            f"{SCHEMA_VERSION} (docs/journal.md): render it with the chaoskit that wrote it, "
            f"or upgrade chaoskit"
        )
    for key in ("run_id", "env"):
        _field(record, key, _text, "text", where="")
    for key in ("started", "finished"):
        _field(record, key, _moment, "a finite epoch time", where="")
    _field(record, "seed", _whole, "a whole number", where="")
    if "resilience_score" in record:
        _field(record, "resilience_score", _optional(_number), "a number or null", where="")
    experiments = record.get("experiments")
    if not isinstance(experiments, list):
        raise DamagedJournal(f"experiments is {_shown(experiments)}, not a list of experiments")
    for index, experiment in enumerate(experiments):
        check_result(experiment, where=f"experiments[{index}]")


def check_result(data: object, *, where: str = "result") -> None:
    """Raise DamagedJournal naming the first field of one experiment's result that cannot
    be read."""
    record = _object(data, where)
    for key in ("name", "env", "outcome", "reason", "cause"):
        _field(record, key, _text, "text", where=where)
    for key in ("started", "finished"):
        _field(record, key, _moment, "a finite epoch time", where=where)
    started, finished = record["started"], record["finished"]
    # Both are finite numbers (_moment, just above); the narrowing is for the type checker.
    assert isinstance(started, int | float) and isinstance(finished, int | float)
    span = float(finished) - float(started)
    if not 0 <= span <= MAX_DURATION:
        raise DamagedJournal(
            f"{where}.finished is {span:g}s after its start; an experiment lasts from 0 to "
            f"{MAX_DURATION}s"
        )
    _field(record, "objectives", *_BY_ANNOTATION["tuple[str, ...]"], where=where)
    if "expected_to_fail" in record:
        _field(record, "expected_to_fail", *_BY_ANNOTATION["bool"], where=where)
    for key, kind in (("phases", Phase), ("injections", InjectionRecord)):
        for index, item in enumerate(_list(record, key, where=where)):
            _dataclass(item, kind, where=f"{where}.{key}[{index}]")
    for index, item in enumerate(_list(record, "measurements", where=where)):
        _dataclass(item, Measurement, where=f"{where}.measurements[{index}]")
    for index, item in enumerate(_list(record, "seconds", where=where)):
        _second(item, where=f"{where}.seconds[{index}]")
    if "as_written" in record:
        _as_written(record["as_written"], where=f"{where}.as_written")
    if "instances" in record:
        try:
            decode_instances(record["instances"])
        except ValueError as error:
            raise DamagedJournal(f"{where}.instances: {error}") from None


def _texts_by_name(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _as_written(data: object, *, where: str) -> None:
    record = _object(data, where)
    for key in ("source", "location"):
        if key in record:
            _field(record, key, _text, "text", where=where)
    for key in ("arguments", "load"):
        if key in record:
            _field(record, key, _texts_by_name, "an object of texts", where=where)
    if "faults" in record:
        _field(record, "faults", *_BY_ANNOTATION["tuple[str, ...]"], where=where)
    for index, item in enumerate(_list(record, "targets", where=where)):
        target = _object(item, f"{where}.targets[{index}]")
        _field(target, "name", _text, "text", where=f"{where}.targets[{index}]")
        if "makeup" in target:
            _field(
                target,
                "makeup",
                _texts_by_name,
                "an object of texts",
                where=f"{where}.targets[{index}]",
            )


def _second(data: object, *, where: str) -> None:
    record = _object(data, where)
    _field(record, "second", lambda v: _whole(v) and _moment(v), "an epoch second", where=where)
    _field(record, "ok", _count, "a count", where=where)
    for key in ("expected", "sent", "clamped", "queued", "in_flight", "dropped", "users"):
        if key in record:
            _field(record, key, _count, "a count", where=where)
    for key in ("lag_ms", "queued_max_ms", "in_flight_age_us"):
        if key in record:
            _field(record, key, _number, "a finite number", where=where)
    for key in ("invalid",):
        if key in record:
            _field(record, key, _text, "text", where=where)
    failed = record.get("failed", {})
    if not isinstance(failed, dict) or not all(_count(count) for count in failed.values()):
        raise DamagedJournal(f"{where}.failed is {_shown(failed)}, not counts by reason")
    _field(record, "latency_us", _optional(_text), "an encoded histogram or null", where=where)
    encoded = record["latency_us"]
    if isinstance(encoded, str):
        # Decoded only when a chart or a window needs it, deep in the renderer: checked here,
        # at the cost of base64 and zlib alone (bench/report.py, check_s).
        try:
            check_encoding(encoded, layout=(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS))
        except UnreadableEncoding as error:
            raise DamagedJournal(
                f"{where}.latency_us is {_shown(encoded)}, not an encoded histogram ({error})"
            ) from None
    if "endpoints" in record:
        try:
            decode_endpoints(record["endpoints"])
        except ValueError as error:
            raise DamagedJournal(f"{where}.endpoints: {error}") from None


def _dataclass(data: object, kind: type, *, where: str) -> None:
    record = _object(data, where)
    fields = {field.name: field for field in dataclasses.fields(kind)}
    unknown = sorted(set(record) - set(fields))
    if unknown:
        raise DamagedJournal(f"{where} has unknown field(s) {', '.join(unknown)}")
    for name, field in fields.items():
        required = field.default is dataclasses.MISSING and (
            field.default_factory is dataclasses.MISSING
        )
        if name not in record and not required:
            continue
        annotation = str(field.type)
        check, meaning = _BY_ANNOTATION.get(annotation, (_text, "text"))
        _field(record, name, check, meaning, where=where)


def _object(data: object, where: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise DamagedJournal(f"{where} is {_shown(data)}, not a JSON object")
    return data


def _list(record: Mapping[str, object], key: str, *, where: str) -> list[object]:
    value = record.get(key, [])
    if not isinstance(value, list):
        raise DamagedJournal(f"{where}.{key} is {_shown(value)}, not a list")
    return value


def _field(
    record: Mapping[str, object], key: str, check: Check, meaning: str, *, where: str
) -> None:
    name = f"{where}.{key}" if where else key
    if key not in record:
        raise DamagedJournal(f"{name} is missing")
    if not check(record[key]):
        raise DamagedJournal(f"{name} is {_shown(record[key])}, not {meaning}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
