"""When an open-model pool may add users (times and measures are passed in: no clock, no
locust): for a target that holds the users, not for a worker that cannot keep up."""

from __future__ import annotations

from collections.abc import Callable

from chaoskit.load._locust.growth import HELD_AGE, PoolGrowth


def wake(
    growth: PoolGrowth,
    *,
    since: float,
    until: float,
    late: float,
    age: Callable[[float], float],
    keeping_time: bool = True,
) -> list[bool]:
    """The dispatcher wakes every 5 ms from ``since`` to ``until``, ``late`` seconds late,
    seeing runs ``age(now)`` old; whether the pool may grow at each wake."""
    allowed, now = [], since
    while now < until:
        growth.observe(now, late=late, age=age(now))
        allowed.append(growth.allows(now, keeping_time=keeping_time))
        now += 0.005
    return allowed


def test_a_worker_that_cannot_keep_up_does_not_grow_its_pool() -> None:
    # A rate far above what the worker can send: its loop runs 1.5-2.5 ms late, and the
    # users' runs, waiting only on that loop, are 1 to 6 ms old.
    growth = PoolGrowth()
    ages = [0.001, 0.005, 0.0025, 0.006, 0.001, 0.003]
    allowed = []
    for step in range(400):
        late = 0.0015 if step % 2 else 0.0025
        growth.observe(step * 0.005, late=late, age=ages[step % len(ages)])
        allowed.append(growth.allows(step * 0.005, keeping_time=True))
    assert not any(allowed)


def test_a_slow_target_grows_the_pool_while_the_worker_keeps_time() -> None:
    # Every response takes 50 ms: the runs in progress are 25 ms old on average.
    growth = PoolGrowth()
    allowed = wake(growth, since=0.0, until=1.0, late=0.0007, age=lambda now: 0.025)
    assert all(allowed[50:])
    # The same runs, but the lag probe saw the worker busy: not now.
    assert not growth.allows(1.0, keeping_time=False)


def test_a_stalled_target_grows_the_pool_even_with_the_worker_late_and_a_moment_after() -> None:
    growth = PoolGrowth()
    # Stalled from 0.0: the runs age with it, and spawning users makes the worker 8 ms late.
    allowed = wake(growth, since=0.0, until=1.0, late=0.008, age=lambda now: now)
    assert not any(allowed[:20])  # under 100 ms old: not yet told from a busy worker
    assert all(allowed[60:])
    # The target answers again: the runs are young, but it still works through its backlog.
    after = wake(growth, since=1.0, until=1.0 + 2 * HELD_AGE, late=0.008, age=lambda now: 0.002)
    assert after[0] and not after[-1]
