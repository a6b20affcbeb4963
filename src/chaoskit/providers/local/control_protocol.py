"""The local system's control API as typed values: every request and every reply.

Both ends import this module: ``ControlClient`` in the pytest process and the control server
of the system process (``system/control.py``). It depends on the standard library and the
shared vocabulary only, so neither side pulls in the other.

On the wire it is JSON lines over TCP, one object per line each way. A request is
``{"op": OP, "token": TOKEN, **fields}``; a reply is ``{"ok": true, **fields}`` or
``{"ok": false, "kind": "config" | "provider", "error": TEXT}``. Each request class names
its ``op`` and parses the reply it gets, so ``ControlClient.call(ListInstances(...))`` is
typed as returning ``InstancesListed``.

Parsing a request checks every field the way the pytest side does before sending it, so a
hand-written request (the integration tests speak the wire format directly) is refused with
the same ConfigError.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Literal, TypeVar

from chaoskit.errors import ChaoskitError, ConfigError, ProviderError
from chaoskit.vocabulary import (
    NETWORK_FAULT_KINDS,
    CpuStress,
    Instance,
    NetworkFault,
    check_workers,
)

# What ``json.dumps`` is given: the fields of one request or reply.
JsonObject = dict[str, object]


# replies


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
        targets = _mapping(fields, "targets")
        return cls(
            targets={
                str(name): TargetEndpoint(url=_str(entry, "url"), desired=_int(entry, "desired"))
                for name, entry in ((name, _as_mapping(value)) for name, value in targets.items())
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
        tags = _mapping(fields, "tags")
        return cls(
            id=_str(fields, "id"),
            target=_str(fields, "target"),
            address=_str(fields, "address"),
            state=_str(fields, "state"),
            tags={str(key): str(value) for key, value in tags.items()},
            pid=_int(fields, "pid"),
            started_at=_float(fields, "started_at"),
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
                InstanceStatus.from_json(_as_mapping(item)) for item in _list(fields, "instances")
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
            desired=_int(fields, "desired"),
            live=_int(fields, "live"),
            healthy=_int(fields, "healthy"),
        )


@dataclass(frozen=True, kw_only=True)
class Terminated(Reply):
    ids: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"terminated": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Terminated:
        return cls(ids=_id_tuple(fields.get("terminated"), error=ProviderError))


@dataclass(frozen=True, kw_only=True)
class Rebooting(Reply):
    ids: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"rebooting": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Rebooting:
        return cls(ids=_id_tuple(fields.get("rebooting"), error=ProviderError))


@dataclass(frozen=True, kw_only=True)
class FaultAdded(Reply):
    """The handle that ``remove_fault`` takes."""

    handle: str

    def to_json(self) -> JsonObject:
        return {"handle": self.handle}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultAdded:
        return cls(handle=_str(fields, "handle"))


@dataclass(frozen=True, kw_only=True)
class FaultRemoved(Reply):
    removed: bool  # False: no fault had that handle (never one, or removed already)

    def to_json(self) -> JsonObject:
        return {"removed": self.removed}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultRemoved:
        return cls(removed=fields.get("removed") is True)


FleetFaultKind = Literal["stop", "stress"]


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
        kind = _str(fields, "kind")
        network = None
        if kind in NETWORK_FAULT_KINDS:
            spec_fields = {name: fields[name] for name in _NETWORK_FAULT_FIELDS if name in fields}
            network = network_fault_from_json(spec_fields)
        workers = fields.get("workers")
        return cls(
            handle=_str(fields, "handle"),
            target=_str(fields, "target"),
            ids=_id_tuple(fields.get("ids"), error=ProviderError),
            kind=kind,
            network=network,
            workers=workers if isinstance(workers, int) else None,
        )


_NETWORK_FAULT_FIELDS = tuple(spec.name for spec in dataclasses.fields(NetworkFault))


@dataclass(frozen=True, kw_only=True)
class FaultsListed(Reply):
    faults: tuple[FaultStatus, ...]

    def to_json(self) -> JsonObject:
        return {"faults": [fault.to_json() for fault in self.faults]}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> FaultsListed:
        return cls(
            faults=tuple(
                FaultStatus.from_json(_as_mapping(item)) for item in _list(fields, "faults")
            )
        )


@dataclass(frozen=True, kw_only=True)
class PrometheusStarted(Reply):
    url: str

    def to_json(self) -> JsonObject:
        return {"url": self.url}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> PrometheusStarted:
        return cls(url=_str(fields, "url"))


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


def dumps(message: JsonObject) -> bytes:
    """One line of the wire format."""
    return json.dumps(message).encode() + b"\n"


def encode_answer(answer: Reply | Failure) -> JsonObject:
    """The object the server writes for ``answer``."""
    if isinstance(answer, Failure):
        return {"ok": False, "kind": answer.kind, "error": answer.error}
    return {"ok": True, **answer.to_json()}


# requests

ReplyT = TypeVar("ReplyT", bound=Reply, covariant=True)


class Request(Generic[ReplyT]):
    """A request for ``op``, answered by a ``ReplyT``."""

    op: ClassVar[str]

    def fields(self) -> JsonObject:
        """The request's own fields on the wire (besides ``op`` and ``token``)."""
        return {}

    def to_json(self, *, token: str) -> JsonObject:
        return {"op": self.op, "token": token, **self.fields()}

    def reply_from_json(self, fields: Mapping[str, object]) -> ReplyT:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Ping(Request[Done]):
    op: ClassVar[str] = "ping"

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Ping:
        return cls()

    def reply_from_json(self, fields: Mapping[str, object]) -> Done:
        return Done.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class ListTargets(Request[TargetsListed]):
    op: ClassVar[str] = "targets"

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> ListTargets:
        return cls()

    def reply_from_json(self, fields: Mapping[str, object]) -> TargetsListed:
        return TargetsListed.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class ListInstances(Request[InstancesListed]):
    op: ClassVar[str] = "instances"
    target: str

    def fields(self) -> JsonObject:
        return {"target": self.target}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> ListInstances:
        return cls(target=_target(fields))

    def reply_from_json(self, fields: Mapping[str, object]) -> InstancesListed:
        return InstancesListed.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class GetHealth(Request[Health]):
    op: ClassVar[str] = "health"
    target: str

    def fields(self) -> JsonObject:
        return {"target": self.target}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> GetHealth:
        return cls(target=_target(fields))

    def reply_from_json(self, fields: Mapping[str, object]) -> Health:
        return Health.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class Terminate(Request[Terminated]):
    op: ClassVar[str] = "terminate"
    target: str
    ids: tuple[str, ...]

    def fields(self) -> JsonObject:
        return {"target": self.target, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Terminate:
        return cls(target=_target(fields), ids=_id_tuple(fields.get("ids")))

    def reply_from_json(self, fields: Mapping[str, object]) -> Terminated:
        return Terminated.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class AddNetworkFault(Request[FaultAdded]):
    op: ClassVar[str] = "add_network_fault"
    target: str
    ids: tuple[str, ...]
    fault: NetworkFault

    def fields(self) -> JsonObject:
        return {
            "target": self.target,
            "ids": list(self.ids),
            "fault": dataclasses.asdict(self.fault),
        }

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> AddNetworkFault:
        target, ids = _target(fields), _id_tuple(fields.get("ids"))
        spec = fields.get("fault")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"fault={spec!r} must be an object of NetworkFault fields.")
        return cls(target=target, ids=ids, fault=network_fault_from_json(spec))

    def reply_from_json(self, fields: Mapping[str, object]) -> FaultAdded:
        return FaultAdded.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class StopInstances(Request[FaultAdded]):
    op: ClassVar[str] = "stop_instances"
    target: str
    ids: tuple[str, ...]

    def fields(self) -> JsonObject:
        return {"target": self.target, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> StopInstances:
        return cls(target=_target(fields), ids=_id_tuple(fields.get("ids")))

    def reply_from_json(self, fields: Mapping[str, object]) -> FaultAdded:
        return FaultAdded.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class RebootInstances(Request[Rebooting]):
    op: ClassVar[str] = "reboot_instances"
    target: str
    ids: tuple[str, ...]

    def fields(self) -> JsonObject:
        return {"target": self.target, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> RebootInstances:
        return cls(target=_target(fields), ids=_id_tuple(fields.get("ids")))

    def reply_from_json(self, fields: Mapping[str, object]) -> Rebooting:
        return Rebooting.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class StressCpu(Request[FaultAdded]):
    """On the wire the stress is flat: ``"workers": N`` beside ``target`` and ``ids``."""

    op: ClassVar[str] = "stress_cpu"
    target: str
    ids: tuple[str, ...]
    stress: CpuStress

    def fields(self) -> JsonObject:
        return {"target": self.target, "ids": list(self.ids), "workers": self.stress.workers}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> StressCpu:
        target, ids = _target(fields), _id_tuple(fields.get("ids"))
        workers = check_workers(fields.get("workers", 1), field="workers")
        return cls(target=target, ids=ids, stress=CpuStress(workers=workers))

    def reply_from_json(self, fields: Mapping[str, object]) -> FaultAdded:
        return FaultAdded.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class RemoveFault(Request[FaultRemoved]):
    op: ClassVar[str] = "remove_fault"
    handle: str

    def fields(self) -> JsonObject:
        return {"handle": self.handle}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> RemoveFault:
        handle = fields.get("handle")
        # Removing is idempotent, so a handle that cannot exist is "nothing removed", not an
        # error: no fault has the empty handle.
        return cls(handle=handle if isinstance(handle, str) else "")

    def reply_from_json(self, fields: Mapping[str, object]) -> FaultRemoved:
        return FaultRemoved.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class ListFaults(Request[FaultsListed]):
    op: ClassVar[str] = "faults"

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> ListFaults:
        return cls()

    def reply_from_json(self, fields: Mapping[str, object]) -> FaultsListed:
        return FaultsListed.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class StartPrometheus(Request[PrometheusStarted]):
    op: ClassVar[str] = "start_prometheus"

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> StartPrometheus:
        return cls()

    def reply_from_json(self, fields: Mapping[str, object]) -> PrometheusStarted:
        return PrometheusStarted.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class Shutdown(Request[Done]):
    op: ClassVar[str] = "shutdown"

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Shutdown:
        return cls()

    def reply_from_json(self, fields: Mapping[str, object]) -> Done:
        return Done.from_json(fields)


AnyRequest = (
    Ping
    | ListTargets
    | ListInstances
    | GetHealth
    | Terminate
    | AddNetworkFault
    | StopInstances
    | RebootInstances
    | StressCpu
    | RemoveFault
    | ListFaults
    | StartPrometheus
    | Shutdown
)
_REQUEST_TYPES: tuple[type[AnyRequest], ...] = (
    Ping,
    ListTargets,
    ListInstances,
    GetHealth,
    Terminate,
    AddNetworkFault,
    StopInstances,
    RebootInstances,
    StressCpu,
    RemoveFault,
    ListFaults,
    StartPrometheus,
    Shutdown,
)
REQUESTS: Mapping[str, type[AnyRequest]] = {kind.op: kind for kind in _REQUEST_TYPES}


def decode_request(line: bytes, *, token: str) -> AnyRequest:
    """The request on ``line``; ProviderError when it is not one or lacks ``token``, ValueError
    when it is not JSON, ConfigError naming a bad field."""
    request = json.loads(line)
    if not isinstance(request, dict):
        raise ProviderError(f"a control request must be a JSON object, not {request!r}")
    if not secrets.compare_digest(str(request.get("token", "")), token):
        raise ProviderError("bad or missing control token")
    kind = REQUESTS.get(request.get("op", ""))
    if kind is None:
        raise ProviderError(f"unknown op {request.get('op')!r}; known: {sorted(REQUESTS)}")
    return kind.from_json(request)


def network_fault_from_json(fields: Mapping[str, object]) -> NetworkFault:
    """A ``NetworkFault`` from its fields; ConfigError for unknown fields or bad values."""
    try:
        return NetworkFault(**fields)  # type: ignore[arg-type]  # NetworkFault checks each value
    except TypeError as error:
        raise ConfigError(f"fault={dict(fields)!r}: {error}") from None


# field readers: requests are refused with ConfigError, malformed replies with ProviderError


def _target(fields: Mapping[str, object]) -> str:
    target = fields.get("target")
    if not isinstance(target, str):
        raise ConfigError(f"target={target!r} must be the name of a target.")
    return target


def _id_tuple(value: object, *, error: type[ChaoskitError] = ConfigError) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(f"ids={value!r} must be a list of instance ids.")
    return tuple(value)


def _as_mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ProviderError(f"the local system answered {value!r} where an object belongs.")
    return value


def _mapping(fields: Mapping[str, object], name: str) -> Mapping[str, object]:
    return _as_mapping(fields.get(name))


def _list(fields: Mapping[str, object], name: str) -> Sequence[object]:
    value = fields.get(name)
    if not isinstance(value, list):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a list.")
    return value


def _str(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a string.")
    return value


def _int(fields: Mapping[str, object], name: str) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a whole number.")
    return value


def _float(fields: Mapping[str, object], name: str) -> float:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProviderError(f"the local system answered {name}={value!r}; expected a number.")
    return float(value)
