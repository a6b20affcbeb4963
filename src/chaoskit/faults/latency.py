"""``chaoskit.faults.latency.Latency``, kept importable: the network faults live in
``chaoskit.faults.network`` (and ``chaoskit.faults``)."""

from chaoskit.faults.network import Latency

__all__ = ["Latency"]
