"""The requests of the control API, one class per op; each parses the reply it gets, so
``ControlClient.call(ListInstances(...))`` is typed as returning ``InstancesListed``.

Parsing a request (``decode_request``, in the system) checks every field the way the pytest
side does before sending it, so a hand-written request is refused with the same ConfigError.
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, Self, TypeVar

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local.control_protocol._wire import (
    JsonObject,
    id_tuple,
    network_fault_from_json,
    target_field,
)
from chaoskit.providers.local.control_protocol.replies import (
    Done,
    FaultAdded,
    FaultRemoved,
    FaultsListed,
    Health,
    InstancesCounted,
    InstancesListed,
    PrometheusStarted,
    Rebooting,
    Reply,
    TargetsListed,
    Terminated,
)
from chaoskit.vocabulary import CpuStress, NetworkFault, check_workers

ReplyT = TypeVar("ReplyT", bound=Reply, covariant=True)


class Request(ABC, Generic[ReplyT]):
    """A request for ``op``, answered by a ``ReplyT``."""

    op: ClassVar[str]

    def fields(self) -> JsonObject:
        """The request's own fields on the wire (besides ``op`` and ``token``)."""
        return {}

    def to_json(self, *, token: str) -> JsonObject:
        return {"op": self.op, "token": token, **self.fields()}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> Self:
        """The request from its wire fields; a request without fields of its own is this."""
        return cls()

    @abstractmethod
    def reply_from_json(self, fields: Mapping[str, object]) -> ReplyT:
        """The reply this request gets, from its wire fields."""


@dataclass(frozen=True, kw_only=True)
class Ping(Request[Done]):
    op: ClassVar[str] = "ping"

    def reply_from_json(self, fields: Mapping[str, object]) -> Done:
        return Done.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class ListTargets(Request[TargetsListed]):
    op: ClassVar[str] = "targets"

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
        return cls(target=target_field(fields))

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
        return cls(target=target_field(fields))

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
        return cls(target=target_field(fields), ids=id_tuple(fields.get("ids")))

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
        target, ids = target_field(fields), id_tuple(fields.get("ids"))
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
        return cls(target=target_field(fields), ids=id_tuple(fields.get("ids")))

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
        return cls(target=target_field(fields), ids=id_tuple(fields.get("ids")))

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
        target, ids = target_field(fields), id_tuple(fields.get("ids"))
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
class InstanceSeconds(Request[InstancesCounted]):
    """What each instance of ``target`` served in the epoch seconds ``since`` to ``until``
    (both included), as its proxy counted it; instances gone before ``since`` are left out."""

    op: ClassVar[str] = "instance_seconds"
    target: str
    since: float
    until: float

    def fields(self) -> JsonObject:
        return {"target": self.target, "since": self.since, "until": self.until}

    @classmethod
    def from_json(cls, fields: Mapping[str, object]) -> InstanceSeconds:
        since, until = fields.get("since"), fields.get("until")
        for name, value in (("since", since), ("until", until)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ConfigError(f"{name}={value!r} must be a time in epoch seconds.")
        assert isinstance(since, int | float) and isinstance(until, int | float)  # just checked
        if until < since:
            raise ConfigError(f"until={until!r} is before since={since!r}; swap them.")
        return cls(target=target_field(fields), since=float(since), until=float(until))

    def reply_from_json(self, fields: Mapping[str, object]) -> InstancesCounted:
        return InstancesCounted.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class ListFaults(Request[FaultsListed]):
    op: ClassVar[str] = "faults"

    def reply_from_json(self, fields: Mapping[str, object]) -> FaultsListed:
        return FaultsListed.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class StartPrometheus(Request[PrometheusStarted]):
    op: ClassVar[str] = "start_prometheus"

    def reply_from_json(self, fields: Mapping[str, object]) -> PrometheusStarted:
        return PrometheusStarted.from_json(fields)


@dataclass(frozen=True, kw_only=True)
class Shutdown(Request[Done]):
    op: ClassVar[str] = "shutdown"

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
    | InstanceSeconds
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
    InstanceSeconds,
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
