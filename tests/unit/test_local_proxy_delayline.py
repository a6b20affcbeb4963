"""The delayed-chunk schedule of the local proxy's latency fault."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from chaoskit.providers.local.system.delayline import DelayLine
from chaoskit.providers.local.system.link import sample_latency
from chaoskit.vocabulary import NetworkFault


def test_each_chunk_is_due_at_its_own_arrival_plus_delay_not_behind_the_previous_delay():
    line = DelayLine()
    # Three packets of one response, 10 ms apart, under a 200 ms fault.
    for arrival in (0.000, 0.010, 0.020):
        line.push(f"{arrival}".encode(), due=arrival + 0.200)

    assert line.pop_due(0.199) == []
    assert line.pop_due(0.200) == [b"0.0"]
    assert line.pop_due(0.215) == [b"0.01"]
    assert line.pop_due(0.220) == [b"0.02"]
    assert len(line) == 0


def test_a_chunk_due_before_its_predecessor_waits_for_it():
    line = DelayLine()
    line.push(b"first", due=0.230)  # 200 ms + 30 ms of jitter
    line.push(b"second", due=0.180)  # 200 ms - 20 ms of jitter, arrived 10 ms later

    assert line.pop_due(0.200) == []
    assert line.pop_due(0.230) == [b"first", b"second"]


def test_a_chunk_without_delay_still_queues_behind_delayed_ones():
    line = DelayLine()
    line.push(b"scheduled before the fault was removed", due=0.300)
    line.push(b"arrived after removal", due=0.150)

    assert line.next_due == 0.300
    assert line.pop_due(0.150) == []
    assert line.pop_due(0.300) == [
        b"scheduled before the fault was removed",
        b"arrived after removal",
    ]


def test_queued_bytes_follow_pushes_pops_and_clear():
    line = DelayLine()
    line.push(b"abc", due=1.0)
    line.push(b"defg", due=2.0)
    assert line.queued_bytes == 7
    line.pop_due(1.0)
    assert line.queued_bytes == 4
    line.clear()
    assert (line.queued_bytes, len(line), line.next_due) == (0, 0, None)


arrivals_and_delays = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=0.5, allow_nan=False),
        st.floats(min_value=0, max_value=1.0, allow_nan=False),
    ),
    max_size=40,
)


@given(arrivals_and_delays, st.lists(st.floats(min_value=0, max_value=3), max_size=10))
def test_chunks_leave_in_arrival_order_and_never_before_they_are_due(steps, polls):
    line = DelayLine()
    arrival = 0.0
    due_of: dict[bytes, float] = {}
    for index, (gap, delay) in enumerate(steps):
        arrival += gap
        chunk = str(index).encode()
        due_of[chunk] = arrival + delay
        line.push(chunk, due=arrival + delay)

    released: list[bytes] = []
    for now in [*sorted(polls), float("inf")]:
        for chunk in line.pop_due(now):
            assert due_of[chunk] <= now
            released.append(chunk)

    assert released == [str(index).encode() for index in range(len(steps))]


@given(
    delay=st.floats(min_value=0, max_value=5, allow_nan=False),
    share=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_latency_samples_stay_within_delay_plus_or_minus_jitter_and_never_negative(
    delay, share, seed
):
    jitter = delay * share
    fault = NetworkFault(kind="latency", delay=delay, jitter=jitter)
    sample = sample_latency([fault], random.Random(seed))
    assert max(0.0, delay - jitter) <= sample <= delay + jitter
