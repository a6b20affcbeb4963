"""Where HTTP/1.1 messages begin and end in a byte stream, without buffering their bodies.

The proxy needs message boundaries for two faults: answering some requests itself (it must
know which bytes belong to the request it swallows) and keeping its own answers in order with
the upstream's responses (it must know when a response is complete). A framer is fed chunks
as they arrive and cuts them into segments, each tagged with the message it belongs to.

Bodies are framed by Content-Length, by chunked transfer coding, or, for a response with
neither, by the end of the connection (RFC 9112 §6.3). Responses to HEAD, 1xx, 204 and 304
have no body; a 1xx response is interim and does not end the exchange.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

MAX_HEAD_BYTES = 64 * 1024
_REQUEST_LINE = re.compile(r"[A-Z]+ \S+ HTTP/\d\.\d")
_STATUS_LINE = re.compile(r"HTTP/\d\.\d \d{3}(?: .*)?")


class FramingError(ValueError):
    """The stream is not HTTP/1.1 the framer can follow (``Framer.feed`` turns it into a raw
    segment)."""


@dataclass(frozen=True, kw_only=True)
class Segment:
    data: bytes
    starts: bool  # the first bytes of a message: ``head`` is its parsed start line
    ends: bool  # the last bytes of a message
    head: str = ""  # the start line, e.g. "GET /products/1 HTTP/1.1" or "HTTP/1.1 200 OK"
    interim: bool = False  # a 1xx response: another response to the same request follows
    raw: bool = False  # not framed: the stream is not HTTP/1.1 the framer can follow


class _Body:
    """How much of the current message's body is still to come."""

    NONE = 0
    LENGTH = 1
    CHUNKED = 2
    UNTIL_CLOSE = 3


class Framer:
    """An incremental framer for one direction of one connection.

    ``is_response`` framers need the methods of the requests they answer, in order
    (``expect_response``), because a response to HEAD has headers but no body.
    """

    def __init__(self, *, is_response: bool) -> None:
        self._is_response = is_response
        self._buffer = b""
        self._in_head = True
        self._body = _Body.NONE
        self._remaining = 0
        self._chunk_state = "size"  # size | data | data-crlf | trailer
        self._methods: deque[str] = deque()
        self.failed = False
        self.failure = ""  # why framing stopped

    @property
    def reading_to_close(self) -> bool:
        """The current message's body runs until the connection closes."""
        return not self._in_head and self._body == _Body.UNTIL_CLOSE

    def expect_response(self, method: str) -> None:
        self._methods.append(method)

    def feed(self, data: bytes) -> list[Segment]:
        """Cut ``data`` into segments. Once the stream turns out not to be HTTP/1.1 this
        framer can follow, every byte not yet framed (this call's and any held back from
        earlier ones) comes out as one ``raw`` segment, and so does all data after it."""
        if self.failed:
            return [Segment(data=data, starts=False, ends=False, raw=True)] if data else []
        data = self._buffer + data
        self._buffer = b""
        segments: list[Segment] = []
        try:
            self._cut(data, segments)
        except FramingError as error:
            self.failed = True
            self.failure = str(error)
            self._buffer = b""
            framed = sum(len(segment.data) for segment in segments)
            segments.append(Segment(data=data[framed:], starts=False, ends=False, raw=True))
        return segments

    def _cut(self, data: bytes, segments: list[Segment]) -> None:
        while data:
            if self._in_head:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    self._check_start(data)
                    if len(data) > MAX_HEAD_BYTES:
                        raise FramingError(f"no end of headers within {MAX_HEAD_BYTES} bytes")
                    self._buffer = data
                    return
                head_bytes, data = data[: end + 4], data[end + 4 :]
                start_line, interim = self._read_head(head_bytes)
                ends = self._body == _Body.NONE
                self._in_head = ends
                segments.append(
                    Segment(
                        data=head_bytes, starts=True, ends=ends, head=start_line, interim=interim
                    )
                )
                continue
            taken, ends = self._take_body(data)
            if taken or ends:
                segments.append(Segment(data=data[:taken], starts=False, ends=ends))
            if ends:
                self._in_head = True
            if self._buffer:  # a chunk-size line cut in two waits for the rest
                return
            data = data[taken:]

    def _check_start(self, data: bytes) -> None:
        """Fail fast on a stream that is not HTTP, rather than wait for a head that never
        ends: on the first bytes, and on the start line as soon as it is complete."""
        line, newline, _ = data.partition(b"\n")
        if newline:
            self._check_start_line(line.rstrip(b"\r").decode("latin-1"))
        elif self._is_response:
            if data[:5] != b"HTTP/"[: len(data)]:
                raise FramingError(f"not the start of an HTTP response: {data[:20]!r}")
        else:
            method = data.partition(b" ")[0]
            if method and not (method.isalpha() and method.isupper()):
                raise FramingError(f"not the start of an HTTP request: {data[:20]!r}")

    def _check_start_line(self, line: str) -> None:
        pattern = _STATUS_LINE if self._is_response else _REQUEST_LINE
        if not pattern.fullmatch(line):
            what = "status" if self._is_response else "request"
            raise FramingError(f"not an HTTP {what} line: {line[:80]!r}")

    def _read_head(self, head_bytes: bytes) -> tuple[str, bool]:
        lines = head_bytes.decode("latin-1").split("\r\n")
        start_line = lines[0]
        self._check_start_line(start_line)
        parts = start_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, colon, value = line.partition(":")
                if not colon:
                    raise FramingError(f"malformed header line {line[:80]!r}")
                headers[name.strip().lower()] = value.strip()
        interim = False
        if self._is_response:
            status = int(parts[1])
            interim = 100 <= status < 200
            method = self._methods[0] if self._methods else "GET"
            if not interim and self._methods:
                self._methods.popleft()
            if interim or status in (204, 304) or method == "HEAD":
                self._body = _Body.NONE
                return start_line, interim
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._body, self._chunk_state = _Body.CHUNKED, "size"
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise FramingError(f"bad Content-Length {length!r}")
            self._remaining = int(length)
            self._body = _Body.LENGTH if self._remaining else _Body.NONE
        else:
            # A request without either has no body; a response runs to the connection's end.
            self._body = _Body.UNTIL_CLOSE if self._is_response else _Body.NONE
        return start_line, interim

    def _take_body(self, data: bytes) -> tuple[int, bool]:
        """How many leading bytes of ``data`` belong to the body, and whether it ends there."""
        if self._body == _Body.UNTIL_CLOSE:
            return len(data), False
        if self._body == _Body.LENGTH:
            taken = min(self._remaining, len(data))
            self._remaining -= taken
            return taken, self._remaining == 0
        return self._take_chunked(data)

    def _take_chunked(self, data: bytes) -> tuple[int, bool]:
        position = 0
        while position < len(data):
            if self._chunk_state == "data":
                step = min(self._remaining, len(data) - position)
                position += step
                self._remaining -= step
                if self._remaining == 0:
                    self._chunk_state = "data-crlf"
                continue
            line_end = data.find(b"\r\n", position)
            if line_end < 0:
                # Keep the partial line for the next chunk; the bytes before it are framed.
                self._buffer = data[position:]
                return position, False
            line = data[position:line_end]
            position = line_end + 2
            if self._chunk_state == "data-crlf":
                if line:
                    raise FramingError("chunk data longer than its size")
                self._chunk_state = "size"
            elif self._chunk_state == "size":
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise FramingError(f"bad chunk size {size_text[:20]!r}") from None
                if size == 0:
                    self._chunk_state = "trailer"
                else:
                    self._remaining, self._chunk_state = size, "data"
            elif not line:  # the empty line after the trailers ends the message
                return position, True
        return position, False
