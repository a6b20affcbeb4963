"""Faults an experiment injects. Each plans against an environment, then injects and reverts.

How a fault is built: users write what is natural (``delay="200ms"``, ``toxicity="50%"``,
``tags={"zone": "a"}``); the fault holds typed, normalised values (``delay: float`` seconds,
``toxicity: float``, ``count`` or ``percent``, never both). Each fault is two classes:

- a private frozen, keyword-only dataclass of those normalised fields (``_LatencyFields``),
  and
- the public class deriving from it (``Latency``), whose ``__init__`` takes what users write,
  checks and normalises every argument first (``check_selection``, ``parse_duration``, ...,
  each raising ConfigError naming the fault and the argument), then hands the results to the
  dataclass' own ``__init__``, which assigns each field once.

Nothing is rewritten after construction and no field is read by name. The public class keeps
the dataclass' equality, hash and repr, and ``dataclasses.replace`` works, since normalised
values are valid input. ``ThroughputObjective`` in ``chaoskit.slo`` is built the same way.
"""

from chaoskit.faults.aws_faults import (
    ApiInternalError,
    ApiThrottle,
    ApiUnavailable,
    LambdaDelay,
    LambdaErrors,
)
from chaoskit.faults.fis import FisExperiment
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
    "ApiInternalError",
    "ApiThrottle",
    "ApiUnavailable",
    "Bandwidth",
    "Blackhole",
    "FisExperiment",
    "HttpErrors",
    "LambdaDelay",
    "LambdaErrors",
    "Latency",
    "RebootInstances",
    "ResetConnections",
    "SlowClose",
    "StopInstances",
    "StressCpu",
    "TerminateInstances",
    "Timeout",
]
