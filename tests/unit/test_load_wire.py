"""The load wire: every message survives its line, and a line that is not one is refused
naming the field."""

from __future__ import annotations

import json
import math
import sys

import pytest

from chaoskit.load import _wire
from chaoskit.load._measurements import Measurements
from chaoskit.load._pipes import CoordinatorProcess
from chaoskit.slo.seconds import SecondStats

MESSAGES: list[_wire.Command | _wire.Event] = [
    _wire.Start(
        id=1, users=10, spawn_rate=10.0, rate_per_user=1.5, locust_stats=None, max_users=100
    ),
    _wire.Stop(id=2),
    _wire.Quit(id=3),
    _wire.Ready(port=40123, stop_timeout=22.0, request_timeout=20.0, shape="Steps"),
    _wire.WorkersConnected(ids=("host_1", "host_2")),
    _wire.Ack(id=1, command="start", error="boom"),
    _wire.Seconds(
        worker="host_1",
        batch=_wire.WorkerBatch(
            pid=4242, watermark=1717171717.0, seconds=({"second": 1717171716},), partial=()
        ),
    ),
    _wire.Live(
        worker="host_1",
        live=_wire.WorkerLive(pid=4242, at=1717171718.25, seconds=({"second": 1717171717},)),
    ),
    _wire.CoordinatorFailed(message="no workers"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_its_line(message: _wire.Command | _wire.Event) -> None:
    line = _wire.encode(message)
    assert line.endswith("\n") and "\n" not in line[:-1]
    is_command = isinstance(message, _wire.Start | _wire.Stop | _wire.Quit)
    decode = _wire.decode_command if is_command else _wire.decode_event
    assert decode(line) == message


def test_the_lines_keep_their_shape() -> None:
    assert json.loads(_wire.encode(MESSAGES[0])) == {
        "command": "start",
        "id": 1,
        "users": 10,
        "spawn_rate": 10.0,
        "rate_per_user": 1.5,
        "locust_stats": None,
        "max_users": 100,
    }
    assert json.loads(_wire.encode(MESSAGES[6])) == {
        "event": "seconds",
        "worker": "host_1",
        "pid": 4242,
        "watermark": 1717171717.0,
        "seconds": [{"second": 1717171716}],
        "partial": [],
    }


def test_worker_messages_survive_as_locust_carries_them() -> None:
    schedule = _wire.Schedule(rate_per_user=None, locust_stats=True, max_users=7)
    assert _wire.Schedule.from_json(schedule.to_json()) == schedule
    # msgpack may hand lists over as tuples; an older worker may leave partial out.
    assert _wire.WorkerBatch.from_json(
        {"pid": None, "watermark": 5, "seconds": ({"second": 4},)}
    ) == _wire.WorkerBatch(pid=None, watermark=5.0, seconds=({"second": 4},))


def test_a_line_that_is_not_json_is_not_for_us() -> None:
    assert _wire.decode_event(b"locust printed this\n") is None
    assert _wire.decode_command("[1, 2]") is None


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"command": "dance", "id": 1}', "unknown command 'dance'"),
        ('{"command": "start", "id": 1, "users": "ten", "spawn_rate": 1}', "'users'"),
        ('{"command": "stop"}', "'id' is missing"),
        ('{"command": "start", "id": 1, "users": 1, "spawn_rate": true}', "'spawn_rate'"),
    ],
)
def test_a_bad_command_is_refused_naming_the_field(line: str, match: str) -> None:
    with pytest.raises(_wire.WireError, match=match):
        _wire.decode_command(line)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"event": "party"}', "unknown event 'party'"),
        ('{"event": "workers", "ids": [1]}', "'ids'"),
        ('{"event": "seconds", "worker": "w", "watermark": 1, "seconds": [1]}', "'seconds'"),
        ('{"event": "ready", "port": 1, "stop_timeout": 1}', "'request_timeout' is missing"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(line: str, match: str) -> None:
    with pytest.raises(_wire.WireError, match=match):
        _wire.decode_event(line)


def test_a_shipped_second_with_a_missing_or_bad_field_is_refused_and_nothing_kept() -> None:
    measurements = Measurements()
    good = SecondStats(second=7, ok=1).to_json()
    for bad in ({"second": 7}, {"second": 7, "ok": "many"}, {"second": 7, "ok": 1, "failed": []}):
        with pytest.raises(_wire.WireError, match="a shipped second has a missing or bad field"):
            measurements.add("w", 8.0, [good], [bad])
    assert [(second.second, second.ok) for second in measurements.seconds(7, 8)] == [(7, 0)]
    assert measurements.lagging(["w"], until=8.0) == ["worker w has sent no measurements"]


def test_live_seconds_show_outstanding_requests_and_when_each_worker_last_reported() -> None:
    now = [100.0]
    measurements = Measurements(clock=lambda: now[0])
    measurements.add("a", 50.0, [SecondStats(second=49, ok=3).to_json()])
    snapshot = SecondStats(second=50, ok=2)
    snapshot.in_flight, snapshot.in_flight_age_us = 5, 400_000.0
    now[0] = 101.5
    measurements.add_live("a", [snapshot.to_json()])
    [live] = measurements.seconds(50, 51, partial=True)
    assert (live.ok, live.in_flight, live.in_flight_age_us) == (2, 5, 400_000.0)
    assert measurements.seconds(50, 51)[0].in_flight == 0  # never part of a complete second
    # worker b never reported: as quiet as the measurements are old
    assert measurements.progress(["a"]) == (50.0, 101.5)
    assert measurements.progress(["a", "b"]) == (-math.inf, 100.0)


def test_the_driver_notes_an_unreadable_line_and_reads_on() -> None:
    lines = [
        '{"event": "seconds", "worker": "w", "watermark": 1, "seconds": [{"second": 0}]}\n',
        '{"event": "party"}\n',
        _wire.encode(_wire.CoordinatorFailed(message="no workers")),
    ]
    script = f"import sys; sys.stdout.write({''.join(lines)!r})"
    coordinator = CoordinatorProcess([sys.executable, "-c", script], Measurements())
    coordinator.reap(timeout=30)

    assert coordinator.finished()
    assert coordinator.event(_wire.CoordinatorFailed) == _wire.CoordinatorFailed(
        message="no workers"
    )
    unreadable = [line for line in coordinator.tail() if "unreadable protocol line" in line]
    assert len(unreadable) == 2
    assert "a shipped second has a missing or bad field" in unreadable[0]
    assert "unknown event 'party'" in unreadable[1]


def test_the_cap_on_users_is_split_between_workers_and_adds_up_to_it() -> None:
    assert _wire.shares(10, 3) == [4, 3, 3]
    assert sum(_wire.shares(1001, 4)) == 1001
    assert _wire.shares(None, 2) == [None, None]
