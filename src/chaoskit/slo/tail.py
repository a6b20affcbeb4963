"""Counting a latency tail: how many requests took a threshold or longer, and how many a
percentile allows. What lets a latency objective see a breach in fewer samples than its
percentile needs to be measured (pure maths, any process).

A ``pN < T`` objective measures the percentile only with ``LatencyObjective.min_samples``
successes (a p99 needs 1,000). With fewer, it can still be **proven broken**: when more
requests took ``T`` or longer than the percentile allows even of that many, the percentile
is over ``T`` however fast the missing requests would have been. Counts use a latency's
lowest equivalent in the histogram (3 significant digits), never rounding a fast request up
into the slow ones.
"""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

from chaoskit.slo.seconds import new_histogram

# A tail percentile needs this many samples beyond it: p99 needs 1000 requests, p95 needs 200,
# p50 needs 20. Fewer, and one request decides the figure.
TAIL_SAMPLES = 10

# Only for its bucket arithmetic, which depends on the histogram's settings alone.
_BUCKETS = new_histogram()


def slow_successes(latency_us: HdrHistogram, threshold: float, *, inclusive: bool) -> int:
    """Successes of ``latency_us`` that took ``threshold`` seconds or longer (more than it,
    with ``inclusive``)."""
    limit_us = threshold * 1e6
    return sum(
        item.count_added_in_this_iter_step
        for item in latency_us.get_recorded_iterator()
        if is_slow(item.value_iterated_to, limit_us, inclusive=inclusive)
    )


def samples_for(percentile: float) -> int:
    """How many samples measure ``percentile``: ``TAIL_SAMPLES`` beyond it."""
    return math.ceil(TAIL_SAMPLES / (1 - percentile / 100))


def allowed_slow(percentile: float, successes: int) -> int:
    """How many of ``successes`` may reach the threshold with the ``percentile`` under it.
    The percentile is the value of the ``rank``-th fastest success, ranked as the histogram
    ranks it (``HdrHistogram.get_target_count_at_percentile``), so that the count and
    ``LatencyObjective.evaluate`` agree whenever both can judge."""
    rank = max(1, int(percentile * successes / 100 + 0.5))
    return successes - rank


def is_slow(latency_us: float, limit_us: float, *, inclusive: bool) -> bool:
    # The bucket's lowest value: a latency just under the limit shares a bucket with it.
    lowest: int = _BUCKETS.get_lowest_equivalent_value(max(1, round(latency_us)))
    return lowest > limit_us if inclusive else lowest >= limit_us
