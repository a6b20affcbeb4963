"""What the local environment needs from the machine: programs on PATH and free ports.

Used on both sides of the process boundary: the pytest side refuses a missing ``prometheus``
before it starts anything, and the system looks the binary up again where it runs it.
"""

from __future__ import annotations

import shutil
import socket

from chaoskit.errors import ProviderError

BINARY = "prometheus"
INSTALL_HINT = "install it (Debian/Ubuntu: `apt-get install prometheus`) or put its binary on PATH"


def find_binary() -> str:
    """The ``prometheus`` executable on PATH, or ProviderError saying how to install it."""
    found = shutil.which(BINARY)
    if found is None:
        raise ProviderError(
            f"the local environment was asked for a Prometheus server, but there is no "
            f"{BINARY!r} on PATH; {INSTALL_HINT}, or turn it off (prometheus = false in "
            f"[tool.chaoskit.env.local])."
        )
    return found


def free_port(host: str) -> int:
    """A port nobody listens on right now; a replica that loses the race exits and is replaced."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
