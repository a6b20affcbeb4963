"""The local system's control API as typed values: every request and every reply.

Both ends import this module: ``ControlClient`` in the pytest process and the control server
of the system process (``system/control.py``). It depends on the standard library, the
shared vocabulary and ``slo.instances`` (the per-instance counts it carries) only, so neither
side pulls in the other.

On the wire it is JSON lines over TCP, one object per line each way. A request is
``{"op": OP, "token": TOKEN, **fields}``; a reply is ``{"ok": true, **fields}`` or
``{"ok": false, "kind": "config" | "provider", "error": TEXT}``. Each request class names
its ``op`` and parses the reply it gets, so ``ControlClient.call(ListInstances(...))`` is
typed as returning ``InstancesListed``. ``requests`` holds the requests, ``replies`` the
replies, ``_wire`` the line format and the checked field readers; import them from here.

Parsing a request checks every field the way the pytest side does before sending it, so a
hand-written request (the integration tests speak the wire format directly) is refused with
the same ConfigError.
"""

from chaoskit.providers.local.control_protocol._wire import (
    JsonObject,
    dumps,
    network_fault_from_json,
)
from chaoskit.providers.local.control_protocol.replies import (
    Done,
    Failure,
    FaultAdded,
    FaultRemoved,
    FaultsListed,
    FaultStatus,
    Health,
    InstancesCounted,
    InstancesListed,
    InstanceStatus,
    PrometheusStarted,
    Rebooting,
    Reply,
    TargetEndpoint,
    TargetsListed,
    Terminated,
    encode_answer,
)
from chaoskit.providers.local.control_protocol.requests import (
    REQUESTS,
    AddNetworkFault,
    AnyRequest,
    GetHealth,
    InstanceSeconds,
    ListFaults,
    ListInstances,
    ListTargets,
    Ping,
    RebootInstances,
    RemoveFault,
    Request,
    Shutdown,
    StartPrometheus,
    StopInstances,
    StressCpu,
    Terminate,
    decode_request,
)

__all__ = [
    "REQUESTS",
    "AddNetworkFault",
    "AnyRequest",
    "Done",
    "Failure",
    "FaultAdded",
    "FaultRemoved",
    "FaultStatus",
    "FaultsListed",
    "GetHealth",
    "Health",
    "InstanceSeconds",
    "InstanceStatus",
    "InstancesCounted",
    "InstancesListed",
    "JsonObject",
    "ListFaults",
    "ListInstances",
    "ListTargets",
    "Ping",
    "PrometheusStarted",
    "RebootInstances",
    "Rebooting",
    "RemoveFault",
    "Reply",
    "Request",
    "Shutdown",
    "StartPrometheus",
    "StopInstances",
    "StressCpu",
    "TargetEndpoint",
    "TargetsListed",
    "Terminate",
    "Terminated",
    "decode_request",
    "dumps",
    "encode_answer",
    "network_fault_from_json",
]
