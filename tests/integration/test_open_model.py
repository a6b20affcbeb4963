"""The open model of scheduled load, in real load processes against a target on 127.0.0.1:
a rate spread over every second, a pool that grows when every user is busy, a cap that drops
runs (counted), new pool users running on_start, the cap over several workers, and closed-loop
users left as they were."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
from locust_load import http_target, run_for, target_fixture, write_locustfile  # noqa: F401

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import SecondStats, merge_seconds

ONE_REQUEST = """
from locust import FastHttpUser, constant, task

class Browser(FastHttpUser):
    wait_time = constant(1)

    @task
    def home(self):
        self.client.get("{path}")
"""

STARTS_LOGGED = """
from locust import FastHttpUser, constant, task

class Browser(FastHttpUser):
    wait_time = constant(1)

    def on_start(self):
        with open({log!r}, "a") as log:
            log.write("started\\n")

    @task
    def home(self):
        self.client.get("/slow?ms=400")
"""


def whole(seconds: list[SecondStats]) -> list[SecondStats]:
    """The seconds between the first and the last one with runs, both left out (the load
    started and stopped in them)."""
    busy = [index for index, second in enumerate(seconds) if second.expected]
    return list(seconds[busy[0] + 1 : busy[-1]]) if busy else []


def stalled_for(spec: Locust, url: str, process_id: int, stall: float) -> list[SecondStats]:
    """Run ``spec`` for a second, stop the target for ``stall`` seconds, run a second more."""
    with LocustDriver(spec, host=url) as driver:
        began = time.time()
        driver.start()
        time.sleep(1.0)
        os.kill(process_id, signal.SIGSTOP)
        try:
            time.sleep(stall)
        finally:
            os.kill(process_id, signal.SIGCONT)
        time.sleep(1.0)
        driver.stop()
        return driver.collect(began, time.time())


def test_a_rate_is_spread_over_every_second(tmp_path: Path, target: str) -> None:
    # 50 users at 10 runs a second: each user runs once every 5 s. Started together with
    # schedules of their own, they sent 50 requests in one second and none in the next four.
    locustfile = write_locustfile(tmp_path, ONE_REQUEST.format(path="/"))
    seconds = whole(run_for(Locust(locustfile, users=50, rate=10, workers=1), target, 6.0))
    assert len(seconds) >= 4
    assert all(7 <= s.expected <= 13 for s in seconds), [s.expected for s in seconds]


def test_the_pool_grows_while_the_target_is_stalled_and_nothing_queues(tmp_path: Path) -> None:
    # 5 users at 50 runs a second, the target stopped for a second: about 50 runs are due
    # while every user waits. Each goes to a new user of the pool, on time.
    locustfile = write_locustfile(tmp_path, ONE_REQUEST.format(path="/"))
    with http_target() as (url, process):
        spec = Locust(locustfile, users=5, rate=50, workers=1)
        seconds = stalled_for(spec, url, process.pid, stall=1.0)
    total = merge_seconds(seconds)
    assert max(s.users for s in seconds) >= 30
    assert total.queued <= 0.01 * total.expected
    assert total.dropped == 0
    assert total.expected == total.sent
    # What independent users saw: the requests due in the stall waited for its end, the
    # others were quick. Queued behind their 5 users, half of all would have waited.
    assert total.latency_us.get_value_at_percentile(50) < 100_000
    assert total.latency_us.get_value_at_percentile(99) >= 500_000


def test_runs_beyond_max_users_are_dropped_counted_per_second_and_count_against_availability(
    tmp_path: Path,
) -> None:
    locustfile = write_locustfile(tmp_path, ONE_REQUEST.format(path="/"))
    with http_target() as (url, process):
        spec = Locust(locustfile, users=5, rate=50, max_users=10, workers=1)
        seconds = stalled_for(spec, url, process.pid, stall=1.5)
    total = merge_seconds(seconds)
    assert max(s.users for s in seconds) == 10
    # Dropped in the seconds of the stall, not spread over the run.
    dropping = [s for s in seconds if s.dropped]
    assert 1 <= len(dropping) <= 3
    assert total.dropped >= 40
    assert all(s.expected == s.sent + s.dropped for s in seconds)
    assert total.ok <= total.demand - total.dropped  # availability counts them as missing


def test_a_pool_user_runs_on_start_first(tmp_path: Path, target: str) -> None:
    # 2 users at 20 runs a second against 400 ms responses: about 8 users are busy at once.
    log = tmp_path / "starts.log"
    locustfile = write_locustfile(tmp_path, STARTS_LOGGED.format(log=str(log)))
    seconds = run_for(Locust(locustfile, users=2, rate=20, workers=1), target, 3.0)
    peak = max(s.users for s in seconds)
    assert peak >= 6
    assert len(log.read_text().splitlines()) == peak


def test_max_users_is_over_the_whole_load_with_several_workers(tmp_path: Path, target: str) -> None:
    # 40 runs a second of 500 ms: 20 users would be busy at once; the cap is 10 in all.
    locustfile = write_locustfile(tmp_path, ONE_REQUEST.format(path="/slow?ms=500"))
    spec = Locust(locustfile, users=4, rate=40, max_users=10, workers=2)
    seconds = run_for(spec, target, 3.0)
    assert max(s.users for s in seconds) == 10
    assert merge_seconds(seconds).dropped > 0


def test_closed_loop_users_keep_their_own_pace_and_no_pool(tmp_path: Path, target: str) -> None:
    # Users without a schedule wait for their responses: 4 users, 200 ms each plus 1 s.
    locustfile = write_locustfile(tmp_path, ONE_REQUEST.format(path="/slow?ms=200"))
    seconds = run_for(Locust(locustfile, users=4, workers=1), target, 3.5)
    total = merge_seconds(seconds)
    assert max(s.users for s in seconds) == 4
    assert total.dropped == 0
    assert total.expected == total.sent == total.completed
    assert total.completed <= 4 * 3  # one run per user every 1.2 s at the most


def test_a_paused_load_worker_does_not_count_its_own_lateness_against_the_target(
    tmp_path: Path,
) -> None:
    # 10 users at 500 runs a second: every user claims a run 20 ms ahead. A pause of the
    # worker (a busy machine) under its lag limit leaves runs due with every user busy:
    # they are the worker's lateness, not missing answers nor a queue of the target's.
    locustfile = write_locustfile(tmp_path, ONE_REQUEST.format(path="/"))
    with http_target() as (url, _process):
        spec = Locust(locustfile, users=10, rate=500, workers=1)
        with LocustDriver(spec, host=url) as driver:
            began = time.time()
            driver.start()
            time.sleep(1.5)
            [worker] = [p for p in psutil.Process().children() if _is_load_worker(p)]
            for _ in range(2):  # a probe window (1 s) apart: each alone is not "busy"
                worker.suspend()
                time.sleep(0.06)
                worker.resume()
                time.sleep(1.2)
            # Whole seconds no pause touched: a slow machine's pauses can spill over into
            # the second after them, and these must still be judged, and valid.
            time.sleep(2.0)
            driver.stop()
            seconds = driver.collect(began, time.time())
    valid = [s for s in whole(seconds) if s.valid]
    assert valid, [s.invalid for s in seconds]
    assert [(s.second, s.missing, s.queued) for s in valid if s.missing or s.queued] == []
    # What the worker could not send is its loss, said so, never the target's dropped runs.
    assert merge_seconds(seconds).dropped == 0
    lost = [s for s in whole(seconds) if s.missing]
    assert lost, "the pauses left no run unsent: the worker was never behind"
    assert all("load generator" in s.invalid for s in lost), [s.invalid for s in lost]


def _is_load_worker(process: psutil.Process) -> bool:
    try:
        return "chaoskit.load._locust.worker" in process.cmdline()
    except psutil.Error:  # a child that has just exited
        return False
