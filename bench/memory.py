"""One hour at 1,000 requests per second through the recording path: does memory stay flat?

Replays 3.6 million synthetic requests (log-normal latencies around 5 ms, 1% failures)
through what a worker does (``SecondRecorder``: per-second histograms, drained every second
and encoded for the wire) and what the pytest process does (the driver's store of shipped
seconds, ``collect`` over the whole hour, and the merge of that hour into one window). RSS
is read before and after; the baseline is the same process before any request.

    python bench/memory.py
"""

from __future__ import annotations

import gc
import json
import random
import time

import _support
import psutil

from chaoskit.load._recorder import SecondRecorder
from chaoskit.load.driver import _Measurements
from chaoskit.slo.seconds import merge_seconds

SECONDS = 3600
RATE = 1000
START = 1_800_000_000


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    print(f"machine: {_support.machine()}")
    rng = random.Random(7)
    recorder = SecondRecorder(grace=22.0)
    store = _Measurements()
    baseline = rss_mb()
    began = time.perf_counter()
    peak_worker = 0.0
    for offset in range(SECONDS):
        second = START + offset
        for index in range(RATE):
            start = second + index / RATE
            if rng.random() < 0.01:
                recorder.record_failure(start_time=start, reason="HTTP 503")
            else:
                recorder.record_ok(start_time=start, latency_ms=rng.lognormvariate(1.6, 0.5))
        batch = recorder.drain(now=second + 1.0)
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
    merged = rss_mb()
    del seconds, window
    print(f"hour: {SECONDS * RATE} requests; p99 {p99:.2f} ms")
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
            requests=SECONDS * RATE,
            seconds_taken=time.perf_counter() - began,
        )
    )


if __name__ == "__main__":
    main()
