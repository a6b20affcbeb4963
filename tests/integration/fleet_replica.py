"""A replica for fleet tests, run by the local system as a target's command::

    python fleet_replica.py --port {port} --instance-id {instance_id} [--ignore-sigterm]
        [--fork-child] [--unhealthy-while DIR]

``/health`` answers ``ok``; ``/work?n=N`` spends N iterations of a busy loop before it answers
(a fixed amount of CPU, so a replica starved of CPU answers it later) and says in ``X-Work``
how long the loop took, in wall-clock and in CPU seconds; ``/whoami`` answers the instance id,
pid and forked child's pid (or null) as JSON. Every answer names the instance in
``X-Instance-Id``.
``--ignore-sigterm`` makes it a replica that does not shut down when asked to.
``--fork-child`` forks, once listening, a child that ignores SIGTERM and sleeps, holding the
listening socket (a worker of a pre-forking server); it ends on its own after a minute.
``--unhealthy-while DIR`` makes ``/health`` answer 503 while the file ``DIR/<instance id>``
exists, so a test decides when a (re)started replica may become healthy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path

DEFAULT_WORK = 200_000
CHILD_LIFETIME = 60.0


def _response(body: bytes, instance_id: str, extra: str = "", status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"X-Instance-Id: {instance_id}\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


def busy(iterations: int) -> int:
    total = 0
    for value in range(iterations):
        total += value
    return total


async def _serve(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    instance_id: str,
    child: int | None,
    unhealthy_flag: Path | None,
) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path, _, query = head.split(b"\r\n", 1)[0].split()[1].decode("ascii").partition("?")
            extra = ""
            status = "200 OK"
            if path == "/work":
                iterations = int(query[2:]) if query.startswith("n=") else DEFAULT_WORK
                wall, cpu = time.perf_counter(), time.thread_time()
                body = str(busy(iterations)).encode()
                extra = f"X-Work: {time.perf_counter() - wall} {time.thread_time() - cpu}\r\n"
            elif path == "/whoami":
                body = json.dumps({"id": instance_id, "pid": os.getpid(), "child": child}).encode()
            elif unhealthy_flag is not None and unhealthy_flag.exists():
                status, body = "503 Service Unavailable", b"not yet"
            else:
                body = b"ok"
            writer.write(_response(body, instance_id, extra, status))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _fork_child() -> int:
    """A child in the replica's process group that outlives a SIGTERM, holding the port."""
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(CHILD_LIFETIME)
        os._exit(0)
    return pid


async def _main(
    port: int, instance_id: str, *, fork_child: bool, unhealthy_while: Path | None
) -> None:
    child: int | None = None
    server = await asyncio.start_server(
        lambda reader, writer: _serve(
            reader,
            writer,
            instance_id=instance_id,
            child=child,
            unhealthy_flag=None if unhealthy_while is None else unhealthy_while / instance_id,
        ),
        "127.0.0.1",
        port,
        backlog=1024,
    )
    if fork_child:
        child = _fork_child()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--fork-child", action="store_true")
    parser.add_argument("--unhealthy-while", type=Path)
    args = parser.parse_args()
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(
        _main(
            args.port,
            args.instance_id,
            fork_child=args.fork_child,
            unhealthy_while=args.unhealthy_while,
        )
    )
