"""The demo service behind the local ``web`` target: a small shop speaking HTTP/1.1 keep-alive.

Run as ``python -m chaoskit.providers.local.shop --port N --instance-id ID``. Every response
names the replica that served it in ``X-Instance-Id``, so load and tests can see routing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.providers.local.lifeline import watch_parent

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


class Catalogue:
    """The shop's routes; the bodies are encoded once because they never change."""

    def __init__(self) -> None:
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
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._send(_json(431, {"error": "request head too large"}), keep_alive=False)
            return False
        head = self._buffer[:head_end].decode("latin-1").split("\r\n")
        request_line = head[0].split(" ")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            self._send(_json(400, {"error": "malformed request line"}), keep_alive=False)
            return False
        method, target, version = request_line
        if "transfer-encoding" in headers:
            error = "chunked request bodies are not supported; send Content-Length"
            self._send(_json(501, {"error": error}), keep_alive=False)
            return False
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            self._send(_json(400, {"error": "bad Content-Length"}), keep_alive=False)
            return False
        if int(length_text) > MAX_BODY_BYTES:
            self._send(_json(413, {"error": "request body too large"}), keep_alive=False)
            return False
        request_end = head_end + 4 + int(length_text)
        if len(self._buffer) < request_end:
            return False
        del self._buffer[:request_end]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        response = self._catalogue.respond(method, target)
        self._send(response, keep_alive=keep_alive, head_only=method == "HEAD")
        return keep_alive

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
    catalogue = Catalogue()
    server = await loop.create_server(
        lambda: HttpConnection(catalogue, instance_id), host, port, backlog=1024
    )
    async with server:
        await stop.wait()
    watcher.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.providers.local.shop")
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
