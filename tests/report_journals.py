"""Hand-built results and journals for the report's tests: every field set as a reader would
find it in a run, without running the lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaoskit.experiment.result import ExperimentResult, InjectionRecord, Journal, Phase
from chaoskit.slo.measurement import Measurement
from chaoskit.slo.seconds import SecondStats

T0 = 1_800_000_000.0


def second(
    offset: int, *, latency_ms: float = 4.0, ok: int = 100, failed: Mapping[str, int] | None = None
) -> SecondStats:
    stats = SecondStats(second=int(T0) + offset, expected=ok + sum((failed or {}).values()))
    stats.sent = stats.expected
    if ok:
        stats.record_ok(latency_ms * 1000, count=ok)
    for reason, count in (failed or {}).items():
        stats.failed[reason] = count
    return stats


def latency(objective: str, limit_s: float, window: str, value_ms: float) -> Measurement:
    return Measurement(
        objective=objective,
        kind="latency",
        limit=limit_s,
        window=window,
        value=value_ms / 1000,
        shown=f"{value_ms:g}ms",
        status="pass" if value_ms / 1000 < limit_s else "fail",
        samples=500,
    )


def result(
    name: str = "experiments/test_web.py::test_kill_one",
    *,
    outcome: str = "passed",
    cause: str = "",
    reason: str = "every objective held",
    seconds: Callable[[int], SecondStats] = second,
    duration: int = 16,
    started: float = T0,
    injections: tuple[InjectionRecord, ...] | None = None,
    measurements: tuple[Measurement, ...] = (),
    **extra: Any,
) -> ExperimentResult:
    """16 s: baseline 0-5, injecting 5-5.4, fault 5.4-11, reverting 11-11.3, recovery to 16."""
    if injections is None:
        injections = (
            InjectionRecord(
                injection_id="inj-1",
                fault="TerminateInstances 1 of web",
                target="web",
                instance_ids=("i-0abc",),
                injected_at=started + 5.4,
                reverted_at=started + 11.0,
                status="reverted",
                detected_after=1.0,
                recovered_after=2.0,
            ),
        )
    return ExperimentResult(
        name=name,
        env="local",
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        cause=cause,  # type: ignore[arg-type]
        started=started,
        finished=started + duration,
        objectives=("p99 < 300ms",),
        phases=(
            Phase(name="baseline", kind="baseline", start=started, end=started + 5),
            Phase(name="fault 1", kind="fault", start=started + 5.4, end=started + 11),
            Phase(name="recovery", kind="recovery", start=started + 11.3, end=started + duration),
        ),
        injections=injections,
        measurements=measurements,
        seconds=tuple(seconds(offset) for offset in range(duration)),
        **extra,
    )


def journal(*results: ExperimentResult, run_id: str = "20270115-080000-abcdef") -> Journal:
    first = results[0].started if results else T0
    return Journal(
        run_id=run_id,
        env="local",
        started=first,
        finished=max((r.finished for r in results), default=first),
        seed=3,
        experiments=results,
    )
