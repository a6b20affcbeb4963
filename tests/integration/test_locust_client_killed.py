"""A request whose user a stop kills as it sends: the client wrapper marks it, in a process
of its own (locust patches gevent into the process that imports it, and the pytest process
is never patched)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

KILLED_AS_SENT = """
import json
from gevent import GreenletExit
from chaoskit.load._locust.instrument import _bracketed
from chaoskit.load._locust.recorder import SecondRecorder
from chaoskit.load._locust.schedules import Schedules
from chaoskit.load._locust.timebase import clock

def killed(session, method, url, context=None):
    raise GreenletExit  # the stop's kill, landing as the user sends

def refused(session, method, url, context=None):
    raise ConnectionRefusedError  # raised by itself, before any answer

recorder = SecondRecorder(grace=20.0)
recorder.stop_schedules(clock())  # the load was told to stop
for request, raised in ((killed, GreenletExit), (refused, ConnectionRefusedError)):
    try:
        _bracketed(request, recorder, Schedules(recorder))(object(), "GET", "/")
    except raised:
        pass
seconds = recorder.drain(now=clock() + 30.0).seconds
print(json.dumps([sum(getattr(s, field) for s in seconds) for field in ("expected", "sent")]))
"""


def test_a_request_killed_as_it_was_sent_after_the_stop_is_taken_back() -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AS_SENT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # The refused request is still expected and sent; the killed one is not counted.
    assert json.loads(done.stdout) == [1, 1]
