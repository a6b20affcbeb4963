"""A tiny HTTP/1.1 target for load tests, run as a separate process.

    python http_target.py          -> prints "PORT <n>" once listening on 127.0.0.1

``/`` answers at once, ``/slow`` after SLOW_SECONDS (``/slow?ms=N``: after N ms), ``/fail``
with 500; ``/count`` returns
how many other requests arrived (JSON), so a test can compare the load generator's counts
with what the target really saw.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

SLOW_SECONDS = 0.150

_count = 0


def _response(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _skip_body(reader: asyncio.StreamReader, head: bytes) -> None:
    """Read past a request body: Content-Length, or chunked (without trailers)."""
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    elif b"content-length:" in headers:
        length = headers.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0]
        await reader.readexactly(int(length))


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global _count
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Without it, a response split over two segments waits for a delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            await _skip_body(reader, head)
            path, _, query = head.split(b"\r\n", 1)[0].split()[1].decode("ascii").partition("?")
            if path == "/count":
                writer.write(_response("200 OK", json.dumps(_count).encode(), "application/json"))
            else:
                _count += 1
                if path == "/slow":
                    delay = int(query[3:]) / 1000 if query.startswith("ms=") else SLOW_SECONDS
                    await asyncio.sleep(delay)
                    writer.write(_response("200 OK", b"slow"))
                elif path == "/fail":
                    writer.write(_response("500 Internal Server Error", b"fail"))
                else:
                    writer.write(_response("200 OK", b"ok"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        sys.exit(0)
