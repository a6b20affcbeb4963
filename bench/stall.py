"""The target stops answering for 2 s under load: are the tail latencies what users saw?

A tiny server on 127.0.0.1 is paused with SIGSTOP for 2 s, 3 s into the load, at two
rates: 10 FastHttpUsers at ``constant_throughput(10)`` (100 requests per second) and 20 at
``constant_throughput(75)`` (1,500, the rate of bench/load.py).

Two truths, neither taken from chaoskit. **Analytic** (the headline): an open-loop client
sending on the configured schedule (users x rate, evenly spread) over the same whole
seconds, where a request intended while the target was stopped waits until it resumed
(latencies uniform from the measured stall length down to 0) and the rest take the normal
latency (the median the users' own timing measured before the stall). **The users' own
timing**: a bench-only locust file times each request around ``self.client.get`` from an
intended time it computes itself (first run plus one interval per run, plus however late
it sent when it was free to); it includes the
queueing behind each user's own overdue requests after the stall, which an open-loop client
would not have. chaoskit's p90/p95/p99 come from its merged per-second histograms. Locust's
own figures come from ``locust --headless`` with the same locust file, users and stall.

    python bench/stall.py
"""

from __future__ import annotations

import csv
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _support

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import merge_seconds
from chaoskit.slo.window import Window

BEFORE, STALL, AFTER = 3.0, 2.0, 4.0
PERCENTILES = (90, 95, 99)


@dataclass(frozen=True, kw_only=True)
class Load:
    users: int
    rate: int  # per user


LOW, HIGH = Load(users=10, rate=10), Load(users=20, rate=75)


def stall(target: _support.Target) -> tuple[float, float]:
    time.sleep(BEFORE)
    stopped = time.time()
    os.kill(target.process.pid, signal.SIGSTOP)
    try:
        time.sleep(STALL)
    finally:
        os.kill(target.process.pid, signal.SIGCONT)
    return stopped, time.time()


def analytic(
    load: Load, first: int, last: int, stopped: float, resumed: float, normal_us: float
) -> list[float]:
    """Open-loop latencies for the configured schedule over seconds [first, last)."""
    rate = load.users * load.rate
    latencies = []
    for index in range((last - first) * rate):
        intended = first + (index + 0.5) / rate
        waited = resumed - intended if stopped <= intended < resumed else 0.0
        latencies.append(waited * 1e6 + normal_us)
    return latencies


def chaoskit_run(load: Load, directory: Path) -> dict[str, float]:
    timed = directory / f"timed-{load.rate}"
    timed.mkdir()
    locustfile = _support.timed_locustfile(timed, rate=load.rate, weight=1)
    with _support.target() as target:
        spec = Locust(locustfile, users=load.users, workers=1)
        with LocustDriver(spec, host=target.url) as driver:
            began = time.time()
            driver.start()
            stopped, resumed = stall(target)
            time.sleep(AFTER)
            driver.stop()
            ended = time.time()
            seconds = driver.collect(began, ended)
    # Whole seconds after the users started and before they stopped.
    first, last = math.ceil(began) + 1, math.floor(ended) - 1
    window = [s for s in seconds if first <= s.second < last]
    merged = merge_seconds(window)
    rows = [r for r in _support.timed_requests(timed) if first <= r.intended < last]
    normal_us = statistics.median(r.latency_us for r in rows if r.intended < stopped)
    truth = analytic(load, first, last, stopped, resumed, normal_us)
    own = [r.latency_us for r in rows]
    invalid = [s for s in window if not s.valid]
    print(
        f"{load.users} users x {load.rate}/s: stall {stopped - began:.2f}..{resumed - began:.2f}"
        f" s after start; seconds {first - int(began)}..{last - 1 - int(began)}: expected "
        f"{merged.expected}, sent {merged.sent}, ok {merged.ok}; users' own count {len(rows)}, "
        f"open-loop {len(truth)}; normal latency {normal_us / 1000:.2f} ms"
    )
    for s in window:
        print(
            f"    second +{s.second - int(began)}: expected {s.expected} ok {s.ok} "
            f"waited for their user {s.queued} (up to {s.queued_max_ms:.0f} ms) "
            f"lag {s.lag_ms:.1f} ms {s.invalid or 'valid'}"
        )
    # What an experiment over these seconds would tell its user.
    note = Window(name="stall", kind="fault", seconds=window).queueing
    print(f"  chaoskit's note: {note or 'no queueing behind users worth a note'}")
    figures: dict[str, float] = {
        "invalid_seconds": len(invalid),
        "queued_pct": 100 * merged.queued / merged.expected,
    }
    for p in PERCENTILES:
        measured = merged.latency_us.get_value_at_percentile(p)
        exact = _support.exact_percentile(truth, p)
        mine = _support.exact_percentile(own, p)
        figures[f"truth_p{p}"] = exact
        figures[f"p{p}_err_pct"] = _support.err_pct(measured, exact)
        figures[f"own_p{p}_err_pct"] = _support.err_pct(measured, mine)
        print(
            f"  p{p}: chaoskit {measured / 1000:8.1f} ms   open-loop {exact / 1000:8.1f} ms "
            f"(error {figures[f'p{p}_err_pct']:.2f}%)   users' own {mine / 1000:8.1f} ms "
            f"(error {figures[f'own_p{p}_err_pct']:.2f}%)"
        )
    return figures


def locust_run(load: Load, directory: Path) -> dict[int, float]:
    locustfile = _support.timed_locustfile(directory, rate=load.rate, weight=1)
    prefix = directory / f"locust-{load.rate}"
    duration = BEFORE + STALL + AFTER
    with _support.target() as target:
        command = [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "-u", str(load.users), "-r", str(load.users), "-t", f"{duration:.0f}s",
            "--host", target.url, "--csv", str(prefix), "--only-summary",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # locust's own start-up, so the stall falls at the same point
            stall(target)
            process.wait(timeout=duration + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    with open(f"{prefix}_stats.csv", newline="") as stats:
        total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    print(
        f"  locust --headless: {total['Request Count']} requests, "
        + ", ".join(f"p{p} {total[f'{p}%']} ms" for p in PERCENTILES)
    )
    return {p: float(total[f"{p}%"]) * 1000 for p in PERCENTILES}


def main() -> None:
    print(f"machine: {_support.machine()}")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for load in (LOW, HIGH):
            figures = chaoskit_run(load, directory)
            locust = locust_run(load, directory)
            errors = {p: _support.err_pct(locust[p], figures[f"truth_p{p}"]) for p in PERCENTILES}
            print(
                "  locust vs the open-loop truth: "
                + ", ".join(f"p{p} error {errors[p]:.1f}%" for p in PERCENTILES)
            )
            results[load] = (figures, errors)
    low, low_locust = results[LOW]
    high, _ = results[HIGH]
    print(
        _support.bench_line(
            "stall",
            p90_err_pct=low["p90_err_pct"],
            p95_err_pct=low["p95_err_pct"],
            p99_err_pct=low["p99_err_pct"],
            own_p99_err_pct=low["own_p99_err_pct"],
            locust_p90_err_pct=low_locust[90],
            locust_p99_err_pct=low_locust[99],
            invalid_seconds=int(low["invalid_seconds"]),
            queued_pct=low["queued_pct"],
            hi_p90_err_pct=high["p90_err_pct"],
            hi_p99_err_pct=high["p99_err_pct"],
            hi_own_p99_err_pct=high["own_p99_err_pct"],
            hi_invalid_seconds=int(high["invalid_seconds"]),
            hi_queued_pct=high["queued_pct"],
        )
    )


if __name__ == "__main__":
    main()
