"""The report's table per instance and phase: what each instance of the load's target served
(requests, errors, latency) and its story (the faults that hit it, when it came up, when it
left the balancer), from the result's ``instances`` (``slo.instances``).

Only a provider that sees each instance's traffic fills them (the local system's proxy); for
the others the experiment has none, and the report shows no table. A replacement instance
that came up during the experiment is a row of its own. A phase counts its whole seconds, as
the verdict does; its edge seconds mix two phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from chaoskit.experiment.result import ExperimentResult
from chaoskit.slo.endpoints import bucket_middle_us
from chaoskit.slo.instances import InstanceTraffic, totals
from chaoskit.slo.tail import samples_for

PERCENTILE: Final = 95.0
# Answered requests needed to show the p95: ten beyond it, as for an endpoint.


@dataclass(frozen=True, kw_only=True)
class InstancePhase:
    requests: int
    failures: int
    refused: int  # connections the instance did not accept
    mean_ms: float | None  # of the answered requests; None without one
    p95_ms: float | None  # None with fewer answered than a p95 needs

    @property
    def error_pct(self) -> float:
        return 100 * self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, kw_only=True)
class InstanceRow:
    id: str
    story: tuple[str, ...]  # faulted, came up, left the balancer: in words, with times
    faulted: bool
    phases: tuple[InstancePhase, ...]  # one per phase of the table, in its order


@dataclass(frozen=True, kw_only=True)
class InstanceTable:
    phases: tuple[str, ...]
    rows: tuple[InstanceRow, ...]  # in the order the instances started


def instance_table(result: ExperimentResult) -> InstanceTable | None:
    """The table, or None when the provider counted nothing per instance."""
    if not result.instances:
        return None
    rows = [
        InstanceRow(
            id=instance.id,
            story=_story(instance, result),
            faulted=any(instance.id in i.instance_ids for i in result.injections),
            phases=tuple(_cell(instance, phase.start, phase.end) for phase in result.phases),
        )
        for instance in sorted(result.instances, key=lambda i: (i.started_at, i.id))
    ]
    return InstanceTable(phases=tuple(p.name for p in result.phases), rows=tuple(rows))


def _cell(instance: InstanceTraffic, start: float, end: float) -> InstancePhase:
    first, last = math.ceil(start), math.floor(end)
    summed = totals(s for s in instance.seconds if first <= s.second < last)
    answered = summed.answered
    mean_ms = None
    if answered:
        # Bucket middles, as the percentiles are read: within 3.2%.
        mean_ms = sum(_middle_ms(index) * n for index, n in summed.latency.items()) / answered
    return InstancePhase(
        requests=summed.requests,
        failures=summed.failures,
        refused=summed.refused,
        mean_ms=mean_ms,
        p95_ms=summed.percentile_ms(PERCENTILE) if answered >= samples_for(PERCENTILE) else None,
    )


def _middle_ms(index: int) -> float:
    return bucket_middle_us(index) / 1000


def _story(instance: InstanceTraffic, result: ExperimentResult) -> tuple[str, ...]:
    story: list[str] = []
    if instance.started_at > result.started:
        story.append(f"came up at {_offset(instance.started_at, result)}")
    for injection in result.injections:
        if instance.id in injection.instance_ids and injection.injected_at is not None:
            story.append(f"{injection.fault} at {_offset(injection.injected_at, result)}")
    if instance.gone_at is not None and instance.gone_at <= result.finished:
        story.append(f"left the balancer at {_offset(instance.gone_at, result)}")
    return tuple(story)


def _offset(at: float, result: ExperimentResult) -> str:
    return f"+{at - result.started:.1f}s"
