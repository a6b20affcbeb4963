"""Prometheus SLIs against a real ``prometheus`` scraping the real shop replicas on 127.0.0.1.

Skipped when Debian's ``prometheus`` is not installed, except under CI (``$CI`` set), where
.ci/run installs it and a missing binary is a failure.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from chaoskit import prometheus
from chaoskit.errors import ProviderError
from chaoskit.prometheus import PrometheusClient
from chaoskit.providers.local import LocalEnvironment, LocalTarget
from chaoskit.providers.local.system.prometheus_server import remove_stale_dirs
from chaoskit.slo.window import Window

pytestmark = pytest.mark.integration

REPLICAS = 3
REQUESTS = 300
# Prometheus takes a new scrape target 5 to 10 s after it appears (it batches discovery).
DISCOVERY_DEADLINE = 15.0


def require_prometheus() -> None:
    if shutil.which("prometheus") is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not on PATH in CI; .ci/run must install it")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    require_prometheus()
    environment = LocalEnvironment.start(
        {"web": {"replicas": REPLICAS, "replace_delay": 0.2}},
        startup_timeout=20,
        prometheus=True,
    )
    yield environment
    environment.close()


@pytest.fixture
def web(env: LocalEnvironment) -> LocalTarget:
    return env.target("web")


def send(url: str, path: str, count: int) -> list[float]:
    """``count`` GETs on one kept-alive connection; their round-trip times in seconds."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - started)
            assert response.status == 200
    finally:
        connection.close()
    return times


def window(start: float, end: float) -> Window:
    return Window(name="fault 1", kind="fault", seconds=[], start=start, end=end)


def test_the_environment_exposes_its_prometheus_as_the_default(env):
    assert env.prometheus_url is not None
    assert env.prometheus_url.startswith("http://127.0.0.1:")
    assert prometheus.default_url() == env.prometheus_url


def test_the_objective_counts_what_the_shop_served(env, web):
    # The counter at a window's end is exact: every request before the last scrape is in it.
    # The window ends 1.5 s after the last request, so a 1 s scrape lands between the two.
    counted = prometheus.query(
        name="product requests",
        promql='sum(shop_requests_total{path="/products/{id}", code="200"})',
        above=0,
        aggregate="last",
        settle="5s",
    )
    before = time.time()
    already = counted.evaluate(window(before - 2, before + 1.5)).value or 0.0
    started = time.time()
    round_trips = send(web.url, "/products/1", REQUESTS)
    finished = time.time()

    scraped_at = time.monotonic()
    measured = counted.evaluate(window(started, finished + 1.5))
    waited = time.monotonic() - scraped_at

    assert measured.status == "pass"
    assert measured.value == already + REQUESTS, "the counter must match exactly"
    assert waited < 4, f"waiting for the scrape after the window took {waited:.1f}s"

    # The histogram counts the same requests. Its p99 (of every request so far) is
    # interpolated inside the bucket holding the true one, which cannot exceed the client's
    # slowest round trip (that includes the server's time); the buckets grow by 2.5x at most.
    buckets = 'sum by (le) (shop_request_duration_seconds_bucket{path="/products/{id}"})'
    served = prometheus.query(
        name="histogram count",
        promql='sum(shop_request_duration_seconds_bucket{path="/products/{id}", le="+Inf"})',
        above=0,
        aggregate="last",
        settle="5s",
    )
    server_p99 = prometheus.query(
        name="server p99",
        promql=f"histogram_quantile(0.99, {buckets})",
        below="50ms",
        aggregate="last",
        settle="5s",
    )
    in_window = window(started, finished + 1.5)
    assert served.evaluate(in_window).value == measured.value
    p99 = server_p99.evaluate(in_window)
    assert p99.status == "pass", p99.reason
    assert p99.value is not None and p99.value <= max(round_trips) * 2.5


def test_a_query_without_data_is_inconclusive(env):
    now = time.time()
    missing = prometheus.query(
        name="checkout errors",
        promql='sum(rate(shop_requests_total{path="/checkout"}[5s]))',
        below=1,
        settle="5s",
    )

    measured = missing.evaluate(window(now - 8, now))  # longer than the query's [5s]

    assert measured.status == "inconclusive"
    assert "no data" in measured.reason


def test_a_replacement_replica_is_scraped(env, web):
    before = {i.id for i in web.instances()}
    web.terminate([sorted(before)[0]])
    web.wait_healthy(timeout=10)
    [replacement] = {i.id for i in web.instances()} - before
    client = PrometheusClient(env.prometheus_url or "")

    def scraped() -> set[str]:
        return {s.labels["instance_id"] for s in client.query("shop_info")}

    retrying = Retrying(
        stop=stop_after_delay(DISCOVERY_DEADLINE),
        wait=wait_fixed(0.2),
        retry=retry_if_result(lambda ids: replacement not in ids),
        reraise=True,
    )
    started = time.monotonic()
    retrying(scraped)
    print(f"replacement {replacement} scraped {time.monotonic() - started:.1f}s after healthy")

    targets = {s.labels["instance"]: s.labels["target"] for s in client.query("up")}
    assert targets[replacement] == "web"


def test_an_unreachable_server_names_its_url(env):
    closed = f"http://127.0.0.1:{free_port()}"
    objective = prometheus.query(name="p99", promql="up", above=0, url=closed)

    with pytest.raises(ProviderError, match=f"cannot reach Prometheus at {closed}"):
        objective.evaluate(window(time.time() - 2, time.time()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prometheus_children(system_pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(system_pid).children()
        if child.name().startswith("prometheus")
    ]


def storage_of(server: psutil.Process) -> Path:
    """The temporary folder holding the server's configuration and data."""
    return next(
        Path(arg.split("=", 1)[1]).parent
        for arg in server.cmdline()
        if arg.startswith("--storage.tsdb.path=")
    )


def test_closing_the_environment_stops_prometheus_and_removes_its_storage(env):
    # Last in the module: it closes the module's environment.
    [server] = prometheus_children(env.pid)
    storage = storage_of(server)
    assert storage.is_dir()

    env.close()

    assert not psutil.pid_exists(server.pid) or server.status() == psutil.STATUS_ZOMBIE
    assert not storage.exists()
    assert prometheus.default_url() != env.prometheus_url


SERVER_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from chaoskit.providers.local.system.prometheus_server import PrometheusServer

    async def main():
        server = PrometheusServer(host="127.0.0.1")
        await server.start([])
        print(server._process.pid, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def test_prometheus_dies_with_a_killed_system():
    # The system's own shutdown cannot run on SIGKILL; the kernel's parent-death signal must.
    require_prometheus()
    parent = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        server = psutil.Process(int(parent.stdout.readline()))
        assert server.name().startswith("prometheus")
        storage = storage_of(server)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()

    gone, _ = psutil.wait_procs([server], timeout=5)
    assert gone, "prometheus outlived its parent"
    # Its storage stays behind; the next start of a local Prometheus removes it.
    assert storage.is_dir()
    remove_stale_dirs(Path(tempfile.gettempdir()))
    assert not storage.exists()
