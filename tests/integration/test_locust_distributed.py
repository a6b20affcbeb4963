"""Distributed load and load shapes: workers started with ``chaoskit worker``, as users are
told to, connect to the run's locust master on 127.0.0.1; a LoadTestShape drives the
users."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from locust_load import (  # noqa: F401 - target_fixture
    free_port,
    http_target,
    served,
    target_fixture,
    write_locustfile,
)

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import SecondStats, merge_seconds

pytestmark = pytest.mark.integration

SCHEDULED = """
from locust import FastHttpUser, constant_throughput, task

class Browser(FastHttpUser):
    wait_time = constant_throughput(10)

    @task
    def home(self):
        self.client.get("/")
"""

# The same users, each worker counting its own successful requests, by worker id.
COUNTING = (
    SCHEDULED
    + """
import json, os
from locust import events

OK = [0]

@events.request.add_listener
def count(exception=None, **_):
    OK[0] += exception is None

@events.test_stop.add_listener
def write(environment, **_):
    path = os.path.join(os.path.dirname(__file__), environment.runner.client_id + ".json")
    with open(path, "w") as out:
        json.dump(OK[0], out)
"""
)


@pytest.fixture
def hand_started_workers(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    locustfile = write_locustfile(tmp_path, COUNTING)
    port = free_port()
    chaoskit = Path(sys.executable).with_name("chaoskit")
    command = [
        str(chaoskit), "worker", "--master-host", "127.0.0.1", "--master-port", str(port),
        str(locustfile),
    ]  # fmt: skip
    workers = [subprocess.Popen(command, stdin=subprocess.DEVNULL) for _ in range(2)]
    try:
        yield locustfile, port
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=15)


def test_two_remote_workers_merge_to_the_sum_of_what_each_shipped(
    hand_started_workers: tuple[Path, int], target: str
) -> None:
    locustfile, port = hand_started_workers
    spec = Locust(locustfile, users=10, remote_workers=2, master_port=port)
    assert spec.workers == 0
    before = served(target)
    with LocustDriver(spec, host=target) as driver:
        assert len(driver.worker_ids) == 2
        began = time.time()
        driver.start()
        running = time.time()  # every user is running from here
        time.sleep(2.0)
        driver.stop()
        seconds = driver.collect(began, time.time())
        shipped = driver.shipped_by_worker()
    total = merge_seconds(seconds)
    assert set(shipped) == set(driver.worker_ids)
    # Each worker's shipped ok count against that worker's own count of its requests.
    own = {
        worker: json.loads((locustfile.parent / f"{worker}.json").read_text())
        for worker in driver.worker_ids
    }
    assert all(count > 0 for count in own.values()), own
    assert {worker: part.ok for worker, part in shipped.items()} == own
    # The merged histograms hold exactly the ok requests, second by second and in total.
    assert all(s.latency_us.get_total_count() == s.ok for s in seconds if s.ok)
    assert total.latency_us.get_total_count() == total.ok == sum(own.values())
    assert total.completed == total.sent == served(target) - before
    # 10 users at 10 task runs per second each, on schedule, from two processes. (Whether a
    # second is valid depends on how busy the machine running the suite is: not checked.)
    steady = [s for s in seconds if s.second == math.ceil(running)]  # a whole second of load
    assert steady and all(95 <= s.expected <= 105 for s in steady), steady


def test_a_stalled_target_shows_as_latency_from_the_intended_time(
    tmp_path: Path,
) -> None:
    locustfile = write_locustfile(tmp_path, SCHEDULED)
    with (
        http_target() as (url, process),
        LocustDriver(Locust(locustfile, users=5, workers=1), host=url) as driver,
    ):
        began = time.time()
        driver.start()
        time.sleep(1.0)
        os.kill(process.pid, signal.SIGSTOP)
        time.sleep(1.0)
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(1.0)
        driver.stop()
        seconds = driver.collect(began, time.time())
    total = merge_seconds(seconds)
    # About 50 requests were due during the stall; each waited until it ended, so the
    # slowest tenth waited most of the second, measured from when they should have left.
    assert total.latency_us.get_value_at_percentile(99) >= 800_000
    assert total.latency_us.get_value_at_percentile(90) >= 400_000
    assert total.expected == total.sent == total.completed
    # The target's stall is not mistaken for the generator's: no second is voided for a
    # stalled event loop or a late task start. A window can still be voided as "busy" (mean
    # lateness over a second) when the machine running the suite is loaded; that reason is
    # about the machine, true when it is given, and not what this test is about.
    misread = [
        s.invalid for s in seconds if "stalled" in s.invalid or "started a task" in s.invalid
    ]
    assert not misread, misread


def test_a_load_shape_drives_the_users(tmp_path: Path, target: str) -> None:
    locustfile = write_locustfile(
        tmp_path,
        SCHEDULED
        + """
from locust import LoadTestShape

class Steps(LoadTestShape):
    def tick(self):
        run_time = self.get_run_time()
        if run_time < 2:
            return (2, 10)
        if run_time < 6:
            return (6, 10)
        return None
""",
    )
    with LocustDriver(Locust(locustfile, users=1), host=target) as driver:
        began = time.time()
        driver.start()
        # The shape ends the load by itself after 6 s of its own run time, which starts a
        # little after this: wait for two silent whole seconds after the load, or 20 s.
        time.sleep(6.0)
        deadline = began + 20.0
        while not _ended(driver.peek(began, time.time() - 1)) and time.time() < deadline:
            time.sleep(0.5)
        driver.stop()
        seconds = driver.collect(began, time.time())
    expected = [s.expected for s in sorted(seconds, key=lambda s: s.second)]
    # Locust reads the shape once a second and spawns users at 10 a second, so when a step
    # lands in wall-clock seconds varies: look for a whole second of each step, in order.
    # A user sends 10 a second, and one more may land in a second: a run the worker woke
    # late is intended at its slot plus that lateness, which can cross into the next second.
    two_users = [i for i, n in enumerate(expected) if 15 <= n <= 25]
    six_users = [i for i, n in enumerate(expected) if 50 <= n <= 66]
    assert two_users and six_users and two_users[0] < six_users[0], expected
    assert max(expected) <= 6 * 11, expected
    assert _ended(seconds), expected  # stopped by the shape, not by the driver


def _ended(seconds: list[SecondStats]) -> bool:
    """Load was sent, and the last two whole seconds were silent."""
    expected = [s.expected for s in sorted(seconds, key=lambda s: s.second)]
    return any(expected) and len(expected) >= 2 and expected[-2:] == [0, 0]
