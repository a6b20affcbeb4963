"""The wire format of the control API: one JSON object per line, and the readers that check
each field as it is taken out (a request is refused with ConfigError, a malformed reply is a
ProviderError)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

from chaoskit.errors import ChaoskitError, ConfigError, ProviderError
from chaoskit.vocabulary import NetworkFault

# What ``json.dumps`` is given: the fields of one request or reply.
JsonObject = dict[str, object]
NETWORK_FAULT_FIELDS = tuple(spec.name for spec in dataclasses.fields(NetworkFault))


def dumps(message: JsonObject) -> bytes:
    """One line of the wire format."""
    return json.dumps(message).encode() + b"\n"


def network_fault_from_json(fields: Mapping[str, object]) -> NetworkFault:
    """A ``NetworkFault`` from its fields; ConfigError for unknown fields or bad values."""
    try:
        return NetworkFault(**fields)  # type: ignore[arg-type]  # NetworkFault checks each value
    except TypeError as error:
        raise ConfigError(f"fault={dict(fields)!r}: {error}") from None


# field readers: requests are refused with ConfigError, malformed replies with ProviderError


def target_field(fields: Mapping[str, object]) -> str:
    target = fields.get("target")
    if not isinstance(target, str):
        raise ConfigError(f"target={target!r} must be the name of a target.")
    return target


def id_tuple(value: object, *, error: type[ChaoskitError] = ConfigError) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(f"ids={value!r} must be a list of instance ids.")
    return tuple(value)


def as_mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ProviderError(f"the local system answered {value!r} where an object belongs.")
    return value


def mapping_field(fields: Mapping[str, object], name: str) -> Mapping[str, object]:
    return as_mapping(fields.get(name))


def list_field(fields: Mapping[str, object], name: str) -> Sequence[object]:
    value = fields.get(name)
    if not isinstance(value, list):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a list.")
    return value


def str_field(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a string.")
    return value


def int_field(fields: Mapping[str, object], name: str) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a whole number.")
    return value


def float_field(fields: Mapping[str, object], name: str) -> float:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a number.")
    return float(value)
