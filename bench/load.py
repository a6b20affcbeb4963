"""chaoskit-driven load vs bare ``locust --headless``: the same locust file, users and
target, one after the other in one run.

20 FastHttpUsers at ``constant_throughput(75)`` (1,500 requests per second asked for) for
10 s against a tiny server on 127.0.0.1. ``rps_ratio`` is chaoskit's achieved requests per
second over locust's. The percentile errors compare chaoskit's p50/p95/p99 (merged
per-second HDR histograms) with the exact percentiles of every request's latency in the same
run, from the raw timing the workers write for benchmarks only.

    python bench/load.py
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _support

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import merge_seconds

USERS = 20
RATE = 75  # per user
DURATION = 10.0
PERCENTILES = (50, 95, 99)

LOCUSTFILE = f"""
from locust import FastHttpUser, constant_throughput, task

class Shopper(FastHttpUser):
    wait_time = constant_throughput({RATE})

    @task(3)
    def products(self):
        self.client.get("/products")

    @task(1)
    def home(self):
        self.client.get("/")
"""


def chaoskit_run(locustfile: Path, url: str, samples: Path) -> dict[str, float]:
    import os

    os.environ[_support.RAW_SAMPLES_VARIABLE] = str(samples)
    try:
        driver = LocustDriver(Locust(locustfile, users=USERS, workers=1), host=url)
    finally:
        del os.environ[_support.RAW_SAMPLES_VARIABLE]
    with driver:
        began = time.time()
        driver.start()
        time.sleep(DURATION)
        stopping = time.time()
        driver.stop()
        ended = time.time()
        seconds = driver.collect(began, ended)
    # Whole seconds after the users started and before they began to stop.
    first, last = math.ceil(began) + 1, math.floor(stopping)
    window = [s for s in seconds if first <= s.second < last]
    merged = merge_seconds(window)
    rps = merged.completed / len(window)
    raw = [s for s in _support.raw_samples(samples) if first <= s.intended < last and s.ok]
    truth = [s.intended_latency_us for s in raw]
    sent_latency = [s.latency_ms * 1000 for s in raw]
    print(
        f"chaoskit: {rps:.0f}/s over {len(window)} whole seconds: "
        f"expected {merged.expected}, sent {merged.sent}, "
        f"ok {merged.ok}, invalid seconds {sum(not s.valid for s in window)}, "
        f"worst generator lag {max(s.lag_ms for s in window):.0f} ms"
    )
    figures = {"rps": rps, "invalid_seconds": sum(not s.valid for s in window)}
    for p in PERCENTILES:
        measured = merged.latency_us.get_value_at_percentile(p)
        exact = _support.exact_percentile(truth, p)
        figures[f"p{p}_err_pct"] = _support.err_pct(measured, exact)
        print(
            f"  p{p}: chaoskit {measured / 1000:7.3f} ms   exact {exact / 1000:7.3f} ms   "
            f"error {figures[f'p{p}_err_pct']:.3f}%   (from actual send: "
            f"{_support.exact_percentile(sent_latency, p) / 1000:.3f} ms)"
        )
    return figures


def locust_run(locustfile: Path, url: str, directory: Path) -> float:
    prefix = directory / "locust"
    subprocess.run(
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
            f"{DURATION:.0f}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=DURATION + 60,
        check=True,
    )
    with open(f"{prefix}_stats.csv", newline="") as stats:
        total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    rps = float(total["Requests/s"])
    print(
        f"locust --headless: {total['Request Count']} requests, {rps:.0f}/s, "
        f"p50/p95/p99 {total['50%']}/{total['95%']}/{total['99%']} ms"
    )
    return rps


def main() -> None:
    print(f"machine: {_support.machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        locustfile = _support.write_locustfile(directory, LOCUSTFILE)
        samples = directory / "samples"
        samples.mkdir()
        with _support.target() as target:
            locust_rps = locust_run(locustfile, target.url, directory)
            figures = chaoskit_run(locustfile, target.url, samples)
    print(
        _support.bench_line(
            "load",
            rps_ratio=figures["rps"] / locust_rps,
            p50_err_pct=figures["p50_err_pct"],
            p95_err_pct=figures["p95_err_pct"],
            p99_err_pct=figures["p99_err_pct"],
            chaoskit_rps=figures["rps"],
            locust_rps=locust_rps,
            invalid_seconds=int(figures["invalid_seconds"]),
        )
    )


if __name__ == "__main__":
    main()
