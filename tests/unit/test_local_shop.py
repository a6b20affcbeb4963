"""The demo shop's HTTP handling, driven through a fake transport."""

from __future__ import annotations

import asyncio
import json

import pytest

from chaoskit.providers.local.system.shop import Catalogue, HttpConnection


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def serve(*chunks: bytes) -> RecordingTransport:
    transport = RecordingTransport()
    connection = HttpConnection(Catalogue(), "i-0123456789ab")
    connection.connection_made(transport)
    for chunk in chunks:
        connection.data_received(chunk)
    return transport


def parse(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert int(headers["content-length"]) == len(body)
    return int(status_line.split(" ")[1]), headers, body


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/products", 200),
        ("/products/2", 200),
        ("/products/999", 404),
        ("/health", 200),
        ("/nowhere", 404),
    ],
)
def test_routes_answer_with_their_status_and_the_instance_id(path, status):
    transport = serve(f"GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n".encode())

    (response,) = transport.writes
    answered, headers, _ = parse(response)
    assert answered == status
    assert headers["x-instance-id"] == "i-0123456789ab"
    assert not transport.closed


def test_products_are_json():
    transport = serve(b"GET /products/3 HTTP/1.1\r\n\r\n", b"GET /products HTTP/1.1\r\n\r\n")

    one, listing = (parse(response)[2] for response in transport.writes)
    assert json.loads(one)["id"] == 3
    assert [product["id"] for product in json.loads(listing)] == [1, 2, 3, 4, 5]


def test_pipelined_requests_split_anywhere_are_each_answered_once_in_order():
    stream = b"GET /health HTTP/1.1\r\n\r\nGET /products/1 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
    transport = serve(*(stream[i : i + 7] for i in range(0, len(stream), 7)))

    assert [parse(response)[0] for response in transport.writes] == [200, 200, 404]


def test_a_request_body_is_consumed_by_content_length_before_the_next_request():
    # A body that looks like a request, arriving in two pieces, must be skipped, not answered.
    transport = serve(
        b"POST /products HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET / HTTP/1",
        b".1\r\n\r\n",
    )

    assert [parse(response)[0] for response in transport.writes] == [405]
    transport = serve(
        b"POST /products HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"
    )
    assert [parse(response)[0] for response in transport.writes] == [405, 200]


def test_head_sends_the_length_without_the_body():
    (response,) = serve(b"HEAD /products HTTP/1.1\r\n\r\n").writes
    head, _, body = response.partition(b"\r\n\r\n")
    assert body == b""
    assert b"Content-Length: 0" not in head


@pytest.mark.parametrize(
    ("request_bytes", "closes"),
    [
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\n\r\n", False),
    ],
)
def test_connection_close_and_http_1_0_close_after_the_response(request_bytes, closes):
    transport = serve(request_bytes)
    assert len(transport.writes) == 1
    assert transport.closed is closes


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000, 431),
    ],
)
def test_malformed_requests_get_an_error_and_the_connection_closes(request_bytes, status):
    transport = serve(request_bytes)
    assert [parse(response)[0] for response in transport.writes] == [status]
    assert transport.closed
