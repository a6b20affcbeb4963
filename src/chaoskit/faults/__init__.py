"""Faults an experiment injects. Each plans against an environment, then injects and reverts."""

from chaoskit.faults.instances import RebootInstances, StopInstances, StressCpu
from chaoskit.faults.network import (
    Bandwidth,
    Blackhole,
    HttpErrors,
    Latency,
    ResetConnections,
    SlowClose,
    Timeout,
)
from chaoskit.faults.terminate import TerminateInstances

__all__ = [
    "Bandwidth",
    "Blackhole",
    "HttpErrors",
    "Latency",
    "RebootInstances",
    "ResetConnections",
    "SlowClose",
    "StopInstances",
    "StressCpu",
    "TerminateInstances",
    "Timeout",
]
