"""Fixed schedules, intended-time latency, expected/sent counters and generator lag, as the
worker's recorder keeps them (times are passed in: no clock, no locust)."""

from __future__ import annotations

from chaoskit.load._recorder import LAG_LIMIT, PROBE_INTERVAL, SecondRecorder


def alive() -> bool:
    return True


def shipped(recorder: SecondRecorder, now: float) -> dict[int, tuple[int, int, int, str]]:
    return {
        s.second: (s.expected, s.sent, s.ok, s.invalid) for s in recorder.drain(now=now).seconds
    }


def test_the_schedule_does_not_slip_when_a_response_is_late() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.25, alive=alive)
    intended = user.request(100.0)  # the first run starts at once
    assert intended == 100.0
    recorder.record_ok(start_time=100.0, latency_ms=1000.0, intended=intended)  # a 1 s stall
    # The next runs were due at 100.25, 100.5, 100.75, 101.0: no sleep, and each is measured
    # from when it should have been sent.
    assert user.wait(101.0) == 0.0
    late = user.request(101.0)
    assert late == 100.25
    recorder.record_ok(start_time=101.0, latency_ms=1.0, intended=late)
    stats = recorder.drain(now=200.0).seconds[0]
    assert stats.second == 100
    assert stats.latency_us.get_value_at_percentile(100) >= 1_000_000
    assert 750_000 <= stats.latency_us.get_value_at_percentile(0) <= 752_000


def test_a_user_on_time_sleeps_until_its_next_slot() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.1, alive=alive)
    user.request(50.0)
    assert abs(user.wait(50.03) - 0.07) < 1e-9
    assert user.request(50.1) == 50.1


def test_later_requests_of_a_task_run_are_shifted_as_the_run_started_late() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    user.request(10.0)
    user.wait(10.5)  # next run due at 11.0
    assert user.request(11.2) == 11.0  # started 0.2 s late
    assert abs(user.request(11.5) - 11.3) < 1e-9  # sent 0.3 s into the run


def test_expected_counts_runs_never_sent_at_stop_and_beyond_the_grace() -> None:
    recorder = SecondRecorder(grace=2.0)
    user = recorder.schedule(0.5, alive=lambda: False)
    recorder.record_ok(start_time=100.0, latency_ms=1.0, intended=user.request(100.0))
    # Stuck for 4 s (a black-holed target): slots older than the grace are given up.
    assert user.wait(104.0) == 0.0
    counts = shipped(recorder, 104.0)
    assert counts[100] == (2, 1, 1, "")  # 100.0 sent; 100.5 missed
    assert counts[101] == (2, 0, 0, "")
    # The load stops at 104.2 while the claimed 102.0 run and the rest wait.
    recorder.stop_schedules(104.2)
    counts = shipped(recorder, 110.0)
    assert counts[102] == (2, 0, 0, "")
    assert counts[103] == (2, 0, 0, "")
    assert counts[104] == (1, 0, 0, "")  # 104.0; 104.5 is after the stop


def test_a_run_in_progress_holds_the_watermark_back() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    intended = user.request(100.2)
    assert recorder.drain(now=103.0).watermark == 100.0
    recorder.record_ok(start_time=100.2, latency_ms=2500.0, intended=intended)
    user.wait(103.0)  # the run is over; the next (101.2) is due
    assert recorder.drain(now=103.0).watermark == 101.0
    assert recorder.brackets_trusted


def test_a_stalled_target_is_latency_and_missing_requests_not_an_invalid_second() -> None:
    recorder = SecondRecorder(grace=20.0)
    users = [recorder.schedule(0.1, alive=alive) for _ in range(3)]
    now = 100.0
    for user in users:
        user.request(now)
    # The target stalls 2 s: users wait on their responses; the worker itself is idle and
    # its probe wakes on time.
    while now < 102.0:
        recorder.probe_sleeping(now + PROBE_INTERVAL)
        now += PROBE_INTERVAL
        recorder.probe_woke(due=now, now=now + 0.001, cpu_seconds=0.001, wall=PROBE_INTERVAL)
    seconds = {s.second: s for s in recorder.drain(now=103.0).seconds}
    assert all(s.valid for s in seconds.values())


def test_a_stalled_event_loop_marks_its_seconds_invalid() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.0, latency_ms=1.0)
    recorder.probe_sleeping(100.95)
    recorder.probe_woke(due=100.95, now=101.4, cpu_seconds=0.45, wall=0.5)
    seconds = {s.second: s for s in recorder.drain(now=103.0).seconds}
    assert "event loop stalled 450 ms" in seconds[100].invalid
    assert "event loop stalled 450 ms" in seconds[101].invalid
    assert round(seconds[101].lag_ms) == 450


def test_a_send_late_after_the_user_was_ready_marks_its_second_invalid() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    user.request(100.0)
    user.wait(100.1)  # sleeps until 101.0
    user.request(101.0 + LAG_LIMIT + 0.05)
    user.wait(101.2)
    seconds = {s.second: s for s in recorder.drain(now=110.0).seconds}
    assert seconds[100].valid
    assert seconds[101].invalid == "load generator sent 150 ms late"


def test_a_busy_or_cpu_bound_generator_marks_its_seconds_invalid() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.schedule(0.01, alive=lambda: False).request(100.0)
    now = 100.0
    while now < 102.0:  # every wake-up 4 ms late: 40% of the 10 ms between a user's tasks
        recorder.probe_sleeping(now + PROBE_INTERVAL)
        recorder.probe_woke(
            due=now + PROBE_INTERVAL, now=now + 0.054, cpu_seconds=0.052, wall=0.054
        )
        now += 0.054
    recorder.stop_schedules(now)
    seconds = {s.second: s for s in recorder.drain(now=103.0).seconds}
    assert "load generator busy" in seconds[101].invalid
    assert "CPU-bound" in seconds[101].invalid


def test_requests_without_a_schedule_are_expected_and_sent_when_sent() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.5, latency_ms=3.0)
    recorder.record_failure(start_time=100.6, reason="HTTP 503")
    [stats] = recorder.drain(now=102.0).seconds
    assert (stats.expected, stats.sent, stats.ok, stats.failures) == (2, 2, 1, 1)
