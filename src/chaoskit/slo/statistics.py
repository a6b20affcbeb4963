"""Did the fault change what users saw? Baseline against each later window, with statistics.

Latency: the Mann-Whitney U test on the two windows' latency histograms (every request, in
3-significant-digit buckets counted as ties), one-sided: "later requests are slower". Its
effect size is the probability of superiority ``A`` (Vargha and Delaney): the chance that a
request of the later window is slower than one of the baseline, 0.5 meaning no difference.
A fault *degraded* latency when the test is significant (p < alpha), the effect is at least
``min_effect`` (0.64, a medium effect) **and** the median moved by at least ``min_shift``
(10 ms): with thousands of requests even a harmless microsecond is significant, and on a
millisecond-fast service a busy laptop shifts the whole distribution by a millisecond (a
large effect in probability, none for users), so the size of the shift decides what matters.

Errors: a one-sided two-proportion z-test on the failure ratios, with the effect being the
increase in percentage points (at least ``min_increase``, 0.5 points, to matter).

Too few requests on either side (20 for latency, 100 for errors) is inconclusive. The normal
approximations used here are accurate at those sizes and above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from chaoskit.durations import format_duration, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.slo.composite import Composable
from chaoskit.slo.measurement import Kind, Measurement, Status
from chaoskit.slo.samples import SampleNeed, too_few
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.units import parse_phases, parse_ratio
from chaoskit.slo.window import PhaseKind, Window

MIN_LATENCY_SAMPLES = 20
MIN_REQUESTS = 100


@dataclass(frozen=True, kw_only=True)
class UTest:
    u: float  # pairs in which the later request was slower (ties count half)
    p_value: float  # one-sided: the later window is slower
    effect: float  # A = U / (n1 * n2)


def mann_whitney(baseline: SecondStats, later: SecondStats) -> UTest:
    """The one-sided U test of ``later`` being slower than ``baseline``, from histograms."""
    base_counts = _counts(baseline)
    later_counts = _counts(later)
    n1, n2 = baseline.ok, later.ok
    u = 0.0
    below = 0  # baseline requests faster than the current value
    ties_term = 0.0
    for value in sorted(base_counts.keys() | later_counts.keys()):
        a, b = base_counts.get(value, 0), later_counts.get(value, 0)
        u += b * below + 0.5 * a * b
        below += a
        tied = a + b
        ties_term += tied**3 - tied
    n = n1 + n2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties_term / (n * (n - 1)))
    if variance <= 0:  # every request in the same bucket: no difference at all
        return UTest(u=u, p_value=1.0, effect=0.5)
    z = (u - mean - 0.5) / math.sqrt(variance)  # continuity correction
    return UTest(u=u, p_value=_upper_tail(z), effect=u / (n1 * n2))


def proportion_increase(baseline: SecondStats, later: SecondStats) -> tuple[float, float]:
    """(one-sided p-value that ``later`` fails more often, increase in the failure ratio)."""
    n1, n2 = baseline.completed, later.completed
    p1, p2 = baseline.failures / n1, later.failures / n2
    pooled = (baseline.failures + later.failures) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0, p2 - p1
    return _upper_tail((p2 - p1) / spread), p2 - p1


@dataclass(frozen=True, kw_only=True)
class LatencyUnchanged(Composable):
    """Latency in later windows is not significantly and materially slower than baseline."""

    alpha: float = 0.01
    min_effect: float = 0.64
    min_shift: float = 0.010  # seconds the median must move to matter
    phases: frozenset[PhaseKind] = field(default=frozenset({"fault"}))
    kind: ClassVar[Kind] = "statistical"

    def describe(self) -> str:
        return (
            f"latency unchanged (A < {self.min_effect:g}, p50 +{format_duration(self.min_shift)}"
            f" or p >= {self.alpha:g})"
        )

    def sample_need(self) -> SampleNeed:
        return SampleNeed(
            needed=MIN_LATENCY_SAMPLES,
            noun="successful requests",
            requirement=f"comparing latencies needs {MIN_LATENCY_SAMPLES} on each side",
            count=lambda second: second.ok,
            against_baseline=True,
        )

    def evaluate(self, window: Window) -> Measurement:
        sides = _sides(window, self.sample_need())
        if isinstance(sides, str):
            return _measured(self, window, "inconclusive", "n/a", None, window.merged.ok, sides)
        base, later = sides
        test = mann_whitney(base, later)
        shift = (
            later.latency_us.get_value_at_percentile(50)
            - base.latency_us.get_value_at_percentile(50)
        ) / 1e6
        degraded = (
            test.p_value < self.alpha and test.effect >= self.min_effect and shift >= self.min_shift
        )
        shown = f"A={test.effect:.2f}, p50 {shift * 1000:+.3g}ms, p={_p(test.p_value)}"
        return _measured(
            self,
            window,
            "fail" if degraded else "pass",
            shown,
            test.effect,
            later.ok,
            f"slower than baseline: {shown}" if degraded else "",
        )


@dataclass(frozen=True, kw_only=True)
class ErrorsUnchanged(Composable):
    """The failure ratio in later windows is not significantly and materially higher."""

    alpha: float = 0.01
    min_increase: float = 0.005
    phases: frozenset[PhaseKind] = field(default=frozenset({"fault"}))
    kind: ClassVar[Kind] = "statistical"

    def describe(self) -> str:
        return f"errors unchanged (+{self.min_increase * 100:g} points or p >= {self.alpha:g})"

    def sample_need(self) -> SampleNeed:
        return SampleNeed(
            needed=MIN_REQUESTS,
            noun="completed requests",
            requirement=f"comparing error rates needs {MIN_REQUESTS} on each side",
            count=lambda second: second.completed,
            against_baseline=True,
        )

    def evaluate(self, window: Window) -> Measurement:
        sides = _sides(window, self.sample_need())
        if isinstance(sides, str):
            return _measured(
                self, window, "inconclusive", "n/a", None, window.merged.completed, sides
            )
        base, later = sides
        p_value, increase = proportion_increase(base, later)
        worse = p_value < self.alpha and increase >= self.min_increase
        shown = f"{increase * 100:+.2f} points, p={_p(p_value)}"
        return _measured(
            self,
            window,
            "fail" if worse else "pass",
            shown,
            increase,
            later.completed,
            f"fails more often than baseline: {shown}" if worse else "",
        )


def latency_unchanged(
    *,
    alpha: str | float = "1%",
    min_effect: float = 0.64,
    min_shift: str | float = "10ms",
    phases: str = "during",
) -> LatencyUnchanged:
    """``slo.latency_unchanged()``: the fault did not make requests materially slower."""
    if (
        isinstance(min_effect, bool)
        or not isinstance(min_effect, float | int)
        or not (0.5 < min_effect < 1)
    ):
        raise ConfigError(
            f"slo.latency_unchanged(min_effect={min_effect!r}): the effect is a probability "
            f"above 0.5 and below 1; 0.56, 0.64 and 0.71 are small, medium and large effects."
        )
    return LatencyUnchanged(
        alpha=parse_ratio(alpha, field="slo.latency_unchanged(alpha)"),
        min_effect=float(min_effect),
        min_shift=parse_duration(min_shift, field="slo.latency_unchanged(min_shift)"),
        phases=_later_phases(phases, "slo.latency_unchanged"),
    )


def errors_unchanged(
    *, alpha: str | float = "1%", min_increase: str | float = "0.5%", phases: str = "during"
) -> ErrorsUnchanged:
    """``slo.errors_unchanged()``: the fault did not make requests fail materially more."""
    return ErrorsUnchanged(
        alpha=parse_ratio(alpha, field="slo.errors_unchanged(alpha)"),
        min_increase=parse_ratio(min_increase, field="slo.errors_unchanged(min_increase)"),
        phases=_later_phases(phases, "slo.errors_unchanged"),
    )


def _later_phases(phases: str, name: str) -> frozenset[PhaseKind]:
    """The phases after the baseline a comparison with the baseline is judged in."""
    chosen = parse_phases(phases) - {"baseline"}
    if not chosen:
        raise ConfigError(
            f"{name}(phases={phases!r}) compares later phases with the baseline; choose "
            f"'during', 'after' or both."
        )
    return chosen


def _counts(stats: SecondStats) -> dict[int, int]:
    if not stats.ok:
        return {}
    return {
        item.value_iterated_to: item.count_added_in_this_iter_step
        for item in stats.latency_us.get_recorded_iterator()
    }


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _p(p_value: float) -> str:
    return f"{p_value:.2g}" if p_value >= 1e-4 else "<0.0001"


def _sides(window: Window, need: SampleNeed) -> tuple[SecondStats, SecondStats] | str:
    """The baseline's and ``window``'s merged seconds, or why they cannot be compared: the
    side that holds too few samples for ``need``, with its fix."""
    if window.baseline is None:
        return "no baseline to compare with"
    base, later = window.baseline.merged, window.merged
    if need.count(base) < need.needed:
        return "the baseline: " + too_few(window.baseline, need)
    if need.count(later) < need.needed:
        return too_few(window, need)
    return base, later


def _measured(
    objective: LatencyUnchanged | ErrorsUnchanged,
    window: Window,
    status: Status,
    shown: str,
    value: float | None,
    samples: int,
    reason: str,
) -> Measurement:
    return Measurement(
        objective=objective.describe(),
        objective_key=objective.key,
        kind="statistical",
        limit=None,
        window=window.name,
        value=value,
        shown=shown,
        status=status,
        samples=samples,
        reason=reason,
    )
