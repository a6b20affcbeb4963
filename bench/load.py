"""chaoskit-driven load vs bare ``locust --headless`` against a tiny server on 127.0.0.1.

**Overhead at saturation** (``rps_ratio``): 20 FastHttpUsers with ``constant(0)`` (closed
loop, as fast as they can), under bare ``locust --headless`` (one process) and under
chaoskit (one worker process), **at the same time, on one shared core**: every thread of
the process that runs each arm's users is pinned to core 1, where the kernel gives the two
an equal share (``cpu_share``, the CPU time each used, checks it); the targets (one per
arm), chaoskit's coordinator and this script are on core 0. Over an arm's pairs, which
target it gets alternates, and so does which arm starts first. Each arm's rate is its
target's own count of requests answered over the seconds both ran, less 3 at each end;
``rps_ratio`` is chaoskit's rate over bare locust's, the median over ROUNDS pairs.
``sched_rps_ratio``: the same with chaoskit's ``rate`` far above capacity, so every request
goes through the schedule path. chaoskit's own count of each run is printed beside the
target's.

Why at the same time: this VM's speed changes from one second to the next (two bare
locust runs taking turns a second at a time differ by up to a third per second, and runs of
10 s one after the other by a fifth), and a few per cent of overhead drowns in that. Two
arms sharing a core see the same machine. ``aa_ratio`` is the method's own error: bare
locust against bare locust, the same way; it is printed with its spread.

**Accuracy** (``p*_err_pct``): 20 users at ``constant_throughput(75)`` (1,500 requests per
second asked for), 10 s under chaoskit alone, unpinned. The users come from a bench-only
locust file that times each request itself, around ``self.client.get``: in chaoskit's open
model every run starts on a free user at its intended time, so a request is intended when it
was sent, up to the generator's own lateness, which is not the target's. That is an exact,
independent record of every request's latency from its intended send time.
chaoskit's p50/p95/p99 come from its merged per-second histograms over the whole seconds of
the run.

    python bench/load.py
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import _support
import psutil

from chaoskit.load import Locust
from chaoskit.load.driver import LocustDriver
from chaoskit.slo.seconds import SecondStats, merge_seconds

USERS = 20
RATE = 75  # per user, for the accuracy run
DURATION = 10.0  # of the accuracy run
ROUNDS = 8  # pairs of chaoskit and bare locust; half as many of the schedule path and of A/A
SIDE_BY_SIDE = 14.0  # seconds a pair runs
TRIM = 3  # seconds left out at each end of a pair's common seconds
SHARED_CORE, HOST_CORE = 1, 0
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


def chaoskit_load(locustfile: Path, url: str) -> list[SecondStats]:
    """Run the load alone for DURATION; the whole seconds of it."""
    with LocustDriver(Locust(locustfile, users=USERS, workers=1), host=url) as driver:
        began = time.time()
        driver.start()
        time.sleep(DURATION)
        stopping = time.time()
        driver.stop()
        seconds = driver.collect(began, time.time())
    first, last = math.ceil(began) + 1, math.floor(stopping)
    return [s for s in seconds if first <= s.second < last]


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


def saturation(
    directory: Path, targets: tuple[_support.Target, _support.Target]
) -> dict[str, float]:
    """Pairs of arms at the same time on the shared core: chaoskit against bare locust every
    round, and in turns the schedule path or bare locust against itself. Each arm swaps
    targets from one of its pairs to the next."""
    locustfile = _support.write_locustfile(directory, CLOSED_LOOP, name="closed_loop.py")
    figures: dict[str, list[float]] = {}
    for round_ in range(ROUNDS):
        for arm in ("chaoskit", "sched" if round_ % 2 == 0 else "locust"):
            ratios = figures.setdefault(RATIO[arm], [])
            # Which target, and which arm starts first, alternate over each arm's pairs:
            # bare locust against itself ran about 1% faster in the one started first.
            pair = side_by_side(
                locustfile,
                arm,
                targets if len(ratios) % 2 else targets[::-1],
                arm_first=len(ratios) // 2 % 2 == 0,
            )
            ratios.append(pair.arm_rps / pair.base_rps)
            figures.setdefault(f"{arm}_cpu_share", []).append(pair.cpu_share)
            if arm == "chaoskit":
                figures.setdefault("shared_locust_rps", []).append(pair.base_rps)
            print(
                f"  round {round_ + 1} of {ROUNDS}, {ARMS[arm]} beside bare locust: "
                f"{pair.arm_rps:.0f}/s and {pair.base_rps:.0f}/s over {pair.seconds} s, "
                f"ratio {ratios[-1]:.3f}; CPU used, its over bare locust's: {pair.cpu_share:.3f}",
                flush=True,
            )
    for figure, values in figures.items():
        print(f"  {figure}: median {statistics.median(values):.3f}, {_spread(values)}")
    medians = {figure: statistics.median(values) for figure, values in figures.items()}
    medians["aa_spread"] = max(abs(value - 1) for value in figures["aa_ratio"])
    return medians


RATIO = {"chaoskit": "rps_ratio", "sched": "sched_rps_ratio", "locust": "aa_ratio"}
ARMS = {
    "chaoskit": "chaoskit, constant(0)",
    "sched": "chaoskit, rate=100000 (schedule path)",
    "locust": "bare locust again",
}


@dataclass(frozen=True)
class Pair:
    base_rps: float  # bare locust's
    arm_rps: float
    seconds: int  # both ran, less TRIM at each end
    cpu_share: float  # the arm's CPU time over bare locust's, while both ran


def side_by_side(
    locustfile: Path,
    arm: str,
    targets: tuple[_support.Target, _support.Target],
    *,
    arm_first: bool,
) -> Pair:
    """Bare locust against ``targets[0]`` and ``arm`` against ``targets[1]``, at the same
    time, every thread of both on the shared core."""
    before = [set(target.served()) for target in targets]
    with contextlib.ExitStack() as stack:
        driver = None

        def start_arm() -> int:
            nonlocal driver
            if arm == "locust":
                return stack.enter_context(bare_locust(locustfile, targets[1].url)).pid
            rate = 100_000.0 if arm == "sched" else None
            spec = Locust(locustfile, users=USERS, workers=1, rate=rate)
            driver = stack.enter_context(LocustDriver(spec, host=targets[1].url))
            return pin_chaoskit()

        def start_base() -> int:
            pid = stack.enter_context(bare_locust(locustfile, targets[0].url)).pid
            _wait_for_traffic(targets[0], before[0])
            return pid

        if arm_first:
            other, base = start_arm(), start_base()
        else:
            base, other = start_base(), start_arm()
        began = time.time()
        if driver is not None:
            driver.start()
        cpu_before = _cpu(base), _cpu(other)
        time.sleep(SIDE_BY_SIDE)
        cpu_share = (_cpu(other) - cpu_before[1]) / (_cpu(base) - cpu_before[0])
        if driver is not None:
            driver.stop()
            own = driver.collect(began, time.time())
    served = [_new(target.served(), seen) for target, seen in zip(targets, before, strict=True)]
    common = sorted(set(served[0]) & set(served[1]))[TRIM:-TRIM]
    if len(common) < SIDE_BY_SIDE / 2:
        raise RuntimeError(f"the two arms ran side by side for only {len(common)} s")
    if driver is not None:
        # Every request the target answered in the run, chaoskit counted as a success (the
        # seconds a request was intended in, not answered in: with a schedule far above
        # capacity, those lie behind).
        print(
            f"    chaoskit's own count of the run: {merge_seconds(own).ok} ok, the target "
            f"served {sum(served[1].values())}; {sum(not s.valid for s in own)} of {len(own)} "
            "seconds marked invalid (load generator busy: it shares its core, on purpose)"
        )
    base_rps, arm_rps = (sum(counts[s] for s in common) / len(common) for counts in served)
    return Pair(base_rps=base_rps, arm_rps=arm_rps, seconds=len(common), cpu_share=cpu_share)


def _wait_for_traffic(target: _support.Target, before: set[int]) -> None:
    """Until bare locust's users are all sending (its start-up is not counted either way)."""
    deadline = time.monotonic() + 30
    while not any(count >= 100 for count in _new(target.served(), before).values()):
        if time.monotonic() > deadline:
            raise RuntimeError("bare locust sent nothing for 30 s")
        time.sleep(0.2)


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()  # every thread of the process
    return times.user + times.system


@contextlib.contextmanager
def bare_locust(locustfile: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """``locust --headless``, its own session (as chaoskit's worker is: the kernel shares a
    core between sessions), every thread on the shared core. It runs past the side-by-side
    span, which starts once its users send."""
    duration = SIDE_BY_SIDE + 15
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "-u", str(USERS), "-r", str(USERS), "-t", f"{duration:.0f}s", "--host", url,
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    ) as process:
        _pin(process.pid, SHARED_CORE)  # before it starts threads: they inherit it
        try:
            yield process
        finally:
            process.terminate()  # the span is over; its summary is not needed
            process.wait(timeout=60)


def pin_chaoskit() -> int:
    """Every thread of chaoskit's worker to the shared core (its ZeroMQ thread too), its
    coordinator off it; the worker's pid."""
    workers = []
    for child in psutil.Process().children(recursive=True):
        command = " ".join(child.cmdline())
        if "chaoskit.load._locust.worker" in command:
            _pin(child.pid, SHARED_CORE)
            workers.append(child.pid)
        elif "chaoskit.load._locust.coordinator" in command:
            _pin(child.pid, HOST_CORE)
    if len(workers) != 1:
        raise RuntimeError(f"expected one chaoskit worker, found {len(workers)}")
    return workers[0]


def _pin(pid: int, core: int) -> None:
    # A process's affinity call moves only its main thread; each thread has its own.
    for thread in psutil.Process(pid).threads():
        os.sched_setaffinity(thread.id, {core})


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f} over {len(values)}"


def _new(served: dict[int, int], before: set[int]) -> dict[int, int]:
    return {second: count for second, count in served.items() if second not in before}


def accuracy(directory: Path, url: str, target: _support.Target) -> dict[str, float]:
    timed = directory / "timed"
    timed.mkdir()
    locustfile = _support.timed_locustfile(timed, rate=RATE)
    before = set(target.served())
    window = chaoskit_load(locustfile, url)
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


@contextlib.contextmanager
def off_the_shared_core(targets: tuple[_support.Target, ...]) -> Iterator[None]:
    """This script and the targets on HOST_CORE for the side-by-side runs, and back after."""
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit(
            "bench/load.py needs two CPU cores: the arms share one, the rest the other"
        )
    processes = [psutil.Process()] + [psutil.Process(t.process.pid) for t in targets]
    before = [process.cpu_affinity() for process in processes]
    for process in processes:
        process.cpu_affinity([HOST_CORE])
    try:
        yield
    finally:
        for process, cores in zip(processes, before, strict=True):
            process.cpu_affinity(cores)


def main() -> None:
    print(f"machine: {_support.machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        with _support.target() as first, _support.target() as second:
            print("saturation, side by side on one core:")
            with off_the_shared_core((first, second)):
                saturated = saturation(directory, (first, second))
            print("accuracy, chaoskit alone:")
            figures = accuracy(directory, first.url, first)
    print(
        _support.bench_line(
            "load",
            rps_ratio=saturated["rps_ratio"],
            sched_rps_ratio=saturated["sched_rps_ratio"],
            aa_ratio=saturated["aa_ratio"],
            aa_spread=saturated["aa_spread"],
            cpu_share=saturated["chaoskit_cpu_share"],
            aa_cpu_share=saturated["locust_cpu_share"],
            p50_err_pct=figures["p50_err_pct"],
            p95_err_pct=figures["p95_err_pct"],
            p99_err_pct=figures["p99_err_pct"],
            shared_locust_rps=saturated["shared_locust_rps"],
            capped_rps=figures["capped_rps"],
            invalid_seconds=int(figures["invalid_seconds"]),
            count_diff=int(figures["count_diff"]),
        )
    )


if __name__ == "__main__":
    main()
