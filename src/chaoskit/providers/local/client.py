"""The pytest-side client of the local system's control port (JSON lines over TCP).

It sends the typed requests of ``control_protocol`` and returns their typed replies.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from typing import TypeVar

from chaoskit.errors import ProviderError
from chaoskit.providers.local import control_protocol as protocol

REQUEST_TIMEOUT = 10.0

ReplyT = TypeVar("ReplyT", bound=protocol.Reply)


class ControlClient:
    """One kept-alive connection; requests are serialised so threads may share it.

    A request is never resent: ``add_latency`` sent twice would leave a second fault behind.
    A broken connection is reopened for the next request instead.
    """

    def __init__(self, address: str, token: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._token = token
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: io.BufferedReader | None = None

    def call(self, request: protocol.Request[ReplyT]) -> ReplyT:
        """Send one request and return its reply; ConfigError or ProviderError carry the
        system's own message."""
        op = request.op
        line = protocol.dumps(request.to_json(token=self._token))
        with self._lock:
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None and self._reader is not None
                self._sock.sendall(line)
                answer = self._reader.readline()
            except OSError as error:
                self._disconnect()
                raise ProviderError(
                    f"the local system did not answer {op!r} on {self._address_text}: {error}"
                ) from error
            if not answer:
                self._disconnect()
                raise ProviderError(
                    f"the local system closed its control connection ({self._address_text}) "
                    f"during {op!r}; it has probably exited."
                )
        response = json.loads(answer)
        if not isinstance(response, dict):
            raise ProviderError(f"the local system answered {op!r} with {response!r}.")
        if response.get("ok"):
            return request.reply_from_json(response)
        raise protocol.Failure.from_json(response).exception()

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    @property
    def _address_text(self) -> str:
        return f"{self._address[0]}:{self._address[1]}"

    def _connect(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._reader = sock.makefile("rb")

    def _disconnect(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None
