"""The replies of the control API, one class per kind of answer, and ``Failure``.

A reply's ``to_json`` gives its fields; ``encode_answer`` adds ``"ok"``. Runs on both sides:
the system encodes them, ``ControlClient`` reads them back with ``from_json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from chaoskit.errors import ChaoskitError, ConfigError, ProviderError
from chaoskit.providers.local.control_protocol._wire import (
    NETWORK_FAULT_FIELDS,
    JsonObject,
    as_mapping,
    float_field,
    id_tuple,
    int_field,
    list_field,
    mapping_field,
    network_fault_from_json,
    str_field,
)
from chaoskit.slo.instances import InstanceTraffic, decode_instances, encode_instances
from chaoskit.vocabulary import NETWORK_FAULT_KINDS, Instance, NetworkFault


class Reply:
    """The fields of a successful answer (``"ok": true`` is added on the wire)."""

    def to_json(self) -> JsonObject:
        return {}


@dataclass(frozen=True, kw_only=True)
class Done(Reply):
    """The answer of an op that returns nothing (``ping``, ``shutdown``)."""

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Done:
        return cls()


@dataclass(frozen=True, kw_only=True)
class TargetEndpoint:
    url: str
    desired: int


@dataclass(frozen=True, kw_only=True)
class TargetsListed(Reply):
    targets: Mapping[str, TargetEndpoint]

    def to_json(self) -> JsonObject:
        return {
            "targets": {
                name: {"url": target.url, "desired": target.desired}
                for name, target in self.targets.items()
            }
        }

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> TargetsListed:
        targets = mapping_field(fields, "targets")
        return cls(
            targets={
                str(name): TargetEndpoint(
                    url=str_field(entry, "url"), desired=int_field(entry, "desired")
                )
                for name, entry in ((name, as_mapping(value)) for name, value in targets.items())
            }
        )


@dataclass(frozen=True, kw_only=True)
class InstanceStatus:
    """One live instance as the system reports it: the shared ``Instance`` plus its process."""

    id: str
    target: str
    address: str
    state: str  # "healthy", "unhealthy", "stopped" or "rebooting"
    tags: Mapping[str, str] = field(default_factory=dict)
    pid: int = 0  # 0 for an instance chaoskit does not run (an external service)
    started_at: float = 0.0  # epoch seconds the current process started

    def instance(self) -> Instance:
        return Instance(
            id=self.id, target=self.target, address=self.address, state=self.state, tags=self.tags
        )

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "target": self.target,
            "address": self.address,
            "state": self.state,
            "tags": dict(self.tags),
            "pid": self.pid,
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> InstanceStatus:
        tags = mapping_field(fields, "tags")
        return cls(
            id=str_field(fields, "id"),
            target=str_field(fields, "target"),
            address=str_field(fields, "address"),
            state=str_field(fields, "state"),
            tags={str(key): str(value) for key, value in tags.items()},
            pid=int_field(fields, "pid"),
            started_at=float_field(fields, "started_at"),
        )


@dataclass(frozen=True, kw_only=True)
class InstancesListed(Reply):
    instances: tuple[InstanceStatus, ...]

    def to_json(self) -> JsonObject:
        return {"instances": [instance.to_json() for instance in self.instances]}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> InstancesListed:
        return cls(
            instances=tuple(
                InstanceStatus.from_json(as_mapping(item))
                for item in list_field(fields, "instances")
            )
        )


@dataclass(frozen=True, kw_only=True)
class Health(Reply):
    """How many instances a target wants, has, and has healthy."""

    desired: int
    live: int
    healthy: int

    @property
    def at_capacity(self) -> bool:
        return self.healthy == self.live == self.desired

    def to_json(self) -> JsonObject:
        return {"desired": self.desired, "live": self.live, "healthy": self.healthy}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Health:
        return cls(
            desired=int_field(fields, "desired"),
            live=int_field(fields, "live"),
            healthy=int_field(fields, "healthy"),
        )


@dataclass(frozen=True, kw_only=True)
class Terminated(Reply):
    ids: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"terminated": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Terminated:
        return cls(ids=id_tuple(fields.get("terminated"), error=ProviderError))


@dataclass(frozen=True, kw_only=True)
class Rebooting(Reply):
    ids: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"rebooting": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Rebooting:
        return cls(ids=id_tuple(fields.get("rebooting"), error=ProviderError))


@dataclass(frozen=True, kw_only=True)
class FaultAdded(Reply):
    """The handle that ``remove_fault`` takes."""

    handle: str

    def to_json(self) -> JsonObject:
        return {"handle": self.handle}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultAdded:
        return cls(handle=str_field(fields, "handle"))


@dataclass(frozen=True, kw_only=True)
class FaultRemoved(Reply):
    removed: bool  # False: no fault had that handle (never one, or removed already)

    def to_json(self) -> JsonObject:
        return {"removed": self.removed}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultRemoved:
        return cls(removed=fields.get("removed") is True)


@dataclass(frozen=True, kw_only=True)
class FaultStatus:
    """A fault the system holds, by handle: a network fault of the proxy (``network`` set) or
    a fault of the fleet on the processes (``kind`` "stop", or "stress" with ``workers``)."""

    handle: str
    target: str
    ids: tuple[str, ...]
    kind: str
    network: NetworkFault | None = None
    workers: int | None = None

    def to_json(self) -> JsonObject:
        if self.network is not None:
            return {
                "handle": self.handle,
                "target": self.target,
                "ids": list(self.ids),
                **dataclasses.asdict(self.network),
            }
        fields: JsonObject = {
            "handle": self.handle,
            "target": self.target,
            "kind": self.kind,
            "ids": list(self.ids),
        }
        if self.workers is not None:
            fields["workers"] = self.workers
        return fields

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultStatus:
        kind = str_field(fields, "kind")
        network = None
        if kind in NETWORK_FAULT_KINDS:
            spec_fields = {name: fields[name] for name in NETWORK_FAULT_FIELDS if name in fields}
            network = network_fault_from_json(spec_fields)
        workers = fields.get("workers")
        return cls(
            handle=str_field(fields, "handle"),
            target=str_field(fields, "target"),
            ids=id_tuple(fields.get("ids"), error=ProviderError),
            kind=kind,
            network=network,
            workers=workers if isinstance(workers, int) else None,
        )


@dataclass(frozen=True, kw_only=True)
class FaultsListed(Reply):
    faults: tuple[FaultStatus, ...]

    def to_json(self) -> JsonObject:
        return {"faults": [fault.to_json() for fault in self.faults]}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultsListed:
        return cls(
            faults=tuple(
                FaultStatus.from_json(as_mapping(item)) for item in list_field(fields, "faults")
            )
        )


@dataclass(frozen=True, kw_only=True)
class PrometheusStarted(Reply):
    url: str

    def to_json(self) -> JsonObject:
        return {"url": self.url}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> PrometheusStarted:
        return cls(url=str_field(fields, "url"))


@dataclass(frozen=True, kw_only=True)
class InstancesCounted(Reply):
    """What each instance of a target served, per second (``slo.instances``)."""

    instances: tuple[InstanceTraffic, ...]

    def to_json(self) -> JsonObject:
        return {"instances": encode_instances(self.instances)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> InstancesCounted:
        try:
            return cls(instances=decode_instances(fields.get("instances")))
        except ValueError as error:
            raise ProviderError(f"the local system answered malformed counts: {error}") from None


@dataclass(frozen=True, kw_only=True)
class Failure:
    """A refused or failed request; ``kind`` says which exception the client raises."""

    kind: Literal["config", "provider"]
    error: str

    @classmethod
    def of(cls, error: Exception) -> Failure:
        return cls(
            kind="config" if isinstance(error, ConfigError) else "provider", error=str(error)
        )

    def exception(self) -> ChaoskitError:
        return ConfigError(self.error) if self.kind == "config" else ProviderError(self.error)

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Failure:
        return cls(
            kind="config" if fields.get("kind") == "config" else "provider",
            error=str(fields.get("error")),
        )


def encode_answer(answer: Reply | Failure) -> JsonObject:
    """The object the server writes for ``answer``."""
    if isinstance(answer, Failure):
        return {"ok": False, "kind": answer.kind, "error": answer.error}
    return {"ok": True, **answer.to_json()}
