"""A blocking TCP server on 127.0.0.1 for tests, a thread per connection, that hands each
connection (with TCP_NODELAY) to a function."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from contextlib import suppress


class ThreadedServer:
    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self._handle = handle
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn, suppress(OSError):
            self._handle(conn)

    def close(self) -> None:
        self._listener.close()
