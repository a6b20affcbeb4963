"""The local system that cannot start says why, at once, in a sentence a user can act on."""

from __future__ import annotations

import re
import sys
import time

import pytest

from chaoskit.errors import ProviderError
from chaoskit.providers.local.environment import LocalEnvironment

pytestmark = pytest.mark.integration


def test_a_health_path_answered_404_is_named_quickly_without_the_access_log() -> None:
    # http.server answers every unknown path 404, and logs every request to stderr.
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
    began = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        LocalEnvironment.start({"web": {"command": command, "replicas": 1}}, startup_timeout=30)
    took = time.monotonic() - began
    message = str(raised.value)
    assert "GET /health returned 404" in message
    assert "health_path" in message
    assert "HTTP/1.1" not in message  # no access-log lines
    assert took < 15, f"took {took:.1f}s"


def test_a_command_that_exits_at_once_fails_within_a_replace_delay_naming_the_command() -> None:
    # Exits with code 3 before it serves anything, every time it is started again.
    command = [
        sys.executable,
        "-c",
        "import sys; print('no config file', file=sys.stderr); sys.exit(3)",
        "{port}",
    ]
    began = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        LocalEnvironment.start(
            {"web": {"command": command, "replicas": 2, "replace_delay": "0.5s"}},
            startup_timeout=30,
        )
    took = time.monotonic() - began
    message = str(raised.value)
    assert re.search(r"exited \d+ times before it became healthy \(last exit code 3\)", message)
    assert "targets.web.command" in message
    assert "no config file" in message  # the command's own output says why
    assert took < 10, f"took {took:.1f}s, not far from the 30 s start-up timeout"
