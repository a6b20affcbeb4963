"""The locust driver end to end: real coordinator and worker processes against a real HTTP
target on 127.0.0.1, compared with what the target itself counted."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import psutil
import pytest
from locust_load import run_for, served, target_fixture, write_locustfile  # noqa: F401

from chaoskit.errors import ConfigError, LoadError
from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import SecondStats, merge_seconds

pytestmark = pytest.mark.integration

SLOW_US = 150_000  # http_target.SLOW_SECONDS


def descendants() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def counts(seconds: list[SecondStats]) -> list[tuple[int, int, dict[str, int]]]:
    return [(s.second, s.ok, dict(s.failed)) for s in seconds]


def test_measurements_match_what_the_target_saw(tmp_path: Path, target: str) -> None:
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, constant_throughput, task

        class Shopper(FastHttpUser):
            wait_time = constant_throughput(5)

            @task(3)
            def slow(self):
                self.client.get("/slow")

            @task(1)
            def fail(self):
                self.client.get("/fail")
        """,
    )
    before = served(target)
    with LocustDriver(Locust(locustfile, users=10), host=target) as driver:
        began = time.time()
        driver.start()
        running = time.time()  # every user is running from here
        time.sleep(2.5)
        stopping = time.time()
        driver.stop()

        # The driver outlives one experiment: users start again in the same processes.
        driver.start()
        time.sleep(1.0)
        window_end = time.time()
        live = driver.collect(began, window_end)  # while users keep sending
        time.sleep(0.5)
        driver.stop()
        stopped = time.time()
        seconds = driver.collect(began, stopped + 1)
    total = merge_seconds(seconds)

    assert [s.second for s in seconds] == list(range(int(began), math.ceil(stopped + 1)))
    # Every request the target answered was measured exactly once; none is in flight at stop.
    assert total.completed == served(target) - before
    assert total.ok > 0
    assert set(total.failed) == {"HTTP 500"}
    assert total.failed["HTTP 500"] > 0
    # Ten users at 5 requests per second each: about 50 per second while running.
    steady = [s for s in seconds if math.ceil(running) <= s.second < int(stopping)]
    assert steady
    assert all(30 <= s.completed <= 60 for s in steady), counts(steady)
    # The second after the load stopped is there, and silent.
    assert seconds[-1].completed == 0

    # Only /slow succeeds, so every latency is the target's delay plus a little.
    histogram = total.latency_us
    assert histogram.get_value_at_percentile(0) >= SLOW_US * 0.999
    assert SLOW_US <= histogram.get_value_at_percentile(50) <= SLOW_US + 50_000
    assert histogram.get_value_at_percentile(99) <= SLOW_US + 250_000

    # What collect() returned while users ran was complete: nothing arrived for it later.
    assert counts(live) == counts([s for s in seconds if s.second <= live[-1].second])

    assert "locust" not in sys.modules
    assert "gevent" not in sys.modules


def test_collect_waits_for_requests_still_in_flight(tmp_path: Path, target: str) -> None:
    # Requests take longer than a worker's shipping interval, so at every second's end some
    # that started in it are still running; collect() must wait for them.
    locustfile = write_locustfile(
        tmp_path,
        """
        import itertools
        import time

        from locust import FastHttpUser, constant_throughput, task

        arrivals = itertools.count()

        class Patient(FastHttpUser):
            wait_time = constant_throughput(1)

            def on_start(self):
                # Spread the users' sends over the second: 0.0 s, 0.1 s, ... 0.9 s in.
                time.sleep(next(arrivals) % 10 / 10)

            @task
            def slow(self):
                self.client.get("/slow?ms=700", name="/slow")
        """,
    )
    before = served(target)
    # Whenever a second ends, some requests that started in it still have up to 0.7 s to go.
    with LocustDriver(Locust(locustfile, users=10), host=target) as driver:
        began = time.time()
        driver.start()
        time.sleep(1.5)
        window_end = time.time()
        live = driver.collect(began, window_end)
        waited = time.time() - window_end
        driver.stop()
        seconds = driver.collect(began, time.time())

    assert merge_seconds(seconds).completed == served(target) - before
    assert sum(s.completed for s in live) > 0
    # It waited for the requests in flight, not for the clients' timeout (20 s) to pass:
    # the end of the last second, the slowest request, the next shipment.
    assert waited < 6.0
    # Nothing arrived for the collected seconds after collect() returned them.
    assert counts(live) == counts([s for s in seconds if s.second <= live[-1].second])


def test_two_workers_add_up(tmp_path: Path, target: str) -> None:
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, constant_throughput, task

        class Browser(FastHttpUser):
            wait_time = constant_throughput(10)

            @task
            def home(self):
                self.client.get("/")
        """,
    )
    already_running = descendants()
    before = served(target)
    driver = LocustDriver(Locust(locustfile, users=20, workers=2), host=target)
    try:
        assert len(descendants() - already_running) == 3  # the coordinator and two workers
        assert len(driver.worker_ids) == 2
        began = time.time()
        driver.start()
        time.sleep(2.0)
        driver.stop()
        seconds = driver.collect(began, time.time())
        by_worker = driver.requests_by_worker()
    finally:
        driver.close()

    total = merge_seconds(seconds)
    assert set(by_worker) == set(driver.worker_ids)
    assert all(shipped > 0 for shipped in by_worker.values()), by_worker
    assert total.completed == sum(by_worker.values()) == served(target) - before
    assert total.failures == 0
    assert descendants() - already_running == set()
    assert "locust" not in sys.modules
    assert "gevent" not in sys.modules


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("from locust import HttpUser\nclass Broken(HttpUser:\n    pass\n", "syntax error"),
        (
            "from locust import FastHttpUser\nclass Base(FastHttpUser):\n    abstract = True\n",
            "defines no locust User class",
        ),
    ],
    ids=["syntax-error", "no-user-class"],
)
def test_a_bad_locustfile_is_a_load_error_naming_it(
    tmp_path: Path, target: str, body: str, reason: str
) -> None:
    locustfile = write_locustfile(tmp_path, body, name="broken_locustfile.py")
    already_running = descendants()
    with pytest.raises(LoadError) as caught:
        LocustDriver(Locust(locustfile), host=target)
    assert str(locustfile) in str(caught.value)
    assert reason in str(caught.value)
    assert descendants() - already_running == set()


@pytest.mark.parametrize(
    ("reads_them", "locust_stats", "recorded"),
    [(False, None, False), (True, None, True), (False, True, True), (True, False, False)],
    ids=["not-read", "read", "asked-for", "refused"],
)
def test_workers_record_locusts_own_statistics_only_when_the_locustfile_reads_them_or_asked(
    tmp_path: Path, target: str, reads_them: bool, locust_stats: bool | None, recorded: bool
) -> None:
    # The file that does not read them must not say so in its text either.
    statistics = "environment.stats" if reads_them else 'getattr(environment, "st" "ats")'
    locustfile = write_locustfile(
        tmp_path,
        f"""
        from pathlib import Path
        from locust import FastHttpUser, constant_throughput, events, task

        class Shopper(FastHttpUser):
            wait_time = constant_throughput(20)

            @task
            def home(self):
                self.client.get("/")

        # Locust empties its statistics each time a worker reports them to the master: count
        # what is recorded into them instead.
        recorded = [0]

        @events.init.add_listener
        def count_what_locust_records(environment, **_):
            statistics = {statistics}
            log_request = statistics.log_request

            def counting(*args, **kwargs):
                recorded[0] += 1
                return log_request(*args, **kwargs)

            statistics.log_request = counting

        @events.test_stop.add_listener
        def note_the_count(environment, **_):
            if type(environment.runner).__name__ == "WorkerRunner":
                Path(__file__).with_name("recorded").write_text(str(recorded[0]))
        """,
    )
    spec = Locust(locustfile, users=2, workers=1, locust_stats=locust_stats)
    total = merge_seconds(run_for(spec, target, 1.5))

    assert total.sent >= 20
    assert int((tmp_path / "recorded").read_text()) == (total.sent if recorded else 0)


def test_close_reaps_every_process_and_is_idempotent(tmp_path: Path, target: str) -> None:
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, constant_throughput, task

        class Browser(FastHttpUser):
            wait_time = constant_throughput(1)

            @task
            def home(self):
                self.client.get("/")
        """,
    )
    already_running = descendants()
    driver = LocustDriver(Locust(locustfile, users=2), host=target)
    driver.start()
    assert len(descendants() - already_running) == 2
    driver.close()  # with users still running
    assert descendants() - already_running == set()
    driver.close()
    with pytest.raises(LoadError, match="closed"):
        driver.start()
    with pytest.raises(LoadError, match="closed"):
        driver.collect(time.time() - 2, time.time())


def test_nested_and_catch_response_requests_count_once_each(tmp_path: Path, target: str) -> None:
    # Each task run makes 5 requests: one in a catch_response block that makes another
    # inside it, one through events.request.measure around a third, and one that raises
    # before the response (a bad url), which locust reports as a failure.
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import HttpUser, between, events, task

        class Browser(HttpUser):
            wait_time = between(5, 10)  # replaced by the rate

            @task
            def browse(self):
                with self.client.get("/", catch_response=True) as outer:
                    self.client.get("/slow?ms=5")
                    outer.success()
                with events.request.measure("custom", "measured"):
                    self.client.get("/")
                self.client.get("http://127.0.0.1:1/refused")
        """,
    )
    before = served(target)
    seconds = run_for(Locust(locustfile, users=4, workers=1, rate=40), target, 2.0)
    total = merge_seconds(seconds)
    to_target = served(target) - before
    runs = to_target // 3
    assert to_target == 3 * runs and runs >= 60, to_target  # about 40 runs a second
    assert total.sent == 5 * runs, total
    # A run due just before the stop, whose user had not woken for it yet, is expected and
    # never sent: at most one per user.
    assert 0 <= total.expected - total.sent <= 4, total
    assert total.ok == 4 * runs, total
    assert sum(total.failed.values()) == runs, total.failed


def test_a_request_measured_inside_a_task_keeps_its_users_schedule(
    tmp_path: Path, target: str
) -> None:
    # A run every 100 ms that takes 200 ms: from the second run on, every run waited for
    # its user to finish the one before, and so did each of its requests, including the one
    # events.request.measure makes (it names no user: the schedule is found by greenlet).
    # A load shape keeps a schedule per user (no pool takes the runs the user is late for),
    # so that the wait shows.
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, LoadTestShape, constant_throughput, events, task

        class Shopper(FastHttpUser):
            wait_time = constant_throughput(10)

            @task
            def browse(self):
                self.client.get("/slow?ms=200")
                with events.request.measure("custom", "measured"):
                    pass

        class One(LoadTestShape):
            def tick(self):
                return (1, 1)
        """,
    )
    total = merge_seconds(run_for(Locust(locustfile, users=1, workers=1), target, 1.5))

    assert total.sent >= 10, total
    # Only the first run's two requests did not wait.
    assert total.queued == total.sent - 2, total


def test_a_tasksets_own_wait_time_is_kept_as_a_schedule(tmp_path: Path, target: str) -> None:
    # The TaskSet asks for a run every 200 ms of each user; each takes 300 ms. Kept as a
    # schedule, the 2 users' 10 runs a second are all sent on time, the pool adding users
    # while the others wait. Closed loop, they would send about 6.7 a second.
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import HttpUser, TaskSet, constant, constant_throughput, task

        class Pages(TaskSet):
            wait_time = constant_throughput(5)

            @task
            def slow(self):
                self.client.get("/slow?ms=300")

        class Browser(HttpUser):
            wait_time = constant(0)
            tasks = [Pages]
        """,
    )
    seconds = run_for(Locust(locustfile, users=2, workers=1), target, 3.0)
    total = merge_seconds(seconds)
    assert total.ok == total.sent == total.expected, total
    assert total.sent >= 25, total  # about 30 asked over 3 s; closed loop about 20
    assert max(s.users for s in seconds) > 2
    assert total.latency_us.get_value_at_percentile(90) < 450_000


def test_a_rate_with_a_load_shape_is_refused(tmp_path: Path, target: str) -> None:
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, LoadTestShape, constant, task

        class Browser(FastHttpUser):
            wait_time = constant(1)

            @task
            def home(self):
                self.client.get("/")

        class Ramp(LoadTestShape):
            def tick(self):
                return (5, 5) if self.get_run_time() < 10 else None
        """,
    )
    already_running = descendants()
    with pytest.raises(ConfigError) as caught:
        LocustDriver(Locust(locustfile, users=5, rate=50), host=target)
    message = str(caught.value)
    assert "rate=50" in message and "LoadTestShape Ramp" in message
    assert "constant_throughput" in message
    assert descendants() - already_running == set()


def test_a_task_that_raises_is_a_failed_run_named_by_its_exception_and_message(
    tmp_path: Path, target: str
) -> None:
    # A locustfile that is wrong (or a target so broken the task's own checks raise) must show
    # as failures with their cause, never as a quiet second with nothing in it: scheduled users
    # that raise before any request, closed-loop users that raise after a successful one.
    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, HttpUser, between, constant_throughput, task

        class Broken(FastHttpUser):
            wait_time = constant_throughput(10)

            @task
            def broken(self):
                raise ValueError("the locustfile is wrong")

        class Checking(HttpUser):
            wait_time = between(0.05, 0.1)

            @task
            def check(self):
                response = self.client.get("/")
                assert response.text == "never", "unexpected body"
        """,
    )
    before = served(target)
    seconds = run_for(Locust(locustfile, users=4), target, 2.5)
    total = merge_seconds(seconds)
    answered = served(target) - before
    # Counted by class and message: the message says what is wrong.
    raised, checked = "ValueError: the locustfile is wrong", "AssertionError: unexpected body"
    assert set(total.failed) == {raised, checked}, total.failed
    # Two scheduled users at 10 runs a second for about 2.5 s.
    assert total.failed[raised] >= 30, total.failed
    # Every run of the checking users made one successful request, then failed its check.
    assert total.ok == answered
    assert total.failed[checked] == answered
    assert total.expected >= total.ok + sum(total.failed.values())


def test_a_killed_worker_is_replaced_for_the_runs_next_experiment(
    tmp_path: Path, target: str
) -> None:
    from chaoskit.experiment.run import Run
    from chaoskit.testing import FakeEnvironment, FakeTarget

    locustfile = write_locustfile(
        tmp_path,
        """
        from locust import FastHttpUser, constant_throughput, task

        class Browser(FastHttpUser):
            wait_time = constant_throughput(5)

            @task
            def home(self):
                self.client.get("/")
        """,
    )
    run = Run(
        env_name="local",
        env_factory=lambda run_id: FakeEnvironment(
            name="local", targets={"web": FakeTarget(name="web", url=target)}
        ),
        journal_dir=tmp_path / "journals",
    )
    spec = Locust(locustfile, users=2)
    try:
        first = run.load_driver(spec)
        first.start()
        assert isinstance(first, LocustDriver)
        [worker] = [
            p
            for p in psutil.Process().children(recursive=True)
            if "chaoskit.load._locust.worker" in p.cmdline()
        ]
        worker.kill()
        worker.wait(5)
        with pytest.raises(LoadError, match=f"load worker process {worker.pid} exited"):
            first.stop()
        assert f"process {worker.pid} exited" in first.broken()
        second = run.load_driver(spec)
        assert second is not first
        began = time.time()
        second.start()
        time.sleep(1.5)
        second.stop()
        assert merge_seconds(second.collect(began, time.time())).ok > 0
    finally:
        run.close()
