"""Framing HTTP/1.1 messages in a byte stream cut anywhere, and giving up without losing bytes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chaoskit.providers.local.system.httpframe import Framer, Segment

REQUESTS = [
    b"GET /products/1 HTTP/1.1\r\nHost: shop\r\n\r\n",
    b'POST /cart HTTP/1.1\r\nHost: shop\r\nContent-Length: 11\r\n\r\n{"id": 12}\n',
    b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
    b"DELETE /cart/3 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
]
RESPONSES = [  # answering GET, HEAD, GET, GET, GET in that order
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",  # HEAD: no body despite the length
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
]
RESPONSE_METHODS = ["GET", "HEAD", "GET", "GET", "GET"]


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def messages(segments: list[Segment]) -> list[bytes]:
    """Whole messages, from each starting segment through its final (non-interim) end."""
    found, current = [], b""
    for segment in segments:
        current += segment.data
        if segment.ends and not segment.interim:
            found.append(current)
            current = b""
    assert current == b"", "a message did not end"
    return found


@given(points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_pipelined_requests_frame_the_same_however_the_stream_is_cut(points: list[int]) -> None:
    framer = Framer(is_response=False)
    segments = [seg for piece in cut(b"".join(REQUESTS), points) for seg in framer.feed(piece)]
    assert not any(segment.raw for segment in segments)
    assert messages(segments) == REQUESTS
    heads = [segment.head for segment in segments if segment.starts]
    assert [head.split(" ")[0] for head in heads] == ["GET", "POST", "POST", "DELETE"]


@given(points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_responses_frame_by_their_requests_however_the_stream_is_cut(points: list[int]) -> None:
    framer = Framer(is_response=True)
    for method in RESPONSE_METHODS:
        framer.expect_response(method)
    stream = b"".join(RESPONSES)
    segments = [seg for piece in cut(stream, points) for seg in framer.feed(piece)]
    assert b"".join(segment.data for segment in segments) == stream
    # the 100 Continue is interim: it and the 204 after it answer one request
    assert messages(segments) == RESPONSES


def test_a_response_without_length_runs_to_the_close() -> None:
    framer = Framer(is_response=True)
    [head, body] = framer.feed(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert head.starts and not head.ends and body.data == b"all of it" and not body.ends
    assert framer.reading_to_close


def test_a_stream_that_is_not_http_comes_out_whole_and_in_order() -> None:
    framer = Framer(is_response=False)
    assert framer.feed(b"AB") == []  # could still be a method
    [raw] = framer.feed(b"1 x\r\n")
    assert raw.raw and raw.data == b"AB1 x\r\n"  # nothing held back is lost
    assert framer.feed(b"more") == [Segment(data=b"more", starts=False, ends=False, raw=True)]

    # a line that could begin a request is refused as soon as it ends
    [raw] = Framer(is_response=False).feed(b"STATUS all\r\n")
    assert raw.raw and raw.data == b"STATUS all\r\n"


def test_giving_up_mid_stream_keeps_what_was_framed_and_passes_the_rest_raw() -> None:
    framer = Framer(is_response=True)
    framer.expect_response("GET")
    framer.expect_response("GET")
    first = framer.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nCon")
    assert messages(first) == [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    [raw] = framer.feed(b"tent-Length: 2, 2\r\n\r\nok")
    assert raw.raw and raw.data == b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"
    assert framer.failure.startswith("bad Content-Length")
