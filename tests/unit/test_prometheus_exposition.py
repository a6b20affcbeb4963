"""The demo shop's /metrics: Prometheus text exposition of what it served."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess

import pytest

from chaoskit.providers.local.system.shop import (
    DURATION_BUCKETS,
    Catalogue,
    HttpConnection,
    ShopMetrics,
    route_of,
)

INSTANCE = "i-0123456789ab"
# name{labels} value — the only sample syntax the shop writes (no timestamps).
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def shop(catalogue: Catalogue | None = None) -> tuple[HttpConnection, RecordingTransport]:
    transport = RecordingTransport()
    connection = HttpConnection(catalogue or Catalogue(ShopMetrics(INSTANCE)), INSTANCE)
    connection.connection_made(transport)
    return connection, transport


def get(connection: HttpConnection, transport: RecordingTransport, path: str) -> bytes:
    connection.data_received(f"GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n".encode())
    return transport.writes[-1]


def scrape(connection: HttpConnection, transport: RecordingTransport) -> str:
    response = get(connection, transport, "/metrics")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Type: text/plain; version=0.0.4" in head
    return body.decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, keyed by name and label set; fails on a malformed line
    or a sample whose family has no TYPE line before it."""
    typed: dict[str, str] = {}
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            typed[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"malformed sample line {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or (family in typed and typed[family] == "histogram"), line
        pairs = frozenset(LABEL.findall(labels or ""))
        key = (name, pairs)
        assert key not in found, f"duplicate series {line!r}"
        found[key] = float(value)
    return found


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def test_requests_are_counted_by_route_and_status_but_not_metrics_or_health():
    connection, transport = shop()
    for path in ("/products", "/products", "/products/2", "/products/999", "/nowhere", "/"):
        get(connection, transport, path)
    get(connection, transport, "/health")
    scrape(connection, transport)

    found = samples(scrape(connection, transport))

    requests = {
        dict(key[1])["path"] + " " + dict(key[1])["code"]: value
        for key, value in found.items()
        if key[0] == "shop_requests_total"
    }
    assert requests == {
        "/products 200": 2,
        "/products/{id} 200": 1,
        "/products/{id} 404": 1,
        "other 404": 1,
        "/ 200": 1,
    }
    assert found[("shop_info", labels(instance_id=INSTANCE))] == 1


def test_the_duration_histogram_is_cumulative_and_matches_the_counters():
    connection, transport = shop()
    for _ in range(5):
        get(connection, transport, "/products")

    found = samples(scrape(connection, transport))

    route = "/products"
    buckets = [
        found[("shop_request_duration_seconds_bucket", labels(path=route, le=repr(b)))]
        for b in DURATION_BUCKETS
    ]
    inf = found[("shop_request_duration_seconds_bucket", labels(path=route, le="+Inf"))]
    assert buckets == sorted(buckets), "buckets must be cumulative"
    assert inf == found[("shop_request_duration_seconds_count", labels(path=route))] == 5
    assert found[("shop_requests_total", labels(path=route, code="200"))] == 5
    assert 0 < found[("shop_request_duration_seconds_sum", labels(path=route))] < 5 * 1.0


def test_a_value_on_a_bucket_bound_falls_in_that_bucket():
    metrics = ShopMetrics(INSTANCE, started_at=1000.0)
    metrics.observe("/", 200, DURATION_BUCKETS[0])
    metrics.observe("/", 200, 7.0)  # beyond every bound: only +Inf

    found = samples(metrics.render().decode())

    assert found[("shop_request_duration_seconds_bucket", labels(path="/", le="5e-05"))] == 1
    assert found[("shop_request_duration_seconds_bucket", labels(path="/", le="1.0"))] == 1
    assert found[("shop_request_duration_seconds_bucket", labels(path="/", le="+Inf"))] == 2
    assert found[("process_start_time_seconds", frozenset())] == 1000.0


def test_label_values_are_escaped():
    text = ShopMetrics('i-"odd"\\\nid').render().decode()
    assert 'shop_info{instance_id="i-\\"odd\\"\\\\\\nid"} 1' in text


def test_malformed_requests_count_as_other():
    catalogue = Catalogue(ShopMetrics(INSTANCE))
    bad, bad_transport = shop(catalogue)
    bad.data_received(b"NONSENSE\r\n\r\n")
    assert bad_transport.writes[-1].startswith(b"HTTP/1.1 400")

    found = samples(scrape(*shop(catalogue)))

    assert found[("shop_requests_total", labels(path="other", code="400"))] == 1


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", "/"),
        ("/products", "/products"),
        ("/products/3", "/products/{id}"),
        ("/products/../../etc", "/products/{id}"),
        ("/wp-login.php", "other"),
        ("", "other"),
    ],
)
def test_routes_keep_the_label_set_small(path, route):
    assert route_of(path) == route


def test_promtool_accepts_the_exposition():
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI; .ci/run installs Debian's prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    connection, transport = shop()
    for path in ("/products", "/products/1", "/nowhere"):
        get(connection, transport, path)
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=scrape(connection, transport),
        capture_output=True,
        text=True,
        timeout=30,
    )
    # promtool lints too; the only remark it may make is about the HELP wording.
    assert checked.returncode == 0, checked.stdout + checked.stderr
