"""Prometheus' HTTP API (``/api/v1``), the parts chaoskit uses; stdlib only, in the pytest
process. And where the server is: ``use_default_url`` (the running local environment's) or
``$CHAOSKIT_PROMETHEUS_URL``.

Prometheus answers JSON; it is read here into typed ``Series`` and nothing past this module
sees the raw answer.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
)

from chaoskit.errors import ConfigError, ProviderError

ENV_VAR = "CHAOSKIT_PROMETHEUS_URL"
DEFAULT_TIMEOUT = 5.0  # per HTTP request
# A refused connection or a 503 (Prometheus still opening its storage) is worth a second try;
# a server that stays away is reported quickly, naming its URL.
CONNECT_ATTEMPTS = 3
RETRY_WAIT = 0.2

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
        return [
            self._series(item, self._field(item, "values", []))
            for item in self._items(data.get("result", []))
        ]

    def query(self, promql: str, *, at: float | None = None) -> list[Series]:
        """An instant query; each series has one point."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        result = data.get("result", [])
        if data.get("resultType") == "scalar":
            return [self._series({}, [result])]
        return [self._series(item, [self._field(item, "value")]) for item in self._items(result)]

    def _get(self, path: str, params: Mapping[str, str]) -> Mapping[str, object]:
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
            answer: object = json.loads(body)
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
        data = answer.get("data", {})
        if not isinstance(data, dict):
            raise self._malformed(data)
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

    # -- reading the JSON answer into Series ----------------------------------------------

    def _items(self, result: object) -> list[Mapping[str, object]]:
        if not isinstance(result, list) or not all(isinstance(i, dict) for i in result):
            raise self._malformed(result)
        return result

    def _field(self, item: Mapping[str, object], name: str, default: object = None) -> object:
        value = item.get(name, default)
        if value is None:
            raise self._malformed(item)
        return value

    def _series(self, item: Mapping[str, object], values: object) -> Series:
        labels = item.get("metric", {})
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise self._malformed(item)
        points = []
        for point in values:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise self._malformed(point)
            at, value = point
            points.append((self._number(at), self._number(value)))
        return Series(labels={str(k): str(v) for k, v in labels.items()}, points=points)

    def _number(self, value: object) -> float:
        # Times are numbers, values strings; float() reads Prometheus' "NaN", "+Inf", "-Inf".
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self._malformed(value)
        try:
            return float(value)
        except ValueError:
            raise self._malformed(value) from None

    def _malformed(self, part: object) -> ProviderError:
        return ProviderError(
            f"Prometheus at {self.url} answered {str(part)[:200]!r} where its API has a "
            f"result; is that URL a Prometheus server of version 2 or later?"
        )
