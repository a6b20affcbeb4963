"""The contract between objectives and the rest of chaoskit.

An objective looks at one ``Window`` and returns a ``Measurement``: the value it saw, and
pass / fail / inconclusive. Inconclusive means the window held too few samples for the figure
to mean anything; it is never reported as a pass. The lifecycle, the journal and the reports
know objectives through this module only: ``Objective`` (what an objective offers, composing
with ``&`` and ``|`` included) and ``Measurement`` (what it answers).

An objective has two names: ``describe()``, the text people read (``p99 < 300ms``), and
``key``, its identity, derived from its whole definition (phases included), equal for equal
objectives, and the same in every process and Python version (``objective_key``), so a
journal written today still names the same objective tomorrow. Measurements carry the key so
runs can be compared objective by objective whatever its text says; within one experiment the
report labels rows with ``describe()``, which the marker keeps unique per phase.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol

from chaoskit.slo.window import PhaseKind, Window

Status = Literal["pass", "fail", "inconclusive"]
Kind = Literal[
    "latency",
    "error_rate",
    "throughput",
    "custom",
    "composite",
    "recovery",
    "budget",
    "statistical",
    "availability",
]
STATUS_LABELS: dict[Status, str] = {
    "pass": "ok",
    "fail": "BREACHED",
    "inconclusive": "inconclusive",
}


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One objective evaluated on one window."""

    objective: str  # describe() of the objective: the row label people read
    kind: Kind
    limit: float | None  # the threshold: seconds for latency, a fraction for rates, req/s
    window: str
    value: float | None
    shown: str  # the value as a reader sees it, e.g. "212ms" or "0.40%"
    status: Status
    samples: int
    reason: str = ""
    # The objective's identity (``Objective.key``). Empty in journals written before objectives
    # had one, which is why it has a default: they still load through ``Measurement(**json)``.
    objective_key: str = ""


class Objective(Protocol):
    """What every objective offers: the phases it is judged in, its identity and its label,
    its judgement of a window, and composition (``a & b``: both hold; ``a | b``: one holds)."""

    @property
    def phases(self) -> frozenset[PhaseKind]:
        """The phase kinds this objective is judged in."""

    @property
    def key(self) -> str:
        """The objective's identity: equal for equal objectives, stable across runs."""

    def describe(self) -> str: ...

    def evaluate(self, window: Window) -> Measurement: ...

    def __and__(self, other: Objective) -> Objective: ...

    def __or__(self, other: Objective) -> Objective: ...


def objective_key(kind: str, definition: object) -> str:
    """``kind`` and a short digest of ``definition`` (a dataclass instance, usually the
    objective itself): its compared fields, by name, in a canonical text.

    Derived from what ``==`` compares, so equal objectives get equal keys; a digest of text
    rather than ``hash()``, which differs between processes.
    """
    digest = hashlib.blake2b(_fields_text(definition).encode(), digest_size=6).hexdigest()
    return f"{kind}-{digest}"


def _fields_text(value: object) -> str:
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return repr(value)
    compared = (f for f in dataclasses.fields(value) if f.compare)
    inner = ",".join(f"{f.name}={_canonical(getattr(value, f.name))}" for f in compared)
    return f"{type(value).__qualname__}({inner})"


def _canonical(value: object) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _known_key(value) or _fields_text(value)
    if isinstance(value, frozenset | set):
        return "{" + ",".join(sorted(_canonical(item) for item in value)) + "}"
    if isinstance(value, tuple | list):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted((_canonical(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    return repr(value)


def _known_key(value: object) -> str | None:
    """The key of a part that is an objective already (a composite's parts): one definition
    of identity, whichever way the part was built."""
    key = getattr(value, "key", None)
    return key if isinstance(key, str) and callable(getattr(value, "evaluate", None)) else None
