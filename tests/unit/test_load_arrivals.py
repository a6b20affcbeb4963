"""The open model's shared schedule, as a worker's recorder keeps it (times are passed in:
no clock, no locust): runs spread over every second, claimed by whichever user is free,
dropped when no user is, and counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from chaoskit.load._locust.arrivals import AGE_SAMPLE, CATCH_UP_LIMIT, Arrivals, PooledSchedule
from chaoskit.load._locust.recorder import SecondRecorder
from chaoskit.slo.seconds import SecondStats


def alive() -> bool:
    return True


def joined(
    recorder: SecondRecorder,
    arrivals: Arrivals,
    now: float,
    *,
    count: int = 1,
    alive: Callable[[], bool] = alive,
) -> list[PooledSchedule]:
    """``count`` users locust started (not the pool), joined to ``arrivals`` at ``now``."""
    users = [PooledSchedule(recorder, arrivals, alive=alive) for _ in range(count)]
    for user in users:
        arrivals.join(now, user)
    return users


def shipped(recorder: SecondRecorder, now: float) -> dict[int, SecondStats]:
    return {s.second: s for s in recorder.drain(now=now).seconds}


def test_users_joining_together_spread_the_rate_over_every_second() -> None:
    # 50 users at one run every 5 s each: 10 runs a second, not 50 in the first second.
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=5.0)
    users = joined(recorder, arrivals, 100.0, count=50)
    claimed = [100.0 + user.first_wait(100.0) for user in users]
    assert Counter(int(due) for due in claimed) == {100: 10, 101: 10, 102: 10, 103: 10, 104: 10}


def test_a_free_user_takes_the_oldest_run_and_a_late_one_is_queued() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=1.0)
    first, second = joined(recorder, arrivals, 10.0, count=2)  # a run every 0.5 s
    assert first.first_wait(10.0) == 0.0 and second.first_wait(10.0) == 0.5
    first.start(10.0)
    assert first.request(10.0) == 10.0
    # The first user is back at 11.2: the run due at 11.0 waited for it.
    assert first.wait(11.2) == 0.0
    first.start(11.2)
    assert first.request(11.2) == 11.0
    recorder.stop_schedules(11.3)
    assert shipped(recorder, 20.0)[11].queued == 1


def test_runs_no_user_was_free_for_are_dropped_expected_and_never_sent() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.1)
    [user] = joined(recorder, arrivals, 10.0)
    user.first_wait(10.0)
    user.start(10.0)
    user.request(10.0)
    # The user is stuck until 12.0: the 19 runs due from 10.1 to before 12.0 find no one.
    assert arrivals.drop_due(12.0) == 19
    user.close(12.0)
    arrivals.close(12.0)
    seconds = shipped(recorder, 20.0)
    assert [(s.expected, s.sent, s.dropped) for s in seconds.values()] == [(10, 1, 9), (10, 0, 10)]
    assert seconds[11].demand == 10 and seconds[11].missing == 10


def test_a_run_handed_to_a_new_pool_user_is_not_queued() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=1.0)
    [busy] = joined(recorder, arrivals, 10.0)
    busy.first_wait(10.0)
    busy.start(10.0)
    due = arrivals.claim(11.003)
    assert due == 11.0
    added = PooledSchedule(recorder, arrivals, alive=alive)
    added.hand(due)
    added.start(11.004)  # made and started 4 ms late: the generator's, not a queue
    assert added.request(11.004) == 11.004
    recorder.stop_schedules(11.5)
    assert shipped(recorder, 20.0)[11].queued == 0


def test_the_watermark_waits_for_unclaimed_runs_and_a_stop_misses_them() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.5)
    joined(recorder, arrivals, 10.0)
    assert recorder.watermark(12.3) == 10.0  # the run due at 10.0 is neither sent nor dropped
    recorder.stop_schedules(11.0)
    assert shipped(recorder, 12.3)[10].expected == 2


def test_the_age_of_runs_in_progress_is_that_of_locusts_users_not_the_pools() -> None:
    # How long the target has held the class's users: the pool's new users, each starting
    # a run the moment it is made, would make a stalled target look quick.
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.1)
    started = joined(recorder, arrivals, 100.0, count=2)
    for user in started:
        user.first_wait(100.0)
        user.start(100.05)
    for _ in range(50):  # the pool adds users while the target holds both
        added = PooledSchedule(recorder, arrivals, alive=alive)
        added.hand(100.4)
        added.start(100.4)
    assert abs(arrivals.mean_run_age(100.45) - 0.4) < 1e-9
    started[0].wait(100.5)  # one is answered and waits for its next run
    assert abs(arrivals.mean_run_age(100.5) - 0.45) < 1e-9
    started[1].wait(100.6)
    assert arrivals.mean_run_age(100.6) == 0.0


def test_a_user_that_ended_inside_a_run_or_was_stopped_leaves_the_age() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.1)
    users = joined(recorder, arrivals, 100.0, count=2)
    # One raised StopUser mid-run.
    dead = joined(recorder, arrivals, 100.0, alive=lambda: False)[0]
    for user in (*users, dead):
        user.first_wait(100.0)
        user.start(100.0)
    assert abs(arrivals.mean_run_age(100.5) - 0.5) < 1e-9
    users[0].close(100.6)  # stopped while its run was in progress
    users[1].wait(100.6)
    # Only the dead user's run is left, and it is dropped when next looked at.
    assert arrivals.mean_run_age(105.0) == 0.0


def test_a_run_handed_to_a_new_user_and_not_started_at_the_stop_is_missed() -> None:
    # It found every user busy (the target held them): a stop before it started misses it.
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=1.0)
    joined(recorder, arrivals, 100.0)
    due = arrivals.claim(100.4)  # as the pool takes it
    assert due is not None
    added = PooledSchedule(recorder, arrivals, alive=lambda: False)
    recorder.track(added)
    added.hand(due)
    recorder.stop_schedules(100.5)
    stats = shipped(recorder, 110.0)[100]
    assert (stats.expected, stats.missing) == (1, 1)


def both_users_busy(arrivals: Arrivals, recorder: SecondRecorder) -> PooledSchedule:
    """Two users, a run every 0.5 s from 10.0: both in their first runs from 10.5 on, and
    the first back at 11.06, when the run due at 11.0 is still unclaimed. Returns it."""
    first, second = joined(recorder, arrivals, 10.0, count=2)
    for user, due in ((first, 10.0), (second, 10.5)):
        user.first_wait(10.0)
        user.start(due)
        user.request(due)
    first.wait(11.06)
    first.start(11.06)
    return first


def test_a_run_overdue_because_the_worker_was_paused_is_its_lateness_not_a_queue() -> None:
    # The dispatcher meant to wake at 11.002 to give the run due at 11.0 to a new user; the
    # worker was paused and it had not woken by 11.06.
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=1.0)
    arrivals.has_room = lambda: True
    arrivals.dispatcher_wakes_at = 11.002
    first = both_users_busy(arrivals, recorder)
    # Intended when sent, as for a user woken late: the lateness is the generator's lag.
    assert first.request(11.06) == 11.06
    recorder.stop_schedules(11.2)
    stats = shipped(recorder, 20.0)[11]
    assert (stats.expected, stats.sent, stats.queued) == (1, 1, 0)
    assert stats.valid  # 60 ms late: below the lag limit


def test_a_run_overdue_while_the_worker_kept_time_waited_for_its_user() -> None:
    # The pool full, or the dispatcher awake on time (it chose not to add a user: the
    # target keeps them busy for less long than the worker's own lateness explains).
    for has_room, wakes_at in ((False, 11.002), (True, 11.058)):
        recorder = SecondRecorder(grace=30.0)
        arrivals = Arrivals(recorder, per_user_interval=1.0)
        arrivals.has_room = lambda has_room=has_room: has_room
        arrivals.dispatcher_wakes_at = wakes_at
        first = both_users_busy(arrivals, recorder)
        assert first.request(11.06) == 11.0  # the target kept the users: the wait counts
        recorder.stop_schedules(11.2)
        assert shipped(recorder, 20.0)[11].queued == 1


def test_runs_dropped_while_the_worker_was_behind_are_its_loss_and_void_their_second() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.1)
    arrivals.has_room = lambda: True
    [user] = joined(recorder, arrivals, 10.0)
    user.first_wait(10.0)
    user.start(10.0)
    user.request(10.0)
    # The user is busy; the runs due from 10.1 on found no one: the dispatcher, meant to
    # wake at 10.102, was kept from them until 10.45.
    arrivals.dispatcher_wakes_at = 10.102
    assert arrivals.worker_behind(10.45)
    assert arrivals.drop_due(10.45, behind=True) == 4
    user.close(10.5)
    arrivals.close(10.5)  # nothing else was due before the stop
    stats = shipped(recorder, 20.0)[10]
    assert (stats.expected, stats.sent, stats.dropped, stats.missing) == (5, 1, 0, 5)
    assert not stats.valid
    assert "load generator fell behind: 4 task runs found no free user" in stats.invalid
    assert 340 < stats.lag_ms < 360  # the first dropped run was due 350 ms before


def test_a_drop_while_the_worker_was_behind_voids_only_its_own_second() -> None:
    # Second 10's request is still in flight when the worker falls behind in second 11: the
    # runs it dropped delayed nothing of second 10's.
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=1.0)
    arrivals.has_room = lambda: True
    users = joined(recorder, arrivals, 10.0, count=2)  # a run every 0.5 s, two claimed
    for user in users:
        user.first_wait(10.0)
    users[0].start(10.0)
    slow = recorder.send(now=10.0)
    assert arrivals.drop_due(11.7, behind=True) == 2  # 11.0 and 11.5
    slow.answered, slow.done = True, 12.0
    recorder.finished.append(slow)
    recorder.stop_schedules(12.1)
    seconds = shipped(recorder, 20.0)
    assert seconds[10].valid and not seconds[11].valid


def test_at_a_stop_unclaimed_runs_are_missed_and_the_worker_s_void_their_second() -> None:
    # Runs 10.0 to 10.4 found every user busy; the stop at 10.401 came within the pool's
    # slack of the last, which is not counted.
    for wakes_at, valid in ((10.401, True), (10.1, False)):
        recorder = SecondRecorder(grace=30.0)
        arrivals = Arrivals(recorder, per_user_interval=0.1)
        arrivals.has_room = lambda: True
        arrivals.dispatcher_wakes_at = wakes_at
        joined(recorder, arrivals, 10.0)
        recorder.stop_schedules(10.401)
        stats = shipped(recorder, 20.0)[10]
        assert (stats.missing, stats.dropped, stats.valid) == (4, 0, valid)


def test_the_worker_is_behind_for_as_long_again_as_its_dispatcher_was_late() -> None:
    # Woken 40 ms late, the dispatcher dropped the runs due meanwhile as the worker's; its
    # users then work off the runs the pause left them, and a run that finds them all busy
    # 6 ms later is the worker's doing too. Once caught up, runs are the target's again.
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.1)
    arrivals.has_room = lambda: True
    arrivals.dispatcher_wakes_at = 10.0
    assert arrivals.dispatcher_woke(10.04) == pytest.approx(0.04)
    arrivals.dispatcher_wakes_at = 10.045  # it naps, then wakes on time
    assert arrivals.dispatcher_woke(10.046) == pytest.approx(0.001)
    assert arrivals.worker_behind(10.046)
    arrivals.dispatcher_wakes_at = 10.08
    assert arrivals.dispatcher_woke(10.081) == pytest.approx(0.001)
    assert not arrivals.worker_behind(10.081)
    arrivals.dispatcher_wakes_at = 10.045
    arrivals.has_room = lambda: False  # at the cap, runs no user is free for are dropped
    assert not arrivals.worker_behind(10.046)


def test_with_many_users_the_age_comes_from_a_sample_that_goes_round_them_all() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=100.0)
    users = joined(recorder, arrivals, 100.0, count=3 * AGE_SAMPLE)
    for index, user in enumerate(users):
        user.first_wait(100.0)
        user.start(100.0 if index % 2 else 100.4)  # every other run began 0.4 s later
    # Each sample holds as many of either: its mean is the mean of all.
    assert [round(arrivals.mean_run_age(100.5), 9) for _ in range(4)] == [0.3] * 4
    for user in users[AGE_SAMPLE:]:
        user.wait(100.6)  # answered: out of their runs
    ages = [round(arrivals.mean_run_age(100.6), 9) for _ in range(3)]
    assert sorted(ages) == [0.0, 0.0, 0.4]  # the sample went round to those still in runs


def test_catching_up_is_never_cut_short_by_a_later_wake_and_never_lasts_long() -> None:
    recorder = SecondRecorder(grace=30.0)
    arrivals = Arrivals(recorder, per_user_interval=0.1)
    arrivals.has_room = lambda: True
    arrivals.dispatcher_wakes_at = 10.92
    arrivals.dispatcher_woke(11.0)  # 80 ms late: catching up until 11.08
    arrivals.dispatcher_wakes_at = 11.005
    arrivals.dispatcher_woke(11.02)  # 15 ms late again, which alone would end at 11.035
    arrivals.dispatcher_wakes_at = 11.05
    assert arrivals.worker_behind(11.05)
    # A pause of seconds excuses at most CATCH_UP_LIMIT after it: a target slow meanwhile
    # keeps its queue and its drops.
    arrivals.dispatcher_wakes_at = 20.0
    arrivals.dispatcher_woke(25.0)
    arrivals.dispatcher_wakes_at = 25.0 + CATCH_UP_LIMIT
    assert arrivals.worker_behind(25.0 + CATCH_UP_LIMIT - 0.001)
    assert not arrivals.worker_behind(25.0 + CATCH_UP_LIMIT + 0.001)
