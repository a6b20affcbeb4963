"""One hour at 1,000 requests per second through the recording path: does memory stay flat?

Replays 3.6 million synthetic requests (log-normal latencies around 5 ms, 1% failures)
through what a worker does on the scheduled path (100 users at 10 task runs per second, each
run a ``wait``/``start``/``request`` on its ``UserSchedule`` and a ``Stamp`` handed to the
recorder, as the client wrapper does; the lag
probe waking every 50 ms; every minute 10 users leave and 10 new ones start; per-second
histograms drained every second and encoded for the wire; each request named after one of
four endpoints, counted per second beside the totals) and what the pytest process does
(the driver's store of shipped seconds, ``collect`` over the whole hour, and the merge of
that hour into one window). RSS
is read before and after; the baseline is the same process before any request.

    python bench/memory.py
"""

from __future__ import annotations

import gc
import itertools
import json
import random
import time

import _support
import psutil

from chaoskit.load._locust.lag import PROBE_INTERVAL
from chaoskit.load._locust.recorder import SecondRecorder, Stamp, UserSchedule
from chaoskit.load._measurements import Measurements
from chaoskit.slo.seconds import merge_seconds

SECONDS = 3600
USERS = 100
RATE = 1000
START = 1_800_000_000
CHURN = 10  # users replaced every minute
# Each request's locust name, in turn: the endpoints counted per second beside the totals.
ENDPOINTS = ("/", "/product", "/cart", "/checkout")


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    print(f"machine: {_support.machine()}")
    rng = random.Random(7)
    recorder = SecondRecorder(grace=22.0)
    store = Measurements()
    baseline = rss_mb()
    began = time.perf_counter()
    peak_worker = 0.0
    gone: set[int] = set()  # users whose greenlets ended

    def new_user() -> tuple[int, UserSchedule]:
        number = next(numbers)
        return number, recorder.schedule(USERS / RATE, alive=lambda: number not in gone)

    numbers = itertools.count()
    leaving: list[tuple[int, UserSchedule]] = []
    users = [new_user() for _ in range(USERS)]
    probe_due = float(START)
    for offset in range(SECONDS):
        second = START + offset
        if offset % 60 == 59:
            for _, user in users[:CHURN]:
                user.close(second)
            leaving = users[:CHURN]
            users = users[CHURN:] + [new_user() for _ in range(CHURN)]
        elif leaving:
            gone.update(number for number, _ in leaving)
            leaving = []
        for index, (_, user) in enumerate(users):
            now = second + index / RATE
            for _ in range(RATE // USERS):
                recorder.flush()  # as the worker's wait_time does
                now += user.wait(now)
                user.start(now)
                stamp = Stamp(intended=user.request(now), sent=now, answered=True)
                stamp.name = ENDPOINTS[index % len(ENDPOINTS)]
                if rng.random() < 0.01:
                    stamp.failure = "HTTP 503"
                now += rng.lognormvariate(1.6, 0.5) / 1000
                stamp.done = now
                recorder.finished.append(stamp)
        while probe_due < second + 1.0:
            recorder.lag.probe_sleeping(probe_due + PROBE_INTERVAL)
            woke = probe_due + PROBE_INTERVAL + 0.0007
            recorder.lag.probe_woke(
                due=probe_due + PROBE_INTERVAL, now=woke, cpu_seconds=0.02, wall=woke - probe_due
            )
            probe_due = woke
        batch = recorder.drain(now=second + 1.5)
        wire = json.loads(json.dumps([s.to_json() for s in batch.seconds]))
        store.add("worker-1", batch.watermark, wire)
        if offset % 600 == 599:
            now = rss_mb()
            peak_worker = max(peak_worker, now)
            print(
                f"  {offset + 1:5d} s replayed: RSS {now:7.1f} MiB "
                f"(+{now - baseline:.1f}), {time.perf_counter() - began:.0f} s"
            )
    recorded = rss_mb()
    seconds = store.seconds(START, START + SECONDS)
    collected = rss_mb()
    window = merge_seconds(seconds)
    p99 = window.latency_us.get_value_at_percentile(99) / 1000
    counts = f"expected {window.expected}, sent {window.sent}, completed {window.completed}"
    invalid = sum(not s.valid for s in seconds)
    merged = rss_mb()
    shipped, sent = len(seconds), window.sent
    del seconds, window
    print(f"hour: {counts}; p99 {p99:.2f} ms; invalid seconds {invalid}")
    print(
        f"RSS: baseline {baseline:.1f} MiB, after recording {recorded:.1f}, after collect "
        f"{collected:.1f}, after the window merge {merged:.1f} MiB"
    )
    growth = max(recorded, collected, merged) - baseline
    print(
        _support.bench_line(
            "memory",
            rss_growth_mb=growth,
            recording_growth_mb=recorded - baseline,
            collect_growth_mb=collected - recorded,
            requests=sent,
            seconds_shipped=shipped,
            endpoints=len(ENDPOINTS),
            seconds_taken=time.perf_counter() - began,
        )
    )


if __name__ == "__main__":
    main()
