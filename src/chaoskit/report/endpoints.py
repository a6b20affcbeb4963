"""The report's table per endpoint (a locust request's ``name``) and phase: requests,
failures and latency percentiles, from the seconds' ``endpoints`` (``slo.endpoints``).

A phase counts its whole seconds only, as the verdict does (its edge seconds mix two
phases); latency leaves out the seconds in which the load generator lagged, as the verdict
does. A percentile is shown only with enough successes to read it (ten beyond it: 1,000
for a p99), and is within 3.2% of the exact value (the endpoints' buckets).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.experiment.result import ExperimentResult
from chaoskit.slo.endpoints import OTHER, EndpointSecond, merge_endpoints
from chaoskit.slo.tail import samples_for

PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True, kw_only=True)
class EndpointPhase:
    requests: int  # completed, successfully or not
    failures: int
    # Per PERCENTILES, in ms; None where the phase had too few successes to read it.
    latency_ms: tuple[float | None, ...]

    @property
    def error_pct(self) -> float:
        return 100 * self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, kw_only=True)
class EndpointRow:
    name: str
    total: int  # requests over every phase, the rows' order
    phases: tuple[EndpointPhase, ...]  # one per phase of the table, in its order


@dataclass(frozen=True, kw_only=True)
class EndpointTable:
    phases: tuple[str, ...]  # the phases' names, the table's column groups
    rows: tuple[EndpointRow, ...]  # most requests first; "other" last


def endpoint_table(result: ExperimentResult) -> EndpointTable | None:
    """The table, or None when no second named its requests."""
    if not any(second.has_endpoints for second in result.seconds):
        return None
    by_phase: list[dict[str, EndpointSecond]] = []
    latency_by_phase: list[dict[str, EndpointSecond]] = []
    for phase in result.phases:
        first, last = math.ceil(phase.start), math.floor(phase.end)
        counted: dict[str, EndpointSecond] = {}
        timed: dict[str, EndpointSecond] = {}
        for second in result.seconds:
            if first <= second.second < last and second.has_endpoints:
                endpoints = second.read_endpoints()
                merge_endpoints(counted, endpoints)
                if second.valid:
                    merge_endpoints(timed, endpoints)
        by_phase.append(counted)
        latency_by_phase.append(timed)
    names = {name for phase in by_phase for name in phase}
    rows = [
        EndpointRow(
            name=name,
            total=sum(phase[name].requests for phase in by_phase if name in phase),
            phases=tuple(
                _cell(counted.get(name), timed.get(name))
                for counted, timed in zip(by_phase, latency_by_phase, strict=True)
            ),
        )
        for name in names
    ]
    rows.sort(key=lambda row: (row.name == OTHER, -row.total, row.name))
    return EndpointTable(phases=tuple(p.name for p in result.phases), rows=tuple(rows))


def _cell(counted: EndpointSecond | None, timed: EndpointSecond | None) -> EndpointPhase:
    if counted is None:
        return EndpointPhase(requests=0, failures=0, latency_ms=(None,) * len(PERCENTILES))
    values: Sequence[float | None] = (None,) * len(PERCENTILES)
    if timed is not None:
        values = timed.percentiles_ms(PERCENTILES) or values
    return EndpointPhase(
        requests=counted.requests,
        failures=counted.failures,
        latency_ms=tuple(
            value if timed is not None and timed.ok >= samples_for(p) else None
            for p, value in zip(PERCENTILES, values, strict=True)
        ),
    )
