"""The demo service behind the local ``web`` target: a small shop speaking HTTP/1.1 keep-alive.

Run as ``python -m chaoskit.providers.local.system.shop --port N --instance-id ID``. Every response
names the replica that served it in ``X-Instance-Id``, so load and tests can see routing.
``GET /metrics`` answers in the Prometheus text format (see ``ShopMetrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.providers.local.system.lifeline import watch_parent

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024

PRODUCTS = (
    {"id": 1, "name": "Espresso cup", "price": 7.50},
    {"id": 2, "name": "Pour-over kettle", "price": 39.00},
    {"id": 3, "name": "Burr grinder", "price": 129.00},
    {"id": 4, "name": "Filter papers (100)", "price": 4.20},
    {"id": 5, "name": "Single-origin beans, 250 g", "price": 11.90},
)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}


@dataclass(frozen=True, kw_only=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    close: bool = False


def _json(status: int, value: object) -> Response:
    return Response(status=status, body=json.dumps(value).encode())


# Requests to these paths are the platform's, not the shop's traffic: they are not counted.
UNCOUNTED_ROUTES = frozenset({"/metrics", "/health"})
# Upper bounds (seconds) of the request duration histogram. The shop answers in tens of
# microseconds when idle, so the buckets start there; the upper ones catch a replica starved
# of CPU (the test machine has two cores shared with the load generator).
DURATION_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def route_of(path: str) -> str:
    """The route a path belongs to, as a label: a product id or an unknown path must not
    create a series of its own (a scanner would otherwise grow the metrics without bound)."""
    if path in ("/", "/products", "/metrics", "/health"):
        return path
    if path.startswith("/products/"):
        return "/products/{id}"
    return "other"


class _Histogram:
    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0


class ShopMetrics:
    """What one replica served, in the Prometheus text exposition format (version 0.0.4).

    ``shop_requests_total{path, code}`` counts answered requests by route and status code,
    ``shop_request_duration_seconds{path}`` is a histogram of the time from a complete request
    to its response being handed to the socket, ``shop_info{instance_id}`` names the replica and
    ``process_start_time_seconds`` tells a replacement from the replica it replaced.
    """

    def __init__(self, instance_id: str, *, started_at: float | None = None) -> None:
        self.instance_id = instance_id
        self.started_at = time.time() if started_at is None else started_at
        self._requests: dict[tuple[str, int], int] = {}
        self._durations: dict[str, _Histogram] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._durations.get(route)
        if histogram is None:
            histogram = self._durations[route] = _Histogram()
        # bisect_left: a value equal to a bound belongs to that bucket ("le" is <=).
        histogram.counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        histogram.sum += seconds
        histogram.count += 1

    def render(self) -> bytes:
        lines = [
            "# HELP shop_requests_total Requests answered, by route and status code "
            "(/metrics and /health are not counted).",
            "# TYPE shop_requests_total counter",
        ]
        for (route, status), count in sorted(self._requests.items()):
            lines.append(f'shop_requests_total{{path="{_escape(route)}",code="{status}"}} {count}')
        lines += [
            "# HELP shop_request_duration_seconds Time from a complete request to its response "
            "being written, by route.",
            "# TYPE shop_request_duration_seconds histogram",
        ]
        for route, histogram in sorted(self._durations.items()):
            label = f'path="{_escape(route)}"'
            cumulative = 0
            for bound, count in zip(DURATION_BUCKETS, histogram.counts, strict=False):
                cumulative += count
                lines.append(
                    f'shop_request_duration_seconds_bucket{{{label},le="{bound!r}"}} {cumulative}'
                )
            lines += [
                f'shop_request_duration_seconds_bucket{{{label},le="+Inf"}} {histogram.count}',
                f"shop_request_duration_seconds_sum{{{label}}} {histogram.sum!r}",
                f"shop_request_duration_seconds_count{{{label}}} {histogram.count}",
            ]
        lines += [
            "# HELP shop_info The replica serving these metrics.",
            "# TYPE shop_info gauge",
            f'shop_info{{instance_id="{_escape(self.instance_id)}"}} 1',
            "# HELP process_start_time_seconds Start time of the process since the epoch.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.started_at!r}",
        ]
        return ("\n".join(lines) + "\n").encode()


def _escape(label_value: str) -> str:
    return label_value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Catalogue:
    """The shop's routes; the bodies are encoded once because they never change.

    With ``metrics``, ``GET /metrics`` serves them and ``observe`` records into them.
    """

    def __init__(self, metrics: ShopMetrics | None = None) -> None:
        self._metrics = metrics
        self._index = Response(
            status=200,
            body=b"<!doctype html><title>shop</title><h1>shop</h1>"
            b'<p><a href="/products">products</a></p>\n',
            content_type="text/html; charset=utf-8",
        )
        self._health = Response(status=200, body=b"ok", content_type="text/plain")
        self._products = _json(200, PRODUCTS)
        self._product = {str(product["id"]): _json(200, product) for product in PRODUCTS}

    def respond(self, method: str, target: str) -> Response:
        path = target.split("?", 1)[0]
        if path == "/":
            found = self._index
        elif path == "/health":
            found = self._health
        elif path == "/metrics" and self._metrics is not None:
            # Rendered per request: Prometheus asks once a second, the shop's traffic is
            # thousands of requests a second, so counting must be the cheap side.
            found = Response(
                status=200, body=self._metrics.render(), content_type=EXPOSITION_CONTENT_TYPE
            )
        elif path == "/products":
            found = self._products
        elif path.startswith("/products/"):
            product_id = path.removeprefix("/products/")
            if product_id not in self._product:
                return _json(404, {"error": f"no product with id {product_id!r}"})
            found = self._product[product_id]
        else:
            return _json(404, {"error": f"no route for {path!r}"})
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{method} is not allowed on {path!r}; use GET"})
        return found

    def observe(self, path: str, status: int, seconds: float) -> None:
        if self._metrics is None:
            return
        route = route_of(path)
        if route not in UNCOUNTED_ROUTES:
            self._metrics.observe(route, status, seconds)


class HttpConnection(asyncio.Protocol):
    """One client connection: parses pipelined requests and answers each with one write.

    Head and body leave in a single ``write`` and TCP_NODELAY is set: a response split over
    two sends meets Nagle's algorithm and the client's delayed ACK, which adds ~40 ms that
    would then be measured as the service's latency.
    """

    def __init__(self, catalogue: Catalogue, instance_id: str) -> None:
        self._catalogue = catalogue
        self._instance_header = f"X-Instance-Id: {instance_id}\r\n".encode("latin-1")
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and self._answer_one():
            pass

    def _answer_one(self) -> bool:
        """Answer the first complete request in the buffer; False when none is complete."""
        started = time.perf_counter()
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._send(_json(431, {"error": "request head too large"}), keep_alive=False)
                self._catalogue.observe("", 431, time.perf_counter() - started)
            return False
        head = self._buffer[:head_end].decode("latin-1").split("\r\n")
        request_line = head[0].split(" ")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            self._refuse(_json(400, {"error": "malformed request line"}), "", started)
            return False
        method, target, version = request_line
        path = target.split("?", 1)[0]
        if "transfer-encoding" in headers:
            error = "chunked request bodies are not supported; send Content-Length"
            self._refuse(_json(501, {"error": error}), path, started)
            return False
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            self._refuse(_json(400, {"error": "bad Content-Length"}), path, started)
            return False
        if int(length_text) > MAX_BODY_BYTES:
            self._refuse(_json(413, {"error": "request body too large"}), path, started)
            return False
        request_end = head_end + 4 + int(length_text)
        if len(self._buffer) < request_end:
            return False
        del self._buffer[:request_end]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        response = self._catalogue.respond(method, target)
        self._send(response, keep_alive=keep_alive, head_only=method == "HEAD")
        self._catalogue.observe(path, response.status, time.perf_counter() - started)
        return keep_alive

    def _refuse(self, response: Response, path: str, started: float) -> None:
        self._send(response, keep_alive=False)
        self._catalogue.observe(path, response.status, time.perf_counter() - started)

    def _send(self, response: Response, *, keep_alive: bool, head_only: bool = False) -> None:
        assert self._transport is not None
        head = (
            f"HTTP/1.1 {response.status} {_REASONS[response.status]}\r\n"
            f"Content-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        ).encode("latin-1")
        body = b"" if head_only else response.body
        self._transport.write(b"".join((head, self._instance_header, b"\r\n", body)))
        if not keep_alive:
            self._transport.close()


async def serve(*, host: str, port: int, instance_id: str, parent_pid: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = watch_parent(parent_pid, stop.set)
    catalogue = Catalogue(ShopMetrics(instance_id))
    server = await loop.create_server(
        lambda: HttpConnection(catalogue, instance_id), host, port, backlog=1024
    )
    async with server:
        await stop.wait()
    watcher.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.providers.local.system.shop")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=os.getppid(),
        help="exit when this process stops being our parent (default: the current parent)",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                instance_id=args.instance_id,
                parent_pid=args.parent_pid,
            )
        )
    except OSError as error:
        print(
            f"shop {args.instance_id}: cannot listen on port {args.port}: {error}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
