"""The target stops answering for 2 s under load: are the tail latencies what users saw?

A tiny server on 127.0.0.1 is paused with SIGSTOP for 2 s, 3 s into the load, at two
rates: 10 FastHttpUsers at ``constant_throughput(10)`` (100 requests per second) and 20 at
``constant_throughput(75)`` (1,500, the rate of bench/load.py). Scheduled users run chaoskit's
open model: a run due while every user is stuck goes to a new user of the pool, so the pool
grows by about the rate times the stall. At 1,500 requests per second a 2 s stall needs about
3,000 more users, above the default ``max_users`` for 20 users (1,000): the high load is
given ``max_users=4000``; the line prints the largest pool (``pool_max``) and the runs
dropped for want of a free user (``dropped``).

Truths, none computed by chaoskit. **Open-loop** (the headline): a client sending on the
configured schedule (users x rate, evenly spread) over the same whole seconds. A request
intended before the stall takes the normal latency (the median the users' own timing
measured before it). From the stall on, the target answers what it holds in order, as its
own clock records: the j-th request intended from the stall on is answered at the target's
j-th answer after it resumed, and never sooner than the normal latency after its intended
time. Those are answers to chaoskit's requests: one chaoskit sent late after the resume is
answered late in this truth too (the lag rules mark such seconds, and the run prints them),
and each run chaoskit dropped moves the later answers one place (the run prints how many).
**Ideal** (printed beside): the same, with a target that answers everything it held the
instant it resumes (latencies uniform from the stall's length down to 0). The two part by
the target's own catch-up: at 1,500 requests per second it holds 3,000 requests and as many
new connections, and answers them over a few hundred milliseconds. **The users' own
timing**: a bench-only locust file times each request around ``self.client.get``, intended
when it was sent (in chaoskit's open model each run starts on a free user at its intended
time, up to the generator's own lateness). chaoskit's p90/p95/p99 come from its merged
per-second histograms. Locust's own figures come from ``locust --headless`` with the same
locust file, users and stall.

**An open-loop client** checks the open-loop truth itself: in a run of its own, with the
same rate and stall against a fresh target, a client that sends every request at its
intended time on a free keep-alive connection or a new one (as independent users would, or
k6's arrival-rate executors) measures its p90/p95/p99, and the line prints how far they are
from the open-loop truth computed for its run from the target's answers
(``client_p*_err_pct``): how much of the truth is the target's doing, not chaoskit's.

    python bench/stall.py
"""

from __future__ import annotations

import csv
import json
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
    max_users: int | None = None  # None: chaoskit's default


LOW, HIGH = Load(users=10, rate=10), Load(users=20, rate=75, max_users=4000)


def stall(target: _support.Target) -> tuple[float, float]:
    time.sleep(BEFORE)
    stopped = time.time()
    os.kill(target.process.pid, signal.SIGSTOP)
    try:
        time.sleep(STALL)
    finally:
        os.kill(target.process.pid, signal.SIGCONT)
    return stopped, time.time()


def schedule(load: Load, first: int, last: int) -> list[float]:
    """The open-loop intended times over seconds [first, last), evenly spread."""
    rate = load.users * load.rate
    return [first + (index + 0.5) / rate for index in range((last - first) * rate)]


def ideal(intended: list[float], stopped: float, resumed: float, normal_us: float) -> list[float]:
    """Open-loop latencies with a target that answers all it held the instant it resumes."""
    return [
        ((resumed - at) if stopped <= at < resumed else 0.0) * 1e6 + normal_us for at in intended
    ]


def as_answered(
    intended: list[float], stopped: float, resumed: float, normal_us: float, answers: list[float]
) -> list[float]:
    """Open-loop latencies as the target answered: the j-th request intended from the stall
    on (from the normal latency before it: those were in flight when it stopped) takes the
    target's j-th answer after it resumed, or the normal latency if sooner."""
    after = sorted(at for at in answers if at >= resumed)
    held_from = stopped - normal_us / 1e6
    if len(after) < sum(at >= held_from for at in intended):
        raise SystemExit(f"the target answered only {len(after)} requests after it resumed")
    latencies, held = [], 0
    for at in intended:
        answered = 0.0
        if at >= held_from:
            answered = after[held]
            held += 1
        latencies.append(max((answered - at) * 1e6, normal_us))
    return latencies


# An open-loop client, in a process of its own: every request has its own task, sent at its
# intended time (evenly spread) on a free keep-alive connection, or a new one when none is
# free (as independent users, or k6's arrival-rate executors). Writes (intended, sent,
# answered) per request, epoch seconds. Its own lateness in sending is not the target's:
# latency is counted from when it sent, if that was after the intended time.
OPEN_LOOP_CLIENT = """
import asyncio, json, sys, time

host, port, rate, start, stop, out = sys.argv[1:7]
port, rate, start, stop = int(port), float(rate), float(start), float(stop)
REQUEST = b"GET / HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n"
idle, rows = [], []

async def one(intended):
    await asyncio.sleep(max(0.0, intended - time.time()))
    sent = time.time()
    reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
    writer.write(REQUEST)
    head = await reader.readuntil(b"\\r\\n\\r\\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\\r\\n")[0])
    await reader.readexactly(length)
    rows.append((intended, sent, time.time()))
    idle.append((reader, writer))

async def main():
    count = int((stop - start) * rate)
    await asyncio.gather(*(one(start + (i + 0.5) / rate) for i in range(count)))

asyncio.run(main())
with open(out, "w") as file:
    json.dump(rows, file)
"""


def client_run(load: Load, directory: Path) -> dict[str, float]:
    """The same stall under an open-loop client instead of chaoskit: its p90/p95/p99 over the
    same whole seconds, and how far they are from the truth computed for its own run."""
    rate = load.users * load.rate
    out = directory / f"client-{load.rate}.json"
    with _support.target() as target:
        host, port = target.url.removeprefix("http://").split(":")
        began = time.time() + 0.5  # the client's start-up
        ended = began + BEFORE + STALL + AFTER
        command = [sys.executable, "-c", OPEN_LOOP_CLIENT, host, port, str(rate), str(began),
                   str(ended), str(out)]  # fmt: skip
        client = subprocess.Popen(command)
        try:
            time.sleep(max(0.0, began - time.time()))
            stopped, resumed = stall(target)
            client.wait(timeout=BEFORE + STALL + AFTER + 60)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        answers = target.answered()
    rows = json.loads(out.read_text())
    first, last = math.ceil(began) + 1, math.floor(ended) - 1
    inside = [(i, s, a) for i, s, a in rows if first <= i < last]
    measured = [(a - max(i, s)) * 1e6 for i, s, a in inside]
    before = [m for (i, _, _), m in zip(inside, measured, strict=True) if i < stopped]
    normal_us = statistics.median(before)
    intended = [i for i, _, _ in inside]
    truth = as_answered(intended, stopped, resumed, normal_us, answers)
    idealized = ideal(intended, stopped, resumed, normal_us)
    print(
        f"  open-loop client, {rate} requests/s, the same stall: {len(inside)} requests in "
        f"seconds {first - int(began)}..{last - 1 - int(began)}"
    )
    figures = {}
    for p in PERCENTILES:
        figures[f"p{p}"] = _support.exact_percentile(measured, p)
        figures[f"p{p}_err_pct"] = _support.err_pct(
            figures[f"p{p}"], _support.exact_percentile(truth, p)
        )
        figures[f"ideal_p{p}_err_pct"] = _support.err_pct(
            figures[f"p{p}"], _support.exact_percentile(idealized, p)
        )
        print(
            f"    p{p}: client {figures[f'p{p}'] / 1000:8.1f} ms, against the open-loop truth "
            f"of its own run: error {figures[f'p{p}_err_pct']:.2f}%, against the ideal: "
            f"{figures[f'ideal_p{p}_err_pct']:.2f}%"
        )
    return figures


def chaoskit_run(load: Load, directory: Path) -> dict[str, float]:
    timed = directory / f"timed-{load.rate}"
    timed.mkdir()
    locustfile = _support.timed_locustfile(timed, rate=load.rate, weight=1)
    with _support.target() as target:
        spec = Locust(locustfile, users=load.users, workers=1, max_users=load.max_users)
        with LocustDriver(spec, host=target.url) as driver:
            began = time.time()
            driver.start()
            stopped, resumed = stall(target)
            time.sleep(AFTER)
            driver.stop()
            ended = time.time()
            seconds = driver.collect(began, ended)
        answers = target.answered()
    # Whole seconds after the users started and before they stopped.
    first, last = math.ceil(began) + 1, math.floor(ended) - 1
    window = [s for s in seconds if first <= s.second < last]
    merged = merge_seconds(window)
    rows = [r for r in _support.timed_requests(timed) if first <= r.intended < last]
    normal_us = statistics.median(r.latency_us for r in rows if r.intended < stopped)
    intended = schedule(load, first, last)
    truth = as_answered(intended, stopped, resumed, normal_us, answers)
    idealized = ideal(intended, stopped, resumed, normal_us)
    # When the target answered the last request intended during the stall.
    last_held = max(i for i, at in enumerate(intended) if at < resumed)
    catch_up = intended[last_held] + truth[last_held] / 1e6 - resumed
    own = [r.latency_us for r in rows]
    invalid = [s for s in window if not s.valid]
    print(
        f"{load.users} users x {load.rate}/s: stall {stopped - began:.2f}..{resumed - began:.2f}"
        f" s after start; seconds {first - int(began)}..{last - 1 - int(began)}: expected "
        f"{merged.expected}, sent {merged.sent}, ok {merged.ok}; users' own count {len(rows)}, "
        f"open-loop {len(truth)}; normal latency {normal_us / 1000:.2f} ms; the target "
        f"answered its backlog {catch_up * 1000:.0f} ms after it resumed"
    )
    for s in window:
        print(
            f"    second +{s.second - int(began)}: expected {s.expected} ok {s.ok} "
            f"users {s.users} dropped {s.dropped} "
            f"waited for their user {s.queued} (up to {s.queued_max_ms:.0f} ms) "
            f"lag {s.lag_ms:.1f} ms {s.invalid or 'valid'}"
        )
    # What an experiment over these seconds would tell its user.
    note = Window(name="stall", kind="fault", seconds=window).queueing
    print(f"  chaoskit's note: {note or 'no queueing behind users worth a note'}")
    figures: dict[str, float] = {
        "invalid_seconds": len(invalid),
        "queued_pct": 100 * merged.queued / merged.expected,
        "pool_max": max(s.users for s in window),
        "dropped": merged.dropped,
    }
    for p in PERCENTILES:
        measured = merged.latency_us.get_value_at_percentile(p)
        exact = _support.exact_percentile(truth, p)
        best = _support.exact_percentile(idealized, p)
        mine = _support.exact_percentile(own, p)
        figures[f"truth_p{p}"] = exact
        figures[f"p{p}_err_pct"] = _support.err_pct(measured, exact)
        figures[f"ideal_p{p}_err_pct"] = _support.err_pct(measured, best)
        figures[f"own_p{p}_err_pct"] = _support.err_pct(measured, mine)
        print(
            f"  p{p}: chaoskit {measured / 1000:8.1f} ms   open-loop {exact / 1000:8.1f} ms "
            f"(error {figures[f'p{p}_err_pct']:.2f}%)   ideal {best / 1000:8.1f} ms "
            f"(error {figures[f'ideal_p{p}_err_pct']:.2f}%)   users' own {mine / 1000:8.1f} ms "
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
            client = client_run(load, directory)
            figures.update({f"client_{key}": value for key, value in client.items()})
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
            hi_p95_err_pct=high["p95_err_pct"],
            hi_p99_err_pct=high["p99_err_pct"],
            hi_ideal_p90_err_pct=high["ideal_p90_err_pct"],
            hi_ideal_p99_err_pct=high["ideal_p99_err_pct"],
            hi_own_p99_err_pct=high["own_p99_err_pct"],
            hi_client_p90_err_pct=high["client_p90_err_pct"],
            hi_client_p99_err_pct=high["client_p99_err_pct"],
            hi_client_ideal_p90_err_pct=high["client_ideal_p90_err_pct"],
            hi_invalid_seconds=int(high["invalid_seconds"]),
            hi_queued_pct=high["queued_pct"],
            hi_pool_max=int(high["pool_max"]),
            hi_dropped=int(high["dropped"]),
        )
    )


if __name__ == "__main__":
    main()
