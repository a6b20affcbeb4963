"""prometheus.query(): construction, aggregation, no data, waiting for scrapes, errors.

Prometheus is played by a small HTTP server on loopback answering canned JSON, so every
answer the real API can give (NaN, several series, bad_data, 503) is cheap to produce; the
real server is in tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chaoskit import prometheus, slo
from chaoskit.config import resolve_environment
from chaoskit.errors import ConfigError, ProviderError
from chaoskit.prometheus.client import CONNECT_ATTEMPTS
from chaoskit.slo.seconds import SecondStats
from chaoskit.slo.window import Window

START, END = 1_700_000_000.0, 1_700_000_010.0
Answer = tuple[int, dict[str, Any]]


class FakePrometheus:
    """Answers /api/v1/query (the scrape-freshness check) and /api/v1/query_range."""

    def __init__(self) -> None:
        self.reset()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(parts.query))
                fake.requests.append((parts.path, params))
                if parts.path == "/api/v1/query":
                    status, body = 200, vector(fake.latest_scrape)
                else:
                    status, body = fake.range_answer(params)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.latest_scrape = END + 0.5
        self.range_answer: Callable[[dict[str, str]], Answer] = lambda params: matrix(
            ({}, ["0.001"])
        )
        self.requests: list[tuple[str, dict[str, str]]] = []

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def range_queries(self) -> list[dict[str, str]]:
        return [params for path, params in self.requests if path == "/api/v1/query_range"]


def vector(value: float | None) -> dict[str, Any]:
    result = [] if value is None else [{"metric": {}, "value": [time.time(), repr(value)]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def matrix(*series: tuple[dict[str, str], list[str]]) -> Answer:
    result = [
        {
            "metric": labels,
            "values": [[START + index, value] for index, value in enumerate(values)],
        }
        for labels, values in series
    ]
    return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}


@pytest.fixture(scope="module")
def server() -> Iterator[FakePrometheus]:
    # One for the module: shutting an http.server down takes half a second.
    running = FakePrometheus()
    yield running
    running.close()


@pytest.fixture
def fake(server: FakePrometheus) -> FakePrometheus:
    server.reset()
    return server


def window(name: str = "fault 1", *, start: float = START, end: float = END) -> Window:
    return Window(name=name, kind="fault", seconds=[], start=start, end=end)


def p99(fake: FakePrometheus, **overrides: Any) -> prometheus.PrometheusQuery:
    settings: dict[str, Any] = {
        "name": "server p99",
        "promql": "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5s])))",
        "below": "50ms",
        "url": fake.url,
        "settle": "1s",
    }
    return prometheus.query(**{**settings, **overrides})


# -- judging ------------------------------------------------------------------------------


def test_the_worst_point_decides_by_default(fake):
    fake.range_answer = lambda params: matrix(({}, ["0.010", "0.020", "0.012"]))

    held = p99(fake).evaluate(window())
    breached = p99(fake, below="15ms").evaluate(window())

    assert (held.status, held.value, held.shown, held.samples) == ("pass", 0.020, "20ms", 3)
    assert held.objective == "server p99 < 50ms"
    assert held.kind == "custom" and held.limit == 0.05 and held.window == "fault 1"
    assert breached.status == "fail"
    assert breached.reason == "max 20ms is not below 15ms"


@pytest.mark.parametrize(
    ("aggregate", "expected"), [("max", 4.0), ("min", 1.0), ("mean", 2.5), ("last", 3.0)]
)
def test_aggregates(fake, aggregate, expected):
    fake.range_answer = lambda params: matrix(({}, ["1", "4", "2", "3"]))

    measured = p99(fake, below=100, aggregate=aggregate).evaluate(window())

    assert measured.value == expected


def test_above_judges_the_lowest_point_and_is_strict(fake):
    fake.range_answer = lambda params: matrix(({}, ["250", "200", "260"]))
    rps = prometheus.query(name="rps", promql="sum(rate(x[2s]))", above=200, url=fake.url)

    measured = rps.evaluate(window())

    assert (measured.status, measured.value, measured.shown) == ("fail", 200.0, "200")
    assert measured.objective == "rps > 200"
    assert measured.reason == "min 200 is not above 200"


def test_with_several_series_the_worst_one_decides_and_is_named(fake):
    fake.range_answer = lambda params: matrix(
        ({"instance": "i-a"}, ["0.001", "0.002"]),
        ({"instance": "i-b"}, ["0.004", "0.030"]),
        ({"instance": "i-c"}, ["0.003", "0.001"]),
    )

    measured = p99(fake, below="1%").evaluate(window())

    assert measured.status == "fail"
    assert measured.value == 0.030 and measured.shown == "3.00%"
    assert measured.samples == 6
    assert 'worst of 3 series: {instance="i-b"}' in measured.reason


def test_nan_points_are_left_out(fake):
    fake.range_answer = lambda params: matrix(({}, ["NaN", "0.004", "NaN"]))

    measured = p99(fake).evaluate(window())

    assert (measured.status, measured.value, measured.samples) == ("pass", 0.004, 1)


def test_an_infinite_quantile_breaches(fake):
    # histogram_quantile answers +Inf when the quantile falls in the +Inf bucket.
    fake.range_answer = lambda params: matrix(({}, ["0.004", "+Inf"]))

    measured = p99(fake).evaluate(window())

    assert measured.status == "fail" and measured.shown == "inf"


@pytest.mark.parametrize(
    ("answer", "what"),
    [(matrix(), "no data"), (matrix(({}, ["NaN", "NaN"])), "only NaN")],
    ids=["empty", "nan"],
)
def test_no_data_is_inconclusive_never_a_pass(fake, answer, what):
    fake.range_answer = lambda params: answer

    measured = p99(fake).evaluate(window())

    assert measured.status == "inconclusive"
    assert measured.value is None and measured.shown == "n/a" and measured.samples == 0
    assert what in measured.reason and fake.url in measured.reason


def test_the_range_query_spans_the_window_at_the_step_from_past_its_longest_range(fake):
    p99(fake, step="500ms", timeout="3s").evaluate(window(start=START + 0.25, end=END))

    [params] = fake.range_queries()
    # rate(...[5s]) at an earlier point would reach back into the phase before the window;
    # the points are half-steps back from the end
    assert float(params["start"]) == START + 5.5
    assert float(params["end"]) == END
    assert params["step"] == "0.5"
    assert params["timeout"] == "3s"
    assert params["query"].startswith("histogram_quantile(0.99")


def test_the_last_point_is_at_the_window_s_end_not_a_step_from_its_start(fake):
    # A counter read "last" a step short of the end misses the phase's final requests.
    p99(fake, step="1s", aggregate="last").evaluate(window(start=START + 0.3, end=END))

    [params] = fake.range_queries()
    start, end = float(params["start"]), float(params["end"])
    assert end == END
    assert start == END - 4  # whole steps back from the end, none before START + 0.3 + 5


def test_a_window_as_long_as_the_range_gets_one_point_at_its_end(fake):
    # The window's length and the range agree to the millisecond; in floats the span
    # between them is -3e-8 s. Prometheus refuses a start after the end (400 bad_data).
    p99(fake, promql="max_over_time(x[5007ms])").evaluate(window(start=END - 5.007, end=END))

    [params] = fake.range_queries()
    assert float(params["start"]) == float(params["end"]) == END


def test_a_guardrail_second_without_bounds_spans_its_second(fake):
    second = Window(name="second 5", kind="fault", seconds=[SecondStats(second=int(START))])

    p99(fake).evaluate(second)

    [params] = fake.range_queries()
    assert (float(params["start"]), float(params["end"])) == (START, START + 1)


def test_a_window_shorter_than_the_longest_range_is_inconclusive(fake):
    measured = p99(fake).evaluate(window(start=START, end=START + 4))
    assert measured.status == "inconclusive" and "shorter than the longest range" in measured.reason
    assert fake.range_queries() == []


@pytest.mark.parametrize(
    ("promql", "seconds"),
    [
        ("up", 0),
        ("rate(x[5s])", 5),
        ("sum(rate(a[1m30s])) / sum(rate(b[10s]))", 90),
        ("max_over_time(rate(x[5s])[2m:1s])", 120),
        ("rate(x[250ms])", 0.25),
    ],
)
def test_the_longest_range_of_an_expression(promql, seconds):
    assert prometheus.longest_range(promql) == pytest.approx(seconds)


def test_a_window_without_bounds_or_seconds_is_inconclusive(fake):
    measured = p99(fake).evaluate(Window(name="x", kind="fault", seconds=[]))
    assert measured.status == "inconclusive"
    assert fake.requests == []


# -- waiting for the scrapes that cover the window's end -----------------------------------


def test_it_waits_until_prometheus_has_scraped_past_the_window_end(fake):
    fake.latest_scrape = END - 2

    def catch_up() -> None:
        time.sleep(0.4)
        fake.latest_scrape = END + 0.1

    threading.Thread(target=catch_up).start()
    started = time.monotonic()
    measured = p99(fake, settle="5s").evaluate(window())

    assert measured.status == "pass"
    assert 0.3 < time.monotonic() - started < 3
    freshness = [params for path, params in fake.requests if path == "/api/v1/query"]
    assert freshness[0]["query"] == "min(timestamp(up))"


def test_scrapes_that_never_catch_up_are_inconclusive(fake):
    fake.latest_scrape = END - 3

    measured = p99(fake, settle="0.5s", wait_for='up{job="web"}').evaluate(window())

    assert measured.status == "inconclusive"
    assert "had not scraped past the end" in measured.reason
    assert 'up{job="web"}' in measured.reason and "3.0s before" in measured.reason
    assert fake.range_queries() == []


def test_wait_for_none_asks_at_once(fake):
    fake.latest_scrape = END - 100

    measured = p99(fake, wait_for=None).evaluate(window())

    assert measured.status == "pass"
    assert [path for path, _ in fake.requests] == ["/api/v1/query_range"]


# -- errors -------------------------------------------------------------------------------


def test_bad_promql_is_a_config_error_with_prometheus_message(fake):
    fake.range_answer = lambda params: (
        400,
        {"status": "error", "errorType": "bad_data", "error": "parse error: unexpected ')'"},
    )

    with pytest.raises(ConfigError, match=r"refused the query .*unexpected '\)'.*/graph"):
        p99(fake).evaluate(window())


def test_an_execution_error_is_a_provider_error(fake):
    fake.range_answer = lambda params: (
        422,
        {"status": "error", "errorType": "execution", "error": "query timed out"},
    )

    with pytest.raises(ProviderError, match="query timed out"):
        p99(fake).evaluate(window())


def test_a_server_that_stays_unavailable_is_named(fake):
    fake.range_answer = lambda params: (503, {"status": "error", "error": "not ready"})

    with pytest.raises(ProviderError, match=rf"cannot reach Prometheus at {fake.url}: HTTP 503"):
        p99(fake).evaluate(window())
    assert len(fake.range_queries()) == CONNECT_ATTEMPTS


def test_an_unreachable_server_is_a_clear_error_naming_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        objective = prometheus.query(name="x", promql="up", above=0, url=url)
        started = time.monotonic()
        with pytest.raises(ProviderError) as raised:
            objective.evaluate(window())
    assert f"cannot reach Prometheus at {url}" in str(raised.value)
    assert "CHAOSKIT_PROMETHEUS_URL" in str(raised.value)
    assert time.monotonic() - started < 3


# -- where the server is ------------------------------------------------------------------


def test_the_url_comes_from_the_environment_first_then_the_variable(monkeypatch):
    monkeypatch.setattr(prometheus.client, "_environment_urls", [])
    monkeypatch.delenv(prometheus.ENV_VAR, raising=False)
    objective = prometheus.query(name="x", promql="up", above=0)

    with pytest.raises(ConfigError, match=r"no Prometheus server.*url=.*CHAOSKIT_PROMETHEUS_URL"):
        objective.server()

    monkeypatch.setenv(prometheus.ENV_VAR, "http://prom.example:9090")
    assert objective.server() == "http://prom.example:9090"

    forget = prometheus.use_default_url("http://127.0.0.1:1234")
    assert objective.server() == "http://127.0.0.1:1234"
    assert prometheus.query(name="x", promql="up", above=0, url="http://a:1").server() == (
        "http://a:1"
    )
    forget()
    forget()  # idempotent
    assert objective.server() == "http://prom.example:9090"


def test_the_environment_setting_is_read_from_pyproject():
    table = {"env": {"local": {"prometheus": True}}}
    assert resolve_environment(table, None).prometheus is True
    assert resolve_environment({}, None).prometheus is False
    with pytest.raises(ConfigError, match=r"\[tool.chaoskit.env.local\] prometheus='yes'"):
        resolve_environment({"env": {"local": {"prometheus": "yes"}}}, None)


# -- construction -------------------------------------------------------------------------


def test_composes_with_other_objectives_and_keeps_its_phases(fake):
    fake.range_answer = lambda params: matrix(({}, ["0.010"]))
    server = p99(fake, phases="during")
    both = server & slo.error_rate(below="1%")
    either = server | slo.latency(p=99, below="300ms")

    assert server.phases == frozenset({"fault"})
    assert isinstance(both, slo.AllOf) and both.parts[0] is server
    assert isinstance(either, slo.AnyOf)
    assert both.describe() == "(server p99 < 50ms & errors < 1%)"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": " "}, "name the objective"),
        ({"promql": ""}, "must be a PromQL expression"),
        ({"below": None}, "exactly one of below= or above="),
        ({"above": 3}, "exactly one of below= or above="),
        ({"below": "fast"}, "is not a duration"),
        ({"below": "-1%"}, "is not a ratio"),
        ({"below": float("nan")}, "is not a threshold"),
        ({"below": True}, "is not a threshold"),
        ({"aggregate": "p99"}, "aggregate='p99' is not one of"),
        ({"url": "prom:9090"}, "must be like 'http://127.0.0.1:9090'"),
        ({"step": 0}, "step"),
        ({"settle": "-1s"}, "settle"),
        ({"wait_for": ""}, "wait_for"),
        ({"phases": "sometimes"}, "is not a phase"),
    ],
)
def test_bad_arguments_are_config_errors_naming_the_argument(overrides, message):
    settings: dict[str, Any] = {"name": "p99", "promql": "up", "below": "50ms"}
    with pytest.raises(ConfigError, match=message):
        prometheus.query(**{**settings, **overrides})


@pytest.mark.parametrize(
    ("threshold", "threshold_shown", "value", "shown"),
    [(0.5, "0.5", 0.25, "0.25"), ("2s", "2s", 1.5, "1.5s"), ("5%", "5%", 0.012, "1.20%")],
)
def test_the_threshold_sets_how_values_read(fake, threshold, threshold_shown, value, shown):
    fake.range_answer = lambda params: matrix(({}, [repr(value)]))
    objective = p99(fake, name="v", below=threshold)

    assert objective.describe() == f"v < {threshold_shown}"
    assert objective.evaluate(window()).shown == shown


def test_the_old_import_path_gives_the_same_objects():
    # ``from chaoskit.providers import prometheus`` still works in users' code written before
    # the module became chaoskit.prometheus.
    from chaoskit.providers import prometheus as old

    assert old.__all__ == prometheus.__all__
    assert [
        name for name in old.__all__ if getattr(old, name) is not getattr(prometheus, name)
    ] == []
