"""The fault proxy's counts per instance and second (system/instance_counts.py): what one
tally keeps, how long, and what reading them returns."""

from __future__ import annotations

from chaoskit.providers.local.system.instance_counts import (
    NO_ANSWER,
    WINDOW_SECONDS,
    InstanceCounts,
    injected,
)
from chaoskit.slo.instances import totals

T0 = 1_800_000_000.0


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_requests_errors_and_latency_count_by_the_second_the_request_started() -> None:
    counts = InstanceCounts(clock=_Clock())
    tally = counts.register("i-a")
    tally.connected(T0)
    for _ in range(9):
        tally.answered(T0 + 0.2, 0.004, "200")
    tally.answered(T0 + 0.9, 0.250, "503")  # ends in the next second, counts in this one
    tally.answered(T0 + 0.5, 0.004, "404")  # a client error is not the instance's
    tally.failed(T0 + 1.1, injected(503))
    tally.failed(T0 + 1.2, NO_ANSWER)

    [instance] = counts.read(T0, T0 + 5, started={"i-a": T0 - 60})
    assert instance.id == "i-a" and instance.started_at == T0 - 60 and instance.gone_at is None
    first, second = instance.seconds
    assert (first.second, first.connections, first.requests) == (int(T0), 1, 11)
    assert first.errors == {"HTTP 503": 1}
    assert second.requests == 2
    assert second.errors == {"HTTP 503 (injected)": 1, NO_ANSWER: 1}
    assert not second.latency  # neither was answered by the instance
    summed = totals(instance.seconds)
    assert summed.answered == 11
    assert abs((summed.percentile_ms(50) or 0) - 4) <= 0.04 * 4
    assert abs((summed.percentile_ms(99) or 0) - 250) <= 0.04 * 250


def test_a_tally_keeps_the_last_window_of_seconds_only() -> None:
    counts = InstanceCounts(clock=_Clock())
    tally = counts.register("i-a")
    for offset in range(3 * WINDOW_SECONDS):
        tally.answered(T0 + offset, 0.001, "200")
        assert len(tally.seconds) <= WINDOW_SECONDS + 2
    newest = T0 + 3 * WINDOW_SECONDS - 1
    kept = counts.read(T0, newest, started={})[0].seconds
    assert kept[0].second >= newest - WINDOW_SECONDS - 1 and kept[-1].second == int(newest)
    # A late answer to a request older than the window is not kept either.
    tally.answered(T0, 0.001, "200")
    assert counts.read(T0, T0 + 10, started={})[0].seconds == ()


def test_an_upstream_gone_longer_than_the_window_is_forgotten_when_another_joins() -> None:
    clock = _Clock()
    counts = InstanceCounts(clock=clock)
    counts.register("i-old").answered(T0, 0.001, "200")
    counts.removed("i-old")
    clock.now += 10
    counts.register("i-new")
    ids = [i.id for i in counts.read(T0, clock.now, started={})]
    assert ids == ["i-old", "i-new"]
    gone = counts.read(T0, clock.now, started={})[0]
    assert gone.gone_at == T0 and gone.started_at == T0  # known from when it joined
    # Read after it left: not there; once the window has passed, forgotten altogether.
    assert [i.id for i in counts.read(T0 + 5, clock.now, started={})] == ["i-new"]
    clock.now += WINDOW_SECONDS
    counts.register("i-newer")
    assert counts.tally("i-old") is None
    assert counts.tally("i-new") is not None
