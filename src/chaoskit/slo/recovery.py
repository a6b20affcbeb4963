"""Time to detect and time to recover, judged against the baseline's band with sampling noise.

The band is what normal looked like. It has two parts, and a stretch of seconds is *outside*
it only when both say so: the counts are materially outside (past the tolerances below) **and**
they are unlikely under the baseline (one-sided exact tests at significance ``alpha``, 1 %,
for recovery and ``detect_alpha``, 0.1 %, for detection).
At 300 requests/s a second holds enough requests for the tolerances alone to decide; at 25
requests/s one second's error share or request count swings by a third from sampling alone,
and only the test keeps a healthy second inside.

- **Errors**: the stretch's failure share is above the baseline's plus ``error_points``
  (1 percentage point), and its failures are unlikely from a binomial with the baseline's
  failure share (a baseline that saw none counts as having seen a fraction of one, by
  Laplace's rule ``(failures + 1) / (requests + 2)``, so one stray failure is not a breach).
- **Throughput**, two ways, either one enough: its successful requests are fewer than
  ``throughput_floor`` (80 %) of the baseline's rate times its seconds, and that few are
  unlikely from a Poisson at the baseline's rate; or fewer than 80 % of the baseline's
  share of the requests that were due (``expected``: the load's own schedule, so requests
  never sent or never answered count), and that few unlikely from a binomial at it.
- **Latency**: more than 10 % of its successful requests are slower than ``latency_factor``
  (2) times the baseline's 90th percentile plus ``latency_slack`` (5 ms) — its p90 is past
  that limit — and that many slow requests are unlikely from a binomial at 10 %. A count test
  needs no minimum sample: three requests can only fail it when all three are slow.
- **Silence**: a second in which nothing completed is outside whenever the baseline's rate
  makes a silent second unlikely (``exp(-rate / dispersion) < alpha``).

**Bursty load.** Users on a schedule that all started together send in bursts: 40 users at
one request per 1.6 s give 40 requests in some seconds and none in others. Such counts are
not Poisson, and a silent second or a window holding one burst fewer is normal. The rate
tests therefore treat counts as over-dispersed by the baseline's own ``dispersion``
(variance over mean of its seconds' completed requests, 1 at least; a quasi-Poisson: counts
and mean divided by it). The share-of-expected test needs no such allowance: the schedule
says how many requests each second was due.

**Pooling.** The tests judge ``pooled`` consecutive seconds together: as many as the
baseline's rate needs to put ``pooled_requests`` (100) requests in them, 1 second from 100
requests/s up, 4 seconds at 25/s. The length comes from the baseline, not from the seconds
judged, so a silent target cannot stretch its own window. Detection and recovery slide that
window one second at a time:

- *time to detect* runs from the injection to the start of the first window outside the band
  (whole seconds from the injection to the end of the measurement, so an effect seen only
  after the revert is still an effect);
- *time to recover* runs from the revert (or the fault's own end) to the start of the first
  stretch of ``max(consecutive, pooled)`` whole seconds (3 at least) in which every window is
  inside the band; None when no such stretch fits before the end.

A window that would run past the end is cut at it: the last seconds are judged on what they
hold. At low rates the times are as precise as a window is long.

**Two significance levels.** Detection claims an effect, and it scans every window from the
injection to the end (a dozen or more), so it asks for strong evidence: ``detect_alpha``
(0.1 %) per test keeps a fault without effect at "no effect seen" about 19 times in 20 at 25
requests/s. Recovery claims normality, so any moderate hint of an effect (``alpha``, 1 %)
keeps a stretch outside; a healthy stretch is still judged outside only about once in
thirty, and recovery then starts a second later. A fault with no effect seen has nothing to
recover from (the verdict times no recovery for it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window

# The band's latency limit is on the 90th percentile: 10 % of requests may be slower.
_SLOW_SHARE = 0.1


@dataclass(frozen=True, kw_only=True)
class Band:
    latency_factor: float = 2.0
    latency_slack: float = 0.005
    error_points: float = 0.01
    throughput_floor: float = 0.8
    consecutive: int = 3
    alpha: float = 0.01  # recovery: any hint of an effect keeps a stretch outside
    detect_alpha: float = 0.001  # detection claims an effect: it needs strong evidence
    pooled_requests: int = 100


@dataclass(frozen=True, kw_only=True)
class Counts:
    """What the tests read from seconds: counts only, so windows pool by addition."""

    ok: int = 0
    failures: int = 0
    due: int = 0  # requests the load meant to send (``SecondStats.demand``)
    slow: int = 0  # successful requests slower than the band's latency limit
    silent: bool = False  # some second of it had nothing completed

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            ok=self.ok + other.ok,
            failures=self.failures + other.failures,
            due=self.due + other.due,
            slow=self.slow + other.slow,
            silent=self.silent or other.silent,
        )

    @property
    def completed(self) -> int:
        return self.ok + self.failures


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The band in absolute terms for one experiment."""

    max_p90: float  # seconds
    max_error_rate: float
    min_rps: float  # successful requests per second
    ok_rate: float  # the baseline's successful requests per second
    error_share: float  # the baseline's failure share (Laplace's rule)
    ok_share: float  # the baseline's successes among requests due (Laplace's rule)
    completed_rate: float  # the baseline's completed requests per second
    dispersion: float = 1.0  # variance over mean of the baseline's per-second counts, >= 1
    pooled: int = 1  # seconds judged together
    alpha: float = Band().alpha
    detect_alpha: float = Band().detect_alpha

    def counts(self, second: SecondStats) -> Counts:
        slow = 0
        if second.ok:
            limit_us = self.max_p90 * 1e6
            slow = sum(
                item.count_added_in_this_iter_step
                for item in second.latency_us.get_recorded_iterator()
                if item.value_iterated_to > limit_us
            )
        return Counts(
            ok=second.ok,
            failures=second.failures,
            due=second.demand,
            slow=slow,
            silent=second.completed == 0
            and math.exp(-self.completed_rate / self.dispersion) < self.alpha,
        )

    def holds(self, *seconds: SecondStats) -> bool:
        """Whether ``seconds``, pooled, are inside the band."""
        return self.holds_counts(
            sum((self.counts(s) for s in seconds), Counts()), seconds=len(seconds)
        )

    def holds_counts(self, counts: Counts, *, seconds: int, alpha: float | None = None) -> bool:
        """Whether ``counts`` over ``seconds`` are inside the band, each test at ``alpha``
        (the band's own by default)."""
        alpha = self.alpha if alpha is None else alpha
        if counts.silent:
            return False
        errors_out = counts.failures > self.max_error_rate * counts.completed and (
            _binomial_at_least(counts.failures, counts.completed, self.error_share) < alpha
        )
        expected_ok = self.ok_rate * seconds
        rate_out = counts.ok < self.min_rps * seconds and (
            _poisson_at_most(math.floor(counts.ok / self.dispersion), expected_ok / self.dispersion)
            < alpha
        )
        floor = self.min_rps / self.ok_rate  # the band's throughput floor
        share_out = counts.ok < floor * self.ok_share * counts.due and (
            _binomial_at_most(counts.ok, counts.due, self.ok_share) < alpha
        )
        throughput_out = rate_out or share_out
        latency_out = counts.slow > _SLOW_SHARE * counts.ok and (
            _binomial_at_least(counts.slow, counts.ok, _SLOW_SHARE) < alpha
        )
        return not (errors_out or throughput_out or latency_out)


def limits_from(baseline: Window, band: Band = Band()) -> Limits | None:
    """The band around the baseline, or None when the baseline has nothing to go by."""
    merged = baseline.merged
    if merged.ok == 0 or baseline.duration == 0:
        return None
    p90 = merged.latency_us.get_value_at_percentile(90) / 1e6
    completed_rate = merged.completed / baseline.duration
    counted = [s.completed for s in baseline.seconds if s.valid or s.second in baseline.counted]
    variance = sum((count - completed_rate) ** 2 for count in counted) / len(counted)
    return Limits(
        max_p90=band.latency_factor * p90 + band.latency_slack,
        max_error_rate=merged.failures / merged.completed + band.error_points,
        min_rps=band.throughput_floor * merged.ok / baseline.duration,
        ok_rate=merged.ok / baseline.duration,
        error_share=(merged.failures + 1) / (merged.completed + 2),
        ok_share=(merged.ok + 1) / (merged.demand + 2),
        completed_rate=completed_rate,
        dispersion=max(1.0, variance / completed_rate),
        pooled=max(1, math.ceil(band.pooled_requests / completed_rate)),
        alpha=band.alpha,
        detect_alpha=band.detect_alpha,
    )


def time_to_detect(
    seconds: Sequence[SecondStats], limits: Limits, *, injected_at: float, until: float
) -> float | None:
    """Seconds from ``injected_at`` to the start of the first window outside the band."""
    counts = _counts(seconds, limits, injected_at, until)
    for index in range(len(counts)):
        if not _inside(counts[index:], limits, span=limits.pooled, alpha=limits.detect_alpha):
            return max(0.0, math.ceil(injected_at) + index - injected_at)
    return None


def time_to_recover(
    seconds: Sequence[SecondStats],
    limits: Limits,
    *,
    reverted_at: float,
    until: float,
    consecutive: int = Band().consecutive,
) -> float | None:
    """Seconds from ``reverted_at`` to the start of ``max(consecutive, pooled)`` seconds (or
    all those left, ``consecutive`` at least) in which every window is inside the band; None
    when that did not happen before ``until``."""
    counts = _counts(seconds, limits, reverted_at, until)
    span = max(consecutive, limits.pooled)
    for index in range(len(counts) - consecutive + 1):
        stretch = counts[index : index + span]
        if all(
            _inside(stretch[window:], limits, span=limits.pooled)
            for window in range(max(1, len(stretch) - limits.pooled + 1))
        ):
            return max(0.0, math.ceil(reverted_at) + index - reverted_at)
    return None


def _counts(
    seconds: Sequence[SecondStats], limits: Limits, start: float, end: float
) -> list[Counts]:
    """The counts of every whole second in [start, end), missing seconds counting as empty."""
    by_second = {s.second: s for s in seconds}
    return [
        limits.counts(by_second.get(second, SecondStats(second=second)))
        for second in range(math.ceil(start), math.floor(end))
    ]


def _inside(
    counts: Sequence[Counts], limits: Limits, *, span: int, alpha: float | None = None
) -> bool:
    """Whether the window of the first ``span`` of ``counts`` (fewer at the end) is inside."""
    window = counts[:span]
    return limits.holds_counts(sum(window, Counts()), seconds=len(window), alpha=alpha)


def _binomial_at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed outward from k (terms shrink past the mean)."""
    if k <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    total = 0.0
    log_term = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    term = math.exp(log_term)
    for j in range(k, n + 1):
        total += term
        if term < 1e-17 * total or j == n:
            break
        term *= (n - j) / (j + 1) * p / (1 - p)
    return min(1.0, total)


def _binomial_at_most(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p): the failures' upper tail, n - k of them or more."""
    return _binomial_at_least(n - k, n, 1 - p)


def _poisson_at_most(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean), summed downward from k."""
    if k < 0:
        return 0.0
    if mean <= 0:
        return 1.0
    total = 0.0
    term = math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
    for j in range(k, -1, -1):
        total += term
        if term < 1e-17 * total:
            break
        term *= j / mean
    return min(1.0, total)
