"""SLIs read from a Prometheus server: an objective judged on a PromQL range query per window.

::

    from chaoskit import prometheus

    server_p99 = prometheus.query(
        name="server p99",
        promql="histogram_quantile(0.99, sum by (le) "
        "(rate(shop_request_duration_seconds_bucket[5s])))",
        below="50ms",
    )

For each phase window, the objective asks ``/api/v1/query_range`` for ``promql`` at the
window's end and every ``step`` back from it, down to its start plus the expression's longest
range (``[5s]`` above: a point's rate looks back that far, and must not reach into the phase
before), reduces each returned series to one number (``aggregate``), and compares the worst
series with the threshold. Before asking, it waits until Prometheus has scraped past the
window's end, so the last seconds of a phase are not missing from its figure.

Where the server is: ``url=``, else the Prometheus server of the running local environment
(``prometheus = true``), else the ``CHAOSKIT_PROMETHEUS_URL`` environment variable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.durations import Duration, format_duration, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.prometheus.client import (
    DEFAULT_TIMEOUT,
    ENV_VAR,
    PrometheusClient,
    Series,
    default_url,
)
from chaoskit.prometheus.promql import longest_range
from chaoskit.slo import (
    ALL_PHASES,
    Composable,
    Kind,
    Measurement,
    PhaseKind,
    Window,
    format_latency,
    format_ratio,
    parse_phases,
    parse_ratio,
)

Aggregate = Literal["max", "min", "mean", "last"]
Unit = Literal["number", "seconds", "ratio"]
AGGREGATES: tuple[Aggregate, ...] = ("max", "min", "mean", "last")

DEFAULT_SETTLE = 10.0  # how long to wait for Prometheus to scrape past a window's end
SETTLE_POLL = 0.25


@dataclass(frozen=True, kw_only=True)
class PrometheusQuery(Composable):
    """A PromQL expression over each window stays below (or above) a threshold.

    Build it with ``prometheus.query(...)`` (``promql_objective`` here), which normalises the
    arguments. Per series, the points inside the window reduce to one value with
    ``aggregate``; NaN points (a ratio of zero to zero, a quantile of no requests) are left
    out. With several series the worst one decides (the highest against ``below``, the lowest
    against ``above``) and is named in the verdict. No point at all is *inconclusive*,
    never a pass.
    """

    name: str
    promql: str
    threshold: float
    direction: Literal["below", "above"]
    aggregate: Aggregate
    unit: Unit = "number"
    url: str | None = None
    step: float = 1.0
    settle: float = DEFAULT_SETTLE
    wait_for: str | None = "up"
    timeout: float = DEFAULT_TIMEOUT
    phases: frozenset[PhaseKind] = ALL_PHASES
    kind: ClassVar[Kind] = "custom"

    def describe(self) -> str:
        op = "<" if self.direction == "below" else ">"
        return f"{self.name} {op} {self._show_threshold()}"

    def server(self) -> str:
        """The server this objective asks: ``url``, else ``default_url()``."""
        url = self.url or default_url()
        if url is None:
            raise ConfigError(
                f"prometheus.query(name={self.name!r}) has no Prometheus server to ask: pass "
                f"url='http://host:9090', set the environment variable {ENV_VAR}, or start the "
                f"local environment with prometheus = true in [tool.chaoskit.env.local]."
            )
        return url

    def evaluate(self, window: Window) -> Measurement:
        bounds = _bounds(window)
        if bounds is None:
            return self._inconclusive(window, 0, "the window has no wall-clock bounds")
        start, end = bounds
        # A guardrail's single second (no bounds of its own) is judged on the trailing range.
        lookback = longest_range(self.promql) if window.end > window.start else 0.0
        # Where points may fall. To the microsecond: at epoch scale a float is only good to
        # 2.4e-7 s, and a window exactly as long as the range must still get its one point.
        span = round(end - start - lookback, 6)
        if span < 0:
            return self._inconclusive(
                window,
                0,
                f"the window ({end - start:.1f}s) is shorter than the longest range in the "
                f"query ({format_duration(lookback)}), so every point would reach into the "
                f"phase before it; shorten the range or lengthen the phase",
            )
        # Points every step back from the window's end, none before its start plus the
        # lookback: the last point ("last") is the value at the end itself, not at whatever
        # instant a step from the start fell on, up to a step before it (a counter read
        # there missed the phase's final requests).
        start = end - math.floor(span / self.step) * self.step
        client = PrometheusClient(self.server(), timeout=self.timeout)
        behind = self._wait_for_scrapes(client, end)
        if behind is not None:
            return self._inconclusive(
                window,
                0,
                f"Prometheus at {client.url} had not scraped past the end of the window after "
                f"{format_duration(self.settle)} (latest scrape of {self.wait_for} "
                f"{end - behind:.1f}s before it); lengthen settle= or check its targets",
            )
        found = client.query_range(self.promql, start=start, end=end, step=self.step)
        reduced = [(series, self._reduce(series)) for series in found]
        judged = [(series, value, points) for series, (value, points) in reduced if points]
        samples = sum(points for _, _, points in judged)
        if not judged:
            what = "only NaN" if found else "no data"
            return self._inconclusive(
                window,
                0,
                f"{self.promql!r} returned {what} between {_clock(start)} and {_clock(end)}: "
                f"is the metric scraped? Try the query in {client.url}/graph",
            )
        pick = max if self.direction == "below" else min
        series, value, _ = pick(judged, key=lambda item: item[1])
        passed = value < self.threshold if self.direction == "below" else value > self.threshold
        which = f" (worst of {len(judged)} series: {series.describe()})" if len(judged) > 1 else ""
        return Measurement(
            objective=self.describe(),
            objective_key=self.key,
            kind=self.kind,
            limit=self.threshold,
            window=window.name,
            value=value,
            shown=self._show(value),
            status="pass" if passed else "fail",
            samples=samples,
            reason=""
            if passed
            else f"{self.aggregate} {self._show(value)} is not {self.direction} "
            f"{self._show_threshold()}{which}",
        )

    def _wait_for_scrapes(self, client: PrometheusClient, end: float) -> float | None:
        """None once every series of ``wait_for`` has a sample at or after ``end``; else the
        time of the oldest latest sample when ``settle`` runs out."""
        if self.wait_for is None:
            return None

        def oldest_latest_sample() -> float | None:
            found = client.query(f"min(timestamp({self.wait_for}))")
            latest = [value for series in found for _, value in series.points]
            # No such series at all: nothing to wait for; the query will show what exists.
            return None if not latest or math.isnan(latest[0]) else latest[0]

        retrying = Retrying(
            stop=stop_after_delay(self.settle),
            wait=wait_fixed(SETTLE_POLL),
            retry=retry_if_result(lambda oldest: oldest is not None and oldest < end),
        )
        try:
            retrying(oldest_latest_sample)
        except RetryError as error:
            oldest: float = error.last_attempt.result()
            return oldest
        return None

    def _reduce(self, series: Series) -> tuple[float, int]:
        values = [value for _, value in series.points if not math.isnan(value)]
        if not values:
            return math.nan, 0
        if self.aggregate == "max":
            return max(values), len(values)
        if self.aggregate == "min":
            return min(values), len(values)
        if self.aggregate == "mean":
            return math.fsum(values) / len(values), len(values)
        return values[-1], len(values)

    def _show_threshold(self) -> str:
        if self.unit == "seconds":
            return format_duration(self.threshold)
        if self.unit == "ratio":
            return f"{self.threshold * 100:g}%"
        return f"{self.threshold:g}"

    def _show(self, value: float) -> str:
        if math.isinf(value) or math.isnan(value):
            return str(value)
        if self.unit == "seconds":
            return format_latency(value)
        if self.unit == "ratio":
            return format_ratio(value)
        return f"{value:.4g}"

    def _inconclusive(self, window: Window, samples: int, reason: str) -> Measurement:
        return Measurement(
            objective=self.describe(),
            objective_key=self.key,
            kind=self.kind,
            limit=self.threshold,
            window=window.name,
            value=None,
            shown="n/a",
            status="inconclusive",
            samples=samples,
            reason=reason,
        )


def promql_objective(
    *,
    name: str,
    promql: str,
    below: str | float | None = None,
    above: str | float | None = None,
    aggregate: Aggregate | None = None,
    url: str | None = None,
    step: Duration = "1s",
    settle: Duration = DEFAULT_SETTLE,
    wait_for: str | None = "up",
    timeout: Duration = DEFAULT_TIMEOUT,
    phases: str | Iterable[str] = "all",
) -> PrometheusQuery:
    """``prometheus.query(...)``: an objective on a PromQL expression, judged over each phase
    window. (Named apart from ``PrometheusClient.query``, the client's instant query.)

    - ``below`` / ``above`` (exactly one): the value must stay strictly below / above it. A
      duration (``"50ms"``) reads and shows the values as seconds, a percentage (``"1%"``) as
      ratios, a number as plain numbers.
    - ``aggregate``: how the points of a series reduce to one value: ``"max"``, ``"min"``,
      ``"mean"`` or ``"last"``; default the worst point (``max`` for ``below``, ``min`` for
      ``above``).
    - ``url``: the server; default the local environment's, then ``$CHAOSKIT_PROMETHEUS_URL``.
    - ``step``: the range query's resolution.
    - ``settle``: how long to wait for Prometheus to scrape past the window's end;
      ``wait_for``: whose scrapes to wait for (a series selector, default ``up``: every
      target; ``None``: do not wait). Still behind after ``settle``: inconclusive.
    - ``timeout``: per HTTP request.
    - ``phases``: as for every objective (``"all"``, ``"during"``, ``["during", "after"]``).
    """
    where = f"prometheus.query(name={name!r})"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"prometheus.query(name={name!r}): name the objective, e.g. name='server p99'."
        )
    if not isinstance(promql, str) or not promql.strip():
        raise ConfigError(
            f"{where}: promql={promql!r} must be a PromQL expression, e.g. "
            f"'sum(rate(shop_requests_total[5s]))'."
        )
    if (below is None) == (above is None):
        raise ConfigError(
            f"{where} takes exactly one of below= or above= (a number, a duration such as "
            f"'50ms', or a percentage such as '1%')."
        )
    direction: Literal["below", "above"] = "below" if below is not None else "above"
    threshold, unit = _threshold(below if below is not None else above, f"{where}: {direction}")
    chosen = aggregate or ("max" if direction == "below" else "min")
    if chosen not in AGGREGATES:
        raise ConfigError(
            f"{where}: aggregate={aggregate!r} is not one of {', '.join(map(repr, AGGREGATES))}."
        )
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise ConfigError(f"{where}: url={url!r} must be like 'http://127.0.0.1:9090'.")
    if wait_for is not None and (not isinstance(wait_for, str) or not wait_for.strip()):
        raise ConfigError(
            f"{where}: wait_for={wait_for!r} must be a series selector such as "
            f"'up{{job=\"web\"}}', or None."
        )
    return PrometheusQuery(
        name=name,
        promql=promql,
        threshold=threshold,
        direction=direction,
        aggregate=chosen,
        unit=unit,
        url=url,
        step=parse_duration(step, field=f"{where}: step", allow_zero=False),
        settle=parse_duration(settle, field=f"{where}: settle"),
        wait_for=wait_for,
        timeout=parse_duration(timeout, field=f"{where}: timeout", allow_zero=False),
        phases=parse_phases(phases),
    )


def _threshold(value: object, field: str) -> tuple[float, Unit]:
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_ratio(value, field=field, allow_above_one=True), "ratio"
    if isinstance(value, str):
        return parse_duration(value, field=field), "seconds"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(
            f"{field}={value!r} is not a threshold; write a number, a duration such as '50ms' "
            f"or a percentage such as '1%'."
        )
    return float(value), "number"


def _bounds(window: Window) -> tuple[float, float] | None:
    """The window's wall-clock span; a window built from seconds alone (the guardrail's) spans
    those seconds."""
    if window.end > window.start:
        return window.start, window.end
    if window.seconds:
        return float(window.seconds[0].second), float(window.seconds[-1].second + 1)
    return None


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))
