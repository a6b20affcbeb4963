"""Faults an experiment injects. Each plans against an environment, then injects and reverts."""

from chaoskit.faults.latency import Latency
from chaoskit.faults.terminate import TerminateInstances

__all__ = ["Latency", "TerminateInstances"]
