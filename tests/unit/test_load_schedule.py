"""Fixed schedules, intended-time latency, expected/sent counters and generator lag, as the
worker's recorder keeps them (times are passed in: no clock, no locust)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from chaoskit.load._locust.lag import BUSY_MEAN_LIMIT, LAG_LIMIT, PROBE_INTERVAL
from chaoskit.load._locust.recorder import (
    SecondRecorder,
    Stamp,
    UserSchedule,
    _slots_before,
    slots_by_second,
)
from chaoskit.slo.seconds import SecondStats


def alive() -> bool:
    return True


def shipped(recorder: SecondRecorder, now: float) -> dict[int, SecondStats]:
    return {s.second: s for s in recorder.drain(now=now).seconds}


def finish(recorder: SecondRecorder, intended: float, *, sent: float, latency_ms: float) -> None:
    """A request sent at ``sent`` comes back ``latency_ms`` later, as the client wrapper
    hands it over."""
    stamp = Stamp(intended=intended, sent=sent, answered=True, done=sent + latency_ms / 1000)
    recorder.finished.append(stamp)


def run(user: SecondRecorder | UserSchedule, *, start: float, latency_ms: float = 1.0) -> float:
    """One task run with one request, started at ``start``; returns its intended time."""
    assert isinstance(user, UserSchedule)
    user.start(start)
    intended = user.request(start)
    finish(user._recorder, intended, sent=start, latency_ms=latency_ms)
    return intended


def probe(recorder: SecondRecorder, *, since: float, until: float, late: float, cpu: float) -> None:
    """The probe wakes every PROBE_INTERVAL from ``since`` to ``until``, each time ``late``
    seconds late, the process using ``cpu`` of a core."""
    now = since
    while now < until:
        due = now + PROBE_INTERVAL
        recorder.lag.probe_sleeping(due)
        woke = due + late
        recorder.lag.probe_woke(due=due, now=woke, cpu_seconds=cpu * (woke - now), wall=woke - now)
        now = woke


def test_the_schedule_does_not_slip_when_a_response_is_late() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.25, alive=alive)
    assert run(user, start=100.0, latency_ms=1000.0) == 100.0  # a 1 s stall
    # The next runs were due at 100.25, 100.5, 100.75, 101.0: no sleep, and each is measured
    # from when it should have been sent.
    assert user.wait(101.0) == 0.0
    assert run(user, start=101.0) == 100.25
    stats = shipped(recorder, 200.0)[100]
    assert stats.latency_us.get_value_at_percentile(100) >= 1_000_000
    assert 750_000 <= stats.latency_us.get_value_at_percentile(0) <= 752_000


def test_a_user_on_time_sleeps_until_its_next_slot() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.1, alive=alive)
    run(user, start=50.0)
    assert abs(user.wait(50.03) - 0.07) < 1e-9
    assert run(user, start=50.1) == 50.1
    user.wait(50.13)
    recorder.stop_schedules(50.13)
    assert shipped(recorder, 52.0)[50].queued == 0


def test_a_task_run_is_shifted_as_a_whole_by_how_late_it_started() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    run(user, start=10.0)
    # The previous run's response held the user until 11.2; the next run was due at 11.0.
    assert user.wait(11.2) == 0.0
    user.start(11.2)
    assert abs(user.request(11.25) - 11.05) < 1e-9  # 0.05 s of preparation is not latency
    assert abs(user.request(11.5) - 11.3) < 1e-9


def test_the_worker_waking_a_user_late_is_not_latency() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    run(user, start=10.0)
    assert user.wait(10.5) == 0.5  # free at 10.5, asleep until the next slot at 11.0
    user.start(11.0007)  # the sleep overshot by 0.7 ms
    intended = user.request(11.0007)
    finish(recorder, intended, sent=11.0007, latency_ms=1.0)
    user.wait(11.1)
    seconds = shipped(recorder, 20.0)
    assert 1000 <= seconds[11].latency_us.get_value_at_percentile(100) <= 1001


def test_think_time_before_the_first_request_is_not_generator_lag() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    run(user, start=100.0)
    user.wait(100.1)  # sleeps until 101.0
    user.start(101.0)
    intended = user.request(101.0 + LAG_LIMIT + 0.4)  # the task prepares data first
    finish(recorder, intended, sent=101.5, latency_ms=2.0)
    user.wait(101.6)
    seconds = shipped(recorder, 110.0)
    assert seconds[101].valid, seconds[101].invalid
    assert 2000 <= seconds[101].latency_us.get_value_at_percentile(50) <= 2002


def test_a_task_started_late_by_the_event_loop_marks_its_intended_second_invalid() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    run(user, start=100.0)
    user.wait(100.1)  # sleeps until 101.0 ...
    run(user, start=101.0 + LAG_LIMIT + 0.05)  # ... but the worker woke it 150 ms late
    user.wait(101.2)
    seconds = shipped(recorder, 110.0)
    assert seconds[100].valid
    assert seconds[101].invalid == "load generator started a task 150 ms late"


def test_a_late_start_marks_the_second_its_requests_moved_into() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.95, alive=alive)
    run(user, start=10.0)
    user.wait(10.5)  # sleeps until the slot at 10.95 ...
    assert run(user, start=11.1) == 11.1  # ... woken 150 ms late, into second 11
    user.wait(11.2)
    recorder.stop_schedules(11.2)
    seconds = shipped(recorder, 20.0)
    assert seconds[11].invalid == "load generator started a task 150 ms late"


def test_expected_counts_runs_never_sent_at_stop_and_beyond_the_grace() -> None:
    recorder = SecondRecorder(grace=2.0)
    user = recorder.schedule(0.5, alive=lambda: False)
    run(user, start=100.0)
    # Stuck for 4 s (a black-holed target): slots older than the grace are given up.
    assert user.wait(104.0) == 0.0
    counts = shipped(recorder, 104.0)
    assert set(counts) == {100, 101}
    assert (counts[100].expected, counts[100].sent, counts[100].ok) == (2, 1, 1)
    assert (counts[101].expected, counts[101].sent, counts[101].missing) == (2, 0, 2)
    # The load stops at 104.2 while the claimed 102.0 run and the rest wait.
    recorder.stop_schedules(104.2)
    counts = shipped(recorder, 110.0)
    assert set(counts) == {102, 103, 104}
    assert [(counts[s].expected, counts[s].sent) for s in (102, 103, 104)] == [
        (2, 0),
        (2, 0),
        (1, 0),  # 104.0; 104.5 is after the stop
    ]
    assert all(counts[s].missing == counts[s].expected for s in counts)


def test_a_run_its_user_was_free_for_is_not_missed_when_the_load_stops_before_it() -> None:
    recorder = SecondRecorder(grace=20.0)
    users = [recorder.schedule(0.1, alive=lambda: False) for _ in range(3)]
    for user in users:
        run(user, start=100.0)
        user.wait(100.05)  # on time: each sleeps until its slot at 100.1
    # The stop arrives at 100.104: the slots were due, but the worker's loop had not woken
    # the users yet. That is the generator's delay, not a request the target held up.
    recorder.stop_schedules(100.104)
    stats = shipped(recorder, 110.0)[100]
    assert (stats.expected, stats.sent, stats.missing) == (3, 3, 0)


def test_a_catch_up_burst_sends_every_overdue_run_into_its_own_second() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.25, alive=alive)
    run(user, start=100.0, latency_ms=2000.0)  # the target stalls 2 s
    now = 102.0
    while True:  # back to back, 1 ms each, until on time again
        sleep = user.wait(now)
        if sleep > 0:
            break
        run(user, start=now)
        now += 0.001
    seconds = shipped(recorder, now + 30.0)
    assert set(seconds) == {100, 101, 102}
    assert [(seconds[s].expected, seconds[s].sent, seconds[s].ok) for s in (100, 101)] == [
        (4, 4, 4),
        (4, 4, 4),
    ]
    assert all(s.valid for s in seconds.values()), [s.invalid for s in seconds.values()]
    # Every run after the first waited for the user, busy with the stalled one before it.
    assert [(seconds[s].queued, round(seconds[s].queued_max_ms)) for s in (100, 101)] == [
        (3, 1750),  # 100.25, sent at 102.0
        (4, 1003),  # 101.0, at 102.003
    ]
    # 101.0 was sent at about 102.004: a second late, measured from when it was due.
    assert 1_003_000 <= seconds[101].latency_us.get_value_at_percentile(100) <= 1_006_000
    assert 256_000 <= seconds[101].latency_us.get_value_at_percentile(0) <= 259_000


def test_a_run_in_progress_holds_the_watermark_back() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    user.start(100.2)
    intended = user.request(100.2)
    assert recorder.drain(now=103.0).watermark == 100.0
    finish(recorder, intended, sent=100.2, latency_ms=2500.0)
    user.wait(103.0)  # the run is over; the next (101.2) is due
    assert recorder.drain(now=103.0).watermark == 101.0
    assert recorder.brackets_trusted


def test_a_stalled_target_is_latency_and_missing_requests_not_an_invalid_second() -> None:
    recorder = SecondRecorder(grace=20.0)
    users = [recorder.schedule(0.1, alive=lambda: False) for _ in range(3)]
    for user in users:
        run(user, start=100.0, latency_ms=2000.0)
        user.wait(102.0)
    recorder.stop_schedules(102.0)
    # The target stalls 2 s: users wait on their responses; the worker itself is idle and
    # its probe wakes on time.
    probe(recorder, since=100.0, until=102.5, late=0.001, cpu=0.02)
    seconds = shipped(recorder, 103.0)
    assert seconds[100].ok == 3
    assert all(s.valid for s in seconds.values()), [s.invalid for s in seconds.values()]


def test_event_loop_lag_is_charged_to_the_seconds_whose_requests_it_delayed() -> None:
    recorder = SecondRecorder(grace=20.0)
    # Intended in second 100 and still in flight when the event loop stalls at 101.0 for
    # 450 ms; a request of second 103 comes after it.
    recorder.record_ok(start_time=100.2, latency_ms=1300.0)
    probe(recorder, since=100.0, until=100.99, late=0.0005, cpu=0.1)
    recorder.lag.probe_sleeping(101.0)
    recorder.lag.probe_woke(due=101.0, now=101.45, cpu_seconds=0.45, wall=0.46)
    probe(recorder, since=101.45, until=104.5, late=0.0005, cpu=0.1)
    recorder.record_ok(start_time=103.5, latency_ms=1.0)
    seconds = shipped(recorder, 105.0)
    assert "event loop stalled 450 ms" in seconds[100].invalid
    assert round(seconds[100].lag_ms) == 450
    assert seconds[103].valid, seconds[103].invalid


def test_a_busy_spell_after_a_stall_marks_the_stalled_seconds_not_only_later_ones() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(0.1, alive=alive)
    run(user, start=100.0, latency_ms=2000.0)  # the target stalls until 102.0
    probe(recorder, since=100.0, until=102.0, late=0.0005, cpu=0.05)
    # The catch-up burst (this user's and many others') keeps the worker CPU-bound from
    # 102.0 to 103.0 while it sends the overdue runs of seconds 100 and 101.
    now = 102.0
    while user.wait(now) == 0.0:
        run(user, start=now, latency_ms=1.0)
        now += 0.02
    probe(recorder, since=102.0, until=103.0, late=0.008, cpu=0.97)
    probe(recorder, since=103.0, until=106.0, late=0.0005, cpu=0.05)
    seconds = shipped(recorder, 106.0)
    for second in (100, 101):
        assert "CPU-bound" in seconds[second].invalid
        assert "busy" in seconds[second].invalid


def test_the_busy_limit_does_not_depend_on_the_users_interval() -> None:
    for late, busy in ((0.001, False), (BUSY_MEAN_LIMIT + 0.002, True)):
        recorder = SecondRecorder(grace=20.0)
        # rate=3000 over 10 users: a run every 3.3 ms per user.
        users = [recorder.schedule(1 / 300, alive=lambda: False) for _ in range(10)]
        for user in users:
            run(user, start=100.0)
        recorder.stop_schedules(100.001)
        probe(recorder, since=100.0, until=102.5, late=late, cpu=0.5)
        seconds = shipped(recorder, 103.0)
        assert ("load generator busy" in seconds[100].invalid) is busy, (late, seconds[100])


def test_a_target_slower_than_the_users_interval_is_latency_not_generator_lag() -> None:
    recorder = SecondRecorder(grace=20.0)
    # a run every 33 ms per user; the target answers in 50 ms: users fall behind, and what
    # users see (latency from the intended send time) grows; the generator itself is idle.
    users = [recorder.schedule(1 / 30, alive=alive) for _ in range(10)]
    now = {id(user): 100.0 for user in users}
    for user in users:
        while now[id(user)] < 102.0:
            start = now[id(user)] + user.wait(now[id(user)])
            run(user, start=start, latency_ms=50.0)
            now[id(user)] = start + 0.05
    probe(recorder, since=100.0, until=103.0, late=0.0005, cpu=0.2)
    seconds = shipped(recorder, 200.0)
    assert seconds[100].valid, seconds[100].invalid
    assert seconds[100].latency_us.get_value_at_percentile(99) > 100_000


def test_requests_without_a_schedule_are_expected_and_sent_when_sent() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.5, latency_ms=3.0)
    recorder.record_failure(start_time=100.6, reason="HTTP 503")
    [stats] = recorder.drain(now=102.0).seconds
    assert (stats.expected, stats.sent, stats.ok, stats.failures) == (2, 2, 1, 1)


def test_requests_outside_a_task_run_are_measured_from_their_actual_send() -> None:
    recorder = SecondRecorder(grace=20.0)
    user = recorder.schedule(1.0, alive=alive)
    assert user.request(99.5) == 99.5  # on_start, before the first task
    assert run(user, start=100.0) == 100.0
    user.wait(100.5)
    seconds = shipped(recorder, 102.0)
    assert [(s, seconds[s].expected, seconds[s].sent) for s in sorted(seconds)] == [
        (99, 1, 1),
        (100, 1, 1),
    ]


@given(
    origin=st.floats(min_value=0.0, max_value=2e9),
    interval=st.floats(min_value=1e-5, max_value=5.0),
    first=st.integers(min_value=0, max_value=5_000),
    count=st.integers(min_value=0, max_value=5_000),
)
def test_slots_counted_per_second_match_counting_them_one_by_one(
    origin: float, interval: float, first: int, count: int
) -> None:
    one_by_one: dict[int, int] = {}
    for j in range(first, first + count):
        second = math.floor(origin + j * interval)
        one_by_one[second] = one_by_one.get(second, 0) + 1
    counted = list(slots_by_second(origin, interval, first, first + count))
    assert dict(counted) == one_by_one
    assert [second for second, _ in counted] == sorted(one_by_one)


@given(
    origin=st.floats(min_value=0.0, max_value=2e9),
    interval=st.floats(min_value=1e-5, max_value=5.0),
    k=st.integers(min_value=0, max_value=10_000_000),
)
def test_a_cutoff_on_a_slot_counts_exactly_the_slots_before_it(
    origin: float, interval: float, k: int
) -> None:
    assert _slots_before(origin, interval, origin + k * interval) == k


class CountingRecorder(SecondRecorder):
    """Counts the recorder calls that give slots up."""

    calls = 0

    def missed(self, intended: float, count: int = 1) -> None:
        self.calls += 1
        super().missed(intended, count)


def test_a_user_far_behind_a_fast_schedule_is_counted_by_arithmetic() -> None:
    # 20 users at 5,000 runs a second each, held 30 s by a target that never answers: every
    # wait, snapshot and stop counts their 3 million slots a second at a time.
    recorder = CountingRecorder(grace=60.0)
    users = [recorder.schedule(1 / 5000, alive=lambda: False) for _ in range(20)]
    for user in users:
        user.start(100.0)
        user.request(100.0)
    partial = recorder.drain(now=130.0).partial
    for user in users:
        user.wait(130.0)
    recorder.stop_schedules(130.0)
    assert recorder.calls <= 20 * 32  # one per user and second, not one per slot
    assert sum(s.in_flight for s in partial) == 20 * 30 * 5000
    seconds = shipped(recorder, 200.0)
    assert sum(s.expected for s in seconds.values()) == 20 * 30 * 5000
    assert all(seconds[s].expected == 20 * 5000 for s in range(101, 130))


def test_many_runs_started_late_together_are_one_lag_with_the_worst_lateness() -> None:
    # A pool adding hundreds of users in a stall starts their runs late together: one
    # reason, not one per run (the report and the journal would carry them all).
    recorder = SecondRecorder(grace=30.0)
    for index in range(300):
        recorder.lag.run_started_late(100.0 + index / 1000, late=0.2 + index / 10_000)
    stats = SecondStats(second=100)
    recorder.lag.charge(100, stats, until=101.0)
    assert stats.invalid == "load generator started a task 230 ms late"
    assert round(stats.lag_ms, 6) == 229.9


def test_a_worker_keeps_time_until_its_probe_wakes_late_or_a_window_is_busy() -> None:
    # The open model's pool grows only while this holds: a worker whose users wait on its
    # own CPU gains nothing from more users.
    recorder = SecondRecorder(grace=30.0)
    lag = recorder.lag
    assert lag.keeping_time
    due = 100.0
    for _ in range(3):
        lag.probe_woke(due=due, now=due + 0.0005, cpu_seconds=0.01, wall=PROBE_INTERVAL)
        due += PROBE_INTERVAL
    assert lag.keeping_time
    for _ in range(3):
        lag.probe_woke(due=due, now=due + 0.02, cpu_seconds=0.01, wall=PROBE_INTERVAL)
        due += PROBE_INTERVAL
    assert not lag.keeping_time
