"""The target stops answering for 2 s under load: are the tail latencies what users saw?

10 FastHttpUsers at ``constant_throughput(10)`` (100 requests per second) against a tiny
server on 127.0.0.1; 3 s in, the server is paused with SIGSTOP for 2 s. The truth is the
latency every scheduled request had from its intended send time, computed exactly from
each request's raw timing (written by the workers for benchmarks only). chaoskit's p90/p95/
p99 over the run come from its merged per-second histograms. Locust's own figures come from
``locust --headless`` with the same locust file, users and stall, read from its CSV.

    python bench/stall.py
"""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _support

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import merge_seconds

USERS = 10
RATE = 10  # per user
BEFORE, STALL, AFTER = 3.0, 2.0, 4.0
PERCENTILES = (90, 95, 99)

LOCUSTFILE = f"""
from locust import FastHttpUser, constant_throughput, task

class Shopper(FastHttpUser):
    wait_time = constant_throughput({RATE})

    @task
    def home(self):
        self.client.get("/")
"""


def stall(target: _support.Target) -> tuple[float, float]:
    time.sleep(BEFORE)
    stopped = time.time()
    os.kill(target.process.pid, signal.SIGSTOP)
    try:
        time.sleep(STALL)
    finally:
        os.kill(target.process.pid, signal.SIGCONT)
    return stopped, time.time()


def chaoskit_run(locustfile: Path, target: _support.Target, samples: Path) -> dict[str, float]:
    os.environ[_support.RAW_SAMPLES_VARIABLE] = str(samples)
    try:
        driver = LocustDriver(Locust(locustfile, users=USERS, workers=1), host=target.url)
    finally:
        del os.environ[_support.RAW_SAMPLES_VARIABLE]
    with driver:
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
    truth = [
        s.intended_latency_us
        for s in _support.raw_samples(samples)
        if first <= s.intended < last and s.ok
    ]
    print(
        f"chaoskit: stall {stopped - began:.2f}s..{resumed - began:.2f}s after start; "
        f"seconds {first}..{last - 1}: expected {merged.expected}, sent {merged.sent}, "
        f"ok {merged.ok}, failed {merged.failures}, "
        f"invalid seconds {sum(not s.valid for s in window)} "
        f"{sorted({s.invalid for s in window if s.invalid})}"
    )
    print(f"  raw requests in the window: {len(truth)}")
    figures: dict[str, float] = {"invalid_seconds": sum(not s.valid for s in window)}
    for p in PERCENTILES:
        measured = merged.latency_us.get_value_at_percentile(p)
        exact = _support.exact_percentile(truth, p)
        figures[f"truth_p{p}"] = exact
        figures[f"p{p}_err_pct"] = _support.err_pct(measured, exact)
        print(
            f"  p{p}: chaoskit {measured / 1000:8.1f} ms   truth {exact / 1000:8.1f} ms   "
            f"error {figures[f'p{p}_err_pct']:.2f}%"
        )
    return figures


def locust_run(locustfile: Path, target: _support.Target, directory: Path) -> dict[int, float]:
    prefix = directory / "locust"
    duration = BEFORE + STALL + AFTER
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{duration:.0f}s",
            "--host",
            target.url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
        f"locust --headless: {total['Request Count']} requests, "
        + ", ".join(f"p{p} {total[f'{p}%']} ms" for p in PERCENTILES)
    )
    return {p: float(total[f"{p}%"]) * 1000 for p in PERCENTILES}


def main() -> None:
    print(f"machine: {_support.machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        locustfile = _support.write_locustfile(directory, LOCUSTFILE)
        samples = directory / "samples"
        samples.mkdir()
        with _support.target() as target:
            figures = chaoskit_run(locustfile, target, samples)
        with _support.target() as target:
            locust = locust_run(locustfile, target, directory)
    locust_errors = {p: _support.err_pct(locust[p], figures[f"truth_p{p}"]) for p in PERCENTILES}
    print(
        "locust vs the same truth: "
        + ", ".join(f"p{p} error {locust_errors[p]:.1f}%" for p in PERCENTILES)
    )
    print(
        _support.bench_line(
            "stall",
            p90_err_pct=figures["p90_err_pct"],
            p95_err_pct=figures["p95_err_pct"],
            p99_err_pct=figures["p99_err_pct"],
            locust_p90_err_pct=locust_errors[90],
            locust_p99_err_pct=locust_errors[99],
            invalid_seconds=int(figures["invalid_seconds"]),
        )
    )


if __name__ == "__main__":
    main()
