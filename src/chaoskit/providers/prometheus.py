"""SLIs read from a Prometheus server: an objective judged on a PromQL range query per window.

::

    from chaoskit.providers import prometheus

    server_p99 = prometheus.query(
        name="server p99",
        promql="histogram_quantile(0.99, sum by (le) "
        "(rate(shop_request_duration_seconds_bucket[5s])))",
        below="50ms",
    )

For each phase window, the objective asks ``/api/v1/query_range`` for ``promql`` from the
window's start plus the expression's longest range (``[5s]`` above: a point's rate looks back
that far, and must not reach into the phase before) to its end, every ``step``, reduces each
returned series to one number (``aggregate``), and compares the worst series with the
threshold. Before asking, it waits until Prometheus has scraped past the window's end, so the
last seconds of a phase are not missing from its figure.

Where the server is: ``url=``, else the Prometheus server of the running local environment
(``prometheus = true``), else the ``CHAOSKIT_PROMETHEUS_URL`` environment variable.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
)

from chaoskit.durations import Duration, format_duration, parse_duration
from chaoskit.errors import ConfigError, ProviderError
from chaoskit.slo.objectives import (
    ALL_PHASES,
    Kind,
    Measurement,
    _Composable,
    format_latency,
    format_ratio,
    parse_phases,
    parse_ratio,
)
from chaoskit.slo.window import PhaseKind, Window

__all__ = [
    "ENV_VAR",
    "PrometheusClient",
    "PrometheusQuery",
    "Series",
    "default_url",
    "query",
    "use_default_url",
]

ENV_VAR = "CHAOSKIT_PROMETHEUS_URL"
Aggregate = Literal["max", "min", "mean", "last"]
Unit = Literal["number", "seconds", "ratio"]
AGGREGATES: tuple[Aggregate, ...] = ("max", "min", "mean", "last")

DEFAULT_TIMEOUT = 5.0  # per HTTP request
DEFAULT_SETTLE = 10.0  # how long to wait for Prometheus to scrape past a window's end
# A refused connection or a 503 (Prometheus still opening its storage) is worth a second try;
# a server that stays away is reported quickly, naming its URL.
CONNECT_ATTEMPTS = 3
RETRY_WAIT = 0.2
SETTLE_POLL = 0.25

# The servers of running environments, newest last; see use_default_url().
_environment_urls: list[str] = []


def use_default_url(url: str) -> Callable[[], None]:
    """Make ``url`` the server of objectives without ``url=`` until the returned function is
    called. The local environment does this for the Prometheus server it runs."""
    _environment_urls.append(url)

    def forget() -> None:
        if url in _environment_urls:
            _environment_urls.remove(url)

    return forget


def default_url() -> str | None:
    """The running environment's Prometheus server, else ``$CHAOSKIT_PROMETHEUS_URL``."""
    if _environment_urls:
        return _environment_urls[-1]
    return os.environ.get(ENV_VAR) or None


# -- the HTTP API -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Series:
    """One series of a range query: its labels and its ``(epoch seconds, value)`` points."""

    labels: Mapping[str, str]
    points: Sequence[tuple[float, float]]

    def describe(self) -> str:
        if not self.labels:
            return "{}"
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items())) + "}"


class _Unavailable(Exception):
    """A failure worth retrying: refused connection, timeout, 503."""


class PrometheusClient:
    """The parts of Prometheus' HTTP API (``/api/v1``) the objectives use. stdlib only."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"PrometheusClient({self.url!r})"

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[Series]:
        data = self._get(
            "/api/v1/query_range",
            {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        return [_series(item, item.get("values", [])) for item in data.get("result", [])]

    def query(self, promql: str, *, at: float | None = None) -> list[Series]:
        """An instant query; each series has one point."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        result = data.get("result", [])
        if data.get("resultType") == "scalar":
            return [_series({}, [result])]
        return [_series(item, [item["value"]]) for item in result]

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        params = {**params, "timeout": f"{self.timeout:g}s"}
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        retrying = Retrying(
            stop=stop_after_attempt(CONNECT_ATTEMPTS) | stop_after_delay(self.timeout),
            wait=wait_fixed(RETRY_WAIT),
            retry=retry_if_exception_type(_Unavailable),
        )
        try:
            body = retrying(self._fetch, address)
        except RetryError as error:
            reason = error.last_attempt.exception()
            raise ProviderError(
                f"cannot reach Prometheus at {self.url}: {reason}. Is it running? Pass url= to "
                f"the objective, set {ENV_VAR}, or enable prometheus = true in "
                f"[tool.chaoskit.env.local]."
            ) from None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderError(
                f"{self.url} answered {path} with {body[:200]!r}, not Prometheus' JSON; is "
                f"that URL a Prometheus server?"
            )
        if answer.get("status") != "success":
            promql = params.get("query", "")
            message = answer.get("error", answer)
            if answer.get("errorType") == "bad_data":
                raise ConfigError(
                    f"Prometheus at {self.url} refused the query {promql!r}: {message}. Fix "
                    f"the PromQL; try it in {self.url}/graph."
                )
            raise ProviderError(f"Prometheus at {self.url} failed on {promql!r}: {message}")
        data: dict[str, Any] = answer.get("data", {})
        return data

    def _fetch(self, address: str) -> bytes:
        request = urllib.request.Request(address, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as error:
            if error.code == 503:
                raise _Unavailable(f"HTTP 503 ({error.reason})") from error
            # 400 and 422 carry Prometheus' own explanation in the usual JSON envelope.
            refused: bytes = error.read()
            return refused
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise _Unavailable(str(reason)) from error


def _series(item: Mapping[str, Any], values: Iterable[Sequence[Any]]) -> Series:
    return Series(
        labels=dict(item.get("metric", {})),
        # float() reads Prometheus' "NaN", "+Inf" and "-Inf".
        points=[(float(at), float(value)) for at, value in values],
    )


# -- the objective ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PrometheusQuery(_Composable):
    """A PromQL expression over each window stays below (or above) a threshold.

    Build it with ``prometheus.query(...)``, which normalises the arguments. Per series, the
    points inside the window reduce to one value with ``aggregate``; NaN points (a ratio of
    zero to zero, a quantile of no requests) are left out. With several series the worst one
    decides (the highest against ``below``, the lowest against ``above``) and is named in the
    verdict. No point at all is *inconclusive*, never a pass.
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
        if start + lookback > end:
            return self._inconclusive(
                window,
                0,
                f"the window ({end - start:.1f}s) is shorter than the longest range in the "
                f"query ({format_duration(lookback)}), so every point would reach into the "
                f"phase before it; shorten the range or lengthen the phase",
            )
        start += lookback
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
            kind=self.kind,
            limit=self.threshold,
            window=window.name,
            value=None,
            shown="n/a",
            status="inconclusive",
            samples=samples,
            reason=reason,
        )


def query(
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
    """An objective on a PromQL expression, judged over each phase window.

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


_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*(?::[^\]]*)?\]")
_RANGE_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_RANGE_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def longest_range(promql: str) -> float:
    """The longest range selector or subquery range in ``promql`` (``[5s]``, ``[1m30s:1s]``),
    in seconds; 0 when it has none."""
    return max(
        (
            sum(int(n) * _RANGE_UNIT_SECONDS[unit] for n, unit in _RANGE_PART.findall(text))
            for text in _RANGE.findall(promql)
        ),
        default=0.0,
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
