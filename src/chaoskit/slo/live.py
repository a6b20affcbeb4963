"""What one second proves against an objective, complete or with requests still outstanding:
the guardrail's judgement of a single second of a hold (pure maths, any process).

A **live** second is a snapshot of a second that is over but not complete: what completed of
it so far (``ok``, ``failed``), and ``in_flight`` requests still outstanding (sent and not
back, or due and not sent because their user is busy), each at least ``in_flight_age_us``
old. ``breach`` answers only what the snapshot proves, so that an early breach never
contradicts the complete second; what it cannot prove waits for the complete second:

- **latency** (``pN < T``): the complete second breaches when more of its successes than the
  percentile allows took ``T`` or longer. Early, an outstanding request at least ``T`` old
  counts as one of those, and the allowance is taken over the most successes the second can
  still have (successes so far plus outstanding), which only raises it: so a live breach is a
  breach of the complete second whatever the outstanding requests still take. A request
  outstanding past ``T`` that then fails (a timeout) leaves the complete second's latency, but
  its user waited ``T`` or more all the same: the guardrail counts it as slow.
- **error rate**: failures so far against the most requests the second can still complete
  (completed plus outstanding): failures only grow, so the complete rate can only be higher.
- **availability**: successes so far plus every outstanding request against what the second
  expects so far.
- every other objective (throughput, composites, statistical, custom) waits for the complete
  second.

One second rarely holds the samples a tail percentile needs (a p99 needs 1,000 successes;
``LatencyObjective.min_samples``). On one second the guardrail counts instead: a latency
objective breaches when more successes than its percentile allows took its threshold or
longer **and** at least ``TAIL_SAMPLES`` of them did, so that one slow request at a low rate
does not halt a fault. With the samples, this is the percentile's own verdict. Counts use a
latency's lowest equivalent in the histogram (3 significant digits), never rounding a fast
request up into the slow ones.

Not certain for task runs of several requests: a run due and not started yet counts as one
outstanding request (how many it will send is unknown until it runs).
"""

from __future__ import annotations

from chaoskit.durations import format_duration
from chaoskit.slo.measurement import Measurement, Objective
from chaoskit.slo.objectives import (
    AvailabilityObjective,
    ErrorRateObjective,
    LatencyObjective,
)
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.tail import TAIL_SAMPLES, allowed_slow, is_slow, slow_successes
from chaoskit.slo.window import Window


def breach(
    objective: Objective, second: SecondStats, *, complete: bool, baseline: Window | None
) -> Measurement | None:
    """The failing measurement when ``second`` (complete, or a live snapshot) proves that
    ``objective`` breaches in it; None when it does not, or cannot tell yet."""
    if complete:
        measured = objective.evaluate(_window(second, baseline))
        if measured.status == "fail":
            return measured
        if measured.status == "inconclusive" and isinstance(objective, LatencyObjective):
            return _tail_breach(objective, second)
        return None
    if isinstance(objective, LatencyObjective):
        return _tail_breach(objective, second)
    if isinstance(objective, ErrorRateObjective | AvailabilityObjective):
        # ``at_least`` counts each outstanding request as a success: the error rate's
        # denominator and availability's successes at their most.
        measured = objective.evaluate(_window(second.at_least(), baseline))
        return measured if measured.status == "fail" else None
    return None


def slow_requests(second: SecondStats, threshold: float, *, inclusive: bool) -> int:
    """Requests of ``second`` that took ``threshold`` seconds or longer (more than it, with
    ``inclusive``): successes, and requests outstanding for at least that long."""
    slow = slow_successes(second.latency_us, threshold, inclusive=inclusive) if second.ok else 0
    if second.in_flight and is_slow(second.in_flight_age_us, threshold * 1e6, inclusive=inclusive):
        slow += second.in_flight
    return slow


def _tail_breach(objective: LatencyObjective, second: SecondStats) -> Measurement | None:
    slow = slow_requests(second, objective.below, inclusive=objective.inclusive)
    most = second.ok + second.in_flight  # the most successes the second can end with
    if slow < TAIL_SAMPLES or slow <= allowed_slow(objective.percentile, most):
        return None
    op = "over" if objective.inclusive else "or more"
    outstanding = f", {second.in_flight} still outstanding" if second.in_flight else ""
    return Measurement(
        objective=objective.describe(),
        objective_key=objective.key,
        kind=objective.kind,
        limit=objective.below,
        window=f"second {second.second}",
        value=None,
        shown=f"{slow} of {most} requests took {format_duration(objective.below)} {op}"
        f"{outstanding}",
        status="fail",
        samples=most,
        reason=f"more than {100 - objective.percentile:g}% of the second's requests took "
        f"{format_duration(objective.below)} {op}",
    )


def _window(second: SecondStats, baseline: Window | None) -> Window:
    return Window(name=f"second {second.second}", kind="fault", seconds=[second], baseline=baseline)
