"""The worker's per-second recorder: keyed by start second, shipped below the watermark."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit.load._locust.recorder import SecondRecorder, Stamp, failure_reason
from chaoskit.load._locust.task_failures import MAX_MESSAGE, TaskFailureReasons


def test_requests_belong_to_the_second_they_started_in() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.99, latency_ms=150.0)  # completes in second 101
    recorder.record_failure(start_time=101.2, reason="HTTP 500")
    batch = recorder.drain(now=102.5)
    assert batch.watermark == 102.0
    assert [(s.second, s.ok, s.failed) for s in batch.seconds] == [
        (100, 1, {}),
        (101, 0, {"HTTP 500": 1}),
    ]
    assert batch.seconds[0].latency_us.get_value_at_percentile(50) == 150_015  # 3 digits


def finish(recorder: SecondRecorder, stamp: Stamp, *, done: float) -> None:
    """What the client wrapper and locust's request event do when a request succeeds."""
    stamp.answered, stamp.done = True, done
    recorder.finished.append(stamp)


def test_the_current_second_is_not_shipped_until_it_is_over() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.1, latency_ms=1.0)
    assert recorder.drain(now=100.9).seconds == ()
    assert [s.second for s in recorder.drain(now=101.0).seconds] == [100]


def test_finished_requests_are_recorded_before_anything_is_shipped() -> None:
    recorder = SecondRecorder(grace=20.0)
    ok = recorder.send(100.2)  # without a schedule
    ok.answered = True
    failed = Stamp(intended=100.4, sent=100.4, answered=True, failure="HTTP 503")
    recorder.sent(failed.intended)  # a scheduled request is counted by its schedule
    raised = recorder.send(100.6)  # raised before locust's request event
    for stamp, done in ((ok, 100.205), (failed, 100.5), (raised, 100.7)):
        stamp.done = done
        recorder.finished.append(stamp)
    # The bracket ends when the stamp is flushed: the second is complete.
    [stats] = recorder.drain(now=101.5).seconds
    assert (stats.expected, stats.sent, stats.ok, stats.failed) == (3, 3, 1, {"HTTP 503": 1})
    assert stats.latency_us.get_value_at_percentile(100) == pytest.approx(5_000, rel=1e-3)
    assert recorder.drain(now=102.5).seconds == ()  # nothing twice
    assert recorder.brackets_trusted


def test_an_answer_after_the_call_returned_is_recorded_once_whenever_it_comes() -> None:
    # A catch_response block: the call returns, then the block ends and locust's request
    # event fires, before or after the next flush; or it never fires (the call raised).
    for answered in ("before flush", "after flush", "never"):
        recorder = SecondRecorder(grace=20.0)
        stamp = recorder.send(100.2)
        stamp.done = 100.3  # the call returned, the user's checks follow
        recorder.finished.append(stamp)
        if answered == "after flush":
            recorder.flush()
        if answered != "never":
            recorder.answer(stamp, None, response_time=0.004)
        [stats] = recorder.drain(now=102.0).seconds
        expected_ok = 0 if answered == "never" else 1
        assert (stats.sent, stats.ok) == (1, expected_ok), answered
        if expected_ok:  # when the response came, not when the checks were done
            assert stats.latency_us.get_value_at_percentile(100) == pytest.approx(4_000, rel=1e-3)
        assert recorder.drain(now=103.0).seconds == (), answered


def test_a_request_in_flight_holds_the_watermark_back() -> None:
    recorder = SecondRecorder(grace=20.0)
    slow = recorder.send(now=100.5)
    recorder.record_ok(start_time=100.2, latency_ms=1.0)
    batch = recorder.drain(now=103.0)
    assert (batch.watermark, batch.seconds) == (100.0, ())
    finish(recorder, slow, done=102.9)
    batch = recorder.drain(now=103.0)
    assert batch.watermark == 103.0
    assert [(s.second, s.ok) for s in batch.seconds] == [(100, 2)]
    assert recorder.brackets_trusted


def test_a_second_held_back_by_a_request_in_flight_is_offered_partially_meanwhile() -> None:
    recorder = SecondRecorder(grace=20.0)
    slow = recorder.send(now=100.5)
    recorder.record_ok(start_time=100.2, latency_ms=900.0)
    assert recorder.drain(now=100.9).partial == ()  # the second is not over yet
    batch = recorder.drain(now=101.5)
    assert batch.seconds == ()
    [partial] = batch.partial
    assert (partial.second, partial.ok) == (100, 1)
    assert partial.latency_us.get_value_at_percentile(50) == pytest.approx(900_000, rel=1e-3)
    # Snapshots, not shipments: the complete second still comes once, with both requests.
    finish(recorder, slow, done=102.5)
    batch = recorder.drain(now=103.0)
    assert batch.partial == ()
    assert [(s.second, s.ok) for s in batch.seconds] == [(100, 2)]


def test_a_late_request_is_shipped_again_and_the_watermark_turns_conservative() -> None:
    recorder = SecondRecorder(grace=5.0)
    recorder.record_ok(start_time=100.2, latency_ms=1.0)
    assert [s.second for s in recorder.drain(now=102.0).seconds] == [100]
    # A client the brackets did not see reports a request that started in a shipped second.
    recorder.record_ok(start_time=100.7, latency_ms=1500.0)
    assert not recorder.brackets_trusted
    batch = recorder.drain(now=103.0)
    # Late additions still go out (receivers add them up); the watermark does not go back.
    assert [(s.second, s.ok) for s in batch.seconds] == [(100, 1)]
    assert batch.watermark == 102.0
    recorder.record_ok(start_time=104.0, latency_ms=1.0)
    assert recorder.drain(now=108.5).watermark == 103.0  # now - grace, floored
    assert [s.second for s in recorder.drain(now=110.0).seconds] == [104]


def test_restored_seconds_are_shipped_next_time_without_counting_as_late() -> None:
    recorder = SecondRecorder(grace=20.0)
    recorder.record_ok(start_time=100.2, latency_ms=1.0)
    unsent = recorder.drain(now=101.0).seconds
    recorder.restore(unsent)
    assert recorder.brackets_trusted
    assert [(s.second, s.ok) for s in recorder.drain(now=101.5).seconds] == [(100, 1)]


@given(
    events=st.lists(
        st.tuples(st.floats(min_value=0, max_value=50), st.booleans(), st.floats(0, 100)),
        max_size=60,
    ),
    drains=st.lists(st.floats(min_value=0, max_value=60), max_size=8),
)
def test_nothing_is_lost_or_counted_twice(
    events: list[tuple[float, bool, float]], drains: list[float]
) -> None:
    recorder = SecondRecorder(grace=3.0)
    shipped = []
    for index, (start, ok, latency) in enumerate(events):
        if ok:
            recorder.record_ok(start_time=start, latency_ms=latency)
        else:
            recorder.record_failure(start_time=start, reason="TimeoutError")
        if index < len(drains):
            shipped.extend(recorder.drain(now=drains[index]).seconds)
    shipped.extend(recorder.drain(now=1_000.0).seconds)
    assert sum(s.completed for s in shipped) == len(events)
    assert sum(s.latency_us.get_total_count() for s in shipped) == sum(ok for _, ok, _ in events)


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class RetriesExceeded(Exception):
    def __init__(self, original: BaseException) -> None:
        super().__init__("http://10.0.0.7/orders/1234 retries exceeded")
        self.original = original


def test_failure_reasons_are_short_and_carry_no_message() -> None:
    assert failure_reason(Exception("503 on /orders/1234"), _Response(503).status_code) == (
        "HTTP 503"
    )
    assert failure_reason(ConnectionRefusedError("10.0.0.7:80"), 0) == "ConnectionRefusedError"
    assert failure_reason(RetriesExceeded(TimeoutError("timed out")), None) == "TimeoutError"
    assert failure_reason("something odd", None) == "Failure"
    # A user's own check can fail a 200 response: the exception names it.
    assert failure_reason(ValueError("bad body for id 42"), 200) == "ValueError"


def test_a_task_run_that_raises_is_a_failure_in_its_runs_second() -> None:
    recorder = SecondRecorder(grace=20.0)
    schedule = recorder.schedule(5.0, alive=lambda: False)
    schedule.start(100.2)
    recorder.run_raised(schedule, "ValueError", now=101.1)  # a run intended in second 100
    recorder.run_raised(None, "KeyError", now=101.3)  # a user without a schedule
    schedule.close(101.5)
    seconds = recorder.drain(now=103.0).seconds
    assert [(s.second, s.expected, s.sent, s.ok, s.failed) for s in seconds] == [
        (100, 1, 1, 0, {"ValueError": 1}),
        (101, 1, 1, 0, {"KeyError": 1}),
    ]


def test_a_raising_task_is_counted_under_its_exception_and_message() -> None:
    reasons = TaskFailureReasons()
    # The locustfile says what is wrong: the class alone would not.
    assert reasons.reason(ValueError("the backend config is missing key XYZ")) == (
        "ValueError: the backend config is missing key XYZ"
    )
    assert reasons.reason(AssertionError("unexpected\n  body")) == "AssertionError: unexpected body"
    assert reasons.reason(RetriesExceeded(TimeoutError("timed out"))) == "TimeoutError: timed out"
    assert reasons.reason(KeyError()) == "KeyError"  # no message: the class alone


def test_the_causes_of_raising_tasks_stay_few() -> None:
    reasons = TaskFailureReasons(most=3)
    # Ids in a message do not make every run its own cause.
    assert {reasons.reason(LookupError(f"order {n} not found")) for n in range(1000, 1500)} == {
        "LookupError: order <id> not found"
    }
    assert reasons.reason(LookupError("request 0f1e2d3c4b5a failed")) == (
        "LookupError: request <id> failed"
    )
    long = reasons.reason(RuntimeError("x" * 500))
    assert long.startswith("RuntimeError: xxx") and long.endswith("…")
    assert len(long) <= len("RuntimeError: ") + MAX_MESSAGE
    # Past the limit of distinct messages, new ones are counted under their class alone,
    # and those already kept keep their key.
    assert reasons.reason(RuntimeError("something new")) == "RuntimeError"
    assert reasons.reason(LookupError("order 99999 not found")) == (
        "LookupError: order <id> not found"
    )


def test_a_request_a_stop_killed_as_it_was_sent_is_not_counted_unlike_one_the_target_held() -> None:
    recorder = SecondRecorder(grace=20.0)
    held = recorder.send(100.2)  # in flight when the load is told to stop, at 100.5
    recorder.stop_schedules(100.5)
    woke = recorder.send(100.6)  # a user the stop was killing sent as it woke
    for stamp in (held, woke):
        stamp.withdrawn = True  # both killed unanswered by the stop
        recorder.finished.append(stamp)
    seconds = recorder.drain(now=130.0).seconds
    # The target held the first: still missing. It never had the second.
    assert [(s.second, s.expected, s.sent, s.completed) for s in seconds] == [(100, 1, 1, 0)]
