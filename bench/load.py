"""chaoskit-driven load vs bare ``locust --headless`` against a tiny server on 127.0.0.1.

**Overhead at saturation** (``rps_ratio``): 20 FastHttpUsers with ``constant(0)`` (closed
loop, as fast as they can) for 10 s, under bare ``locust --headless`` (one process) and
under chaoskit (one worker process); ``sched_rps_ratio``: the same under chaoskit with a
``rate`` far above capacity, so every request goes through the schedule path. The arms
take turns, five rounds, and each arm's figure is the median of its five: this VM's
throughput drifts by a fifth over minutes. Rates are the target's own count of requests
answered, over the seconds with traffic less 2 at each end, the same rule for every run.

**Accuracy** (``p*_err_pct``): 20 users at ``constant_throughput(75)`` (1,500 requests per
second asked for), 10 s under chaoskit. The users come from a bench-only locust file that
times each request itself, around ``self.client.get``, with an intended time computed from
the user's first task run plus one interval per run, plus however late it sent when it was
free to (the generator's own lateness, which is not the target's): an exact, independent
record of every request's latency from its intended send time. With a fast target and no
backlog, that is its latency from the actual send, printed beside. chaoskit's p50/p95/p99
come from its merged per-second histograms over the whole seconds of the run.

    python bench/load.py
"""

from __future__ import annotations

import csv
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _support
import psutil

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import SecondStats, merge_seconds

USERS = 20
RATE = 75  # per user, for the accuracy run
DURATION = 10.0
ROUNDS = 5  # of each saturation arm
PERCENTILES = (50, 95, 99)

CLOSED_LOOP = """
from locust import FastHttpUser, constant, task

class Shopper(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def products(self):
        self.client.get("/products")

    @task(1)
    def home(self):
        self.client.get("/")
"""


def chaoskit_load(
    locustfile: Path, url: str, rate: float | None = None
) -> tuple[list[SecondStats], _support.CpuSeries]:
    """Run the load for DURATION; the whole seconds of it, and its worker's CPU."""
    with LocustDriver(Locust(locustfile, users=USERS, workers=1, rate=rate), host=url) as driver:
        began = time.time()
        [worker] = [
            child
            for child in psutil.Process().children(recursive=True)
            if "chaoskit.load._worker" in child.cmdline()
        ]
        cpu = _support.CpuSeries(worker.pid)
        driver.start()
        time.sleep(DURATION)
        stopping = time.time()
        driver.stop()
        cpu.stop()
        seconds = driver.collect(began, time.time())
    first, last = math.ceil(began) + 1, math.floor(stopping)
    return [s for s in seconds if first <= s.second < last], cpu


def describe(name: str, window: list[SecondStats]) -> None:
    merged = merge_seconds(window)
    lags = [s.lag_ms for s in window]
    reasons = sorted({s.invalid for s in window if s.invalid})
    print(
        f"{name}: {len(window)} whole seconds, expected {merged.expected}, sent {merged.sent}, "
        f"ok {merged.ok}; event-loop lateness per second (mean over a probe window, ms): "
        f"median {statistics.median(lags):.2f}, max {max(lags):.2f}; "
        f"invalid seconds {sum(not s.valid for s in window)} {reasons}"
    )


def saturation(directory: Path, url: str, target: _support.Target) -> dict[str, float]:
    """Each arm ROUNDS times, interleaved, so that the machine's drift over the run falls on
    every arm alike; each arm's figures are its medians. Beside the rate, the CPU per
    request served of the process that runs the users (bare locust's one process; chaoskit's
    worker, not its coordinator, which idles)."""
    locustfile = _support.write_locustfile(directory, CLOSED_LOOP, name="closed_loop.py")
    figures: dict[str, list[float]] = {}
    for round_ in range(1, ROUNDS + 1):
        print(f"  round {round_} of {ROUNDS}:")
        for arm, rate in (("locust", None), ("chaoskit", None), ("sched", 100_000.0)):
            before = set(target.served())
            if arm == "locust":
                cpu = locust_headless(locustfile, url, directory)
                how = "bare locust, constant(0)"
            else:
                window, cpu = chaoskit_load(locustfile, url, rate=rate)
                how = "chaoskit, " + (
                    "constant(0)" if rate is None else f"rate={rate:.0f} (schedule path)"
                )
            served = _new(target.served(), before)
            rps, n = _support.steady_rate(served)
            cpu_us = _support.cpu_per_request_us(cpu, served)
            figures.setdefault(f"{arm}_rps", []).append(rps)
            figures.setdefault(f"{arm}_cpu_us", []).append(cpu_us)
            print(f"    {how}: {rps:.0f}/s served over {n} s, {cpu_us:.1f} µs CPU a request")
            if arm != "locust":
                describe(f"      {how} at saturation", window)
    return {key: statistics.median(values) for key, values in figures.items()}


def _new(served: dict[int, int], before: set[int]) -> dict[int, int]:
    return {second: count for second, count in served.items() if second not in before}


def accuracy(directory: Path, url: str, target: _support.Target) -> dict[str, float]:
    timed = directory / "timed"
    timed.mkdir()
    locustfile = _support.timed_locustfile(timed, rate=RATE)
    before = set(target.served())
    window, _ = chaoskit_load(locustfile, url)
    served_rps, _ = _support.steady_rate(_new(target.served(), before))
    describe(f"chaoskit, {USERS} users at constant_throughput({RATE})", window)
    merged = merge_seconds(window)
    first, last = window[0].second, window[-1].second + 1
    rows = [r for r in _support.timed_requests(timed) if first <= r.intended < last]
    truth = [r.latency_us for r in rows]
    from_send = [(r.done - r.sent) * 1e6 for r in rows]
    from_slot = [(r.done - r.slot) * 1e6 for r in rows]
    print(
        f"  the users' own timing: {len(rows)} requests intended in those seconds "
        f"(chaoskit: {merged.ok} ok); target served {served_rps:.0f}/s"
    )
    figures = {
        "capped_rps": merged.completed / len(window),
        "invalid_seconds": sum(not s.valid for s in window),
        "count_diff": merged.ok - len(rows),
    }
    for p in PERCENTILES:
        measured = merged.latency_us.get_value_at_percentile(p)
        exact = _support.exact_percentile(truth, p)
        figures[f"p{p}_err_pct"] = _support.err_pct(measured, exact)
        print(
            f"  p{p}: chaoskit {measured / 1000:7.3f} ms   users' own {exact / 1000:7.3f} ms   "
            f"error {figures[f'p{p}_err_pct']:.3f}%   (from actual send: "
            f"{_support.exact_percentile(from_send, p) / 1000:.3f} ms; from the slot alone, "
            f"the generator's lateness included: "
            f"{_support.exact_percentile(from_slot, p) / 1000:.3f} ms)"
        )
    return figures


def locust_headless(locustfile: Path, url: str, directory: Path) -> _support.CpuSeries:
    prefix = directory / "locust"
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "-u", str(USERS), "-r", str(USERS), "-t", f"{DURATION:.0f}s", "--host", url,
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        cpu = _support.CpuSeries(process.pid)
        if process.wait(timeout=DURATION + 60):
            raise RuntimeError(f"locust --headless exited with {process.returncode}")
        cpu.stop()
    with open(f"{prefix}_stats.csv", newline="") as stats:
        total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    print(
        f"    (locust's own figures: {total['Request Count']} requests, "
        f"{float(total['Requests/s']):.0f}/s over its whole run)"
    )
    return cpu


def main() -> None:
    print(f"machine: {_support.machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with _support.target() as target:
            print("saturation:")
            saturated = saturation(directory, target.url, target)
            figures = accuracy(directory, target.url, target)
    print(
        _support.bench_line(
            "load",
            rps_ratio=saturated["chaoskit_rps"] / saturated["locust_rps"],
            sched_rps_ratio=saturated["sched_rps"] / saturated["locust_rps"],
            cpu_ratio=saturated["chaoskit_cpu_us"] / saturated["locust_cpu_us"],
            sched_cpu_ratio=saturated["sched_cpu_us"] / saturated["locust_cpu_us"],
            p50_err_pct=figures["p50_err_pct"],
            p95_err_pct=figures["p95_err_pct"],
            p99_err_pct=figures["p99_err_pct"],
            chaoskit_rps=saturated["chaoskit_rps"],
            sched_rps=saturated["sched_rps"],
            locust_rps=saturated["locust_rps"],
            capped_rps=figures["capped_rps"],
            invalid_seconds=int(figures["invalid_seconds"]),
            count_diff=int(figures["count_diff"]),
        )
    )


if __name__ == "__main__":
    main()
