"""The locust load driver, as seen from the pytest process.

``LocustDriver`` implements ``chaoskit.typing.LoadDriver`` without importing locust or
gevent here: ``import locust`` monkey-patches the whole process (and crashes it when boto3 was
imported first). It runs locust in separate processes instead, using locust's own
master/worker protocol:

- a **coordinator** (``python -m chaoskit.load._locust.coordinator``), a locust master that reads
  commands from its stdin and writes JSON lines to its stdout (``chaoskit.load._wire``);
- **workers** (``python -m chaoskit.load._locust.worker``) that run the users, record every request
  into per-second measurements and ship them to the master, which relays them here.

The processes stay up for the driver's life, so one driver serves several experiments:
``start``/``stop`` only spawn and stop users.

What is measured, per epoch second of the **intended** send time (``chaoskit.load._locust.recorder``
has the exact rules): a histogram of the latency of each successful request, from its
intended send time to its complete response (microseconds, 3 significant digits, clamped,
never dropped); requests expected by the schedule and actually sent; failures counted by a
short reason (``HTTP 503``, ``ConnectionRefusedError``); and an ``invalid`` reason for a
second in which a load generator lagged its schedule. Users on a schedule (a ``rate``, or
a ``constant_throughput``/``constant_pacing`` wait time) do not slip when the target is
slow, so a stall shows as latency and missing requests; other users are measured from their
actual sends. Requests in flight when the users stop are waited for and recorded, not
dropped.

Distributed mode: ``remote_workers`` more workers, started on other machines with
``chaoskit worker``, connect to the master over locust's own protocol; the driver waits for
all of them and merges their seconds by addition.
"""

from __future__ import annotations

import atexit
import math
import sys
from collections.abc import Callable
from typing import Final, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_fixed

from chaoskit.clock import SystemClock
from chaoskit.errors import ConfigError, LoadError
from chaoskit.load import Locust, _wire
from chaoskit.load._measurements import Measurements
from chaoskit.load._pipes import CoordinatorProcess, Process
from chaoskit.slo.seconds import SecondStats
from chaoskit.typing import Clock
from chaoskit.vocabulary import LoadProgress

__all__ = ["LocustDriver"]

MASTER_HOST: Final = "127.0.0.1"
# Importing locust takes about a second per process; a busy CI machine may take much longer.
STARTUP_TIMEOUT: Final = 60.0
# Spawning takes users / spawn_rate; the master then waits up to 1 s for worker reports.
START_MARGIN: Final = 30.0
# Locust's master checks for stopped workers once a second.
STOP_MARGIN: Final = 15.0
# After the slowest request, a worker ships within about a second; the rest is slack.
COLLECT_MARGIN: Final = 10.0
EXIT_TIMEOUT: Final = 5.0
REMOTE_CONNECT_TIMEOUT: Final = 600.0
POLL_INTERVAL: Final = 0.02

_T = TypeVar("_T")
_Event = TypeVar("_Event", _wire.Ready, _wire.WorkersConnected)


class _NotYet(Exception):
    """What a poll is still waiting for (the message says what)."""


class LocustDriver:
    """Load from ``spec`` sent to ``host`` by locust worker processes.

    ``host`` is the target's base url (``None``: the User classes' own ``host``);
    ``workers`` overrides ``spec.workers``. Starting the processes blocks until every worker
    has connected, and raises LoadError (with the processes' last output) if the locust file
    cannot be used or the processes do not come up.
    """

    def __init__(
        self,
        spec: Locust,
        host: str | None = None,
        *,
        workers: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(spec, Locust):
            raise ConfigError(f"spec={spec!r} is not a load spec; pass load.Locust(...).")
        worker_count = spec.local_workers if workers is None else workers
        least = 0 if spec.remote_workers else 1
        if (
            isinstance(worker_count, bool)
            or not isinstance(worker_count, int)
            or worker_count < least
        ):
            raise ConfigError(
                f"workers={worker_count!r} is not a positive number of worker processes; "
                f"pass workers={least} or more."
            )
        self.spec = spec
        self.host = host
        self._clock: Clock = clock or SystemClock()
        self._local_workers = worker_count
        self._expected_workers = worker_count + spec.remote_workers
        self._master_port = 0
        self._measurements = Measurements(clock=self._clock.now)
        self._workers: list[Process] = []
        self._coordinator: CoordinatorProcess | None = None
        self._worker_ids: tuple[str, ...] = ()
        self._request_timeout = 0.0
        self._stop_timeout = 0.0
        self._next_command = 0
        self._closed = False
        atexit.register(self.close)
        try:
            self._launch()
        except BaseException:
            self.close()
            raise

    # -- LoadDriver ------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the users; returns once all of them are running."""
        spawn_time = self.spec.users / self.spec.users_per_second
        self._command(
            _wire.Start(
                id=self._new_command_id(),
                users=self.spec.users,
                spawn_rate=self.spec.users_per_second,
                rate_per_user=self.spec.rate_per_user,
                locust_stats=self.spec.locust_stats,
                max_users=self.spec.max_users,
            ),
            timeout=spawn_time + START_MARGIN,
        )

    def stop(self) -> None:
        """Stop the users; returns once they have stopped. Requests in flight are completed
        and recorded (up to the clients' timeouts) before that."""
        self._command(
            _wire.Stop(id=self._new_command_id()), timeout=self.stop_timeout + STOP_MARGIN
        )

    def peek(self, start: float, end: float) -> list[SecondStats]:
        """The seconds in ``[start, end)`` as far as workers have shipped them, without
        waiting: a second still in flight counts with what of it has completed."""
        first, stop = math.floor(start), math.ceil(end)
        return self._measurements.seconds(first, max(first, stop), partial=True)

    def progress(self) -> LoadProgress:
        """Which seconds every worker has shipped complete, and when the quietest worker
        last reported anything (a batch, or its live seconds four times a second)."""
        complete_until, reported_at = self._measurements.progress(self._worker_ids)
        return LoadProgress(complete_until=complete_until, reported_at=reported_at)

    def collect(self, start: float, end: float) -> list[SecondStats]:
        """Every second overlapping ``[start, end)``, sorted, once all workers have shipped
        it; a second without any request is an empty ``SecondStats``.

        Waits until each worker's watermark reaches the end of the last such second: the
        second must be over, and every request that started in it must have completed (the
        slowest can take the clients' timeout). Raises LoadError when that does not happen
        within the deadline, saying which worker lags.
        """
        if self._closed:
            raise LoadError("cannot collect measurements: the load driver is closed.")
        first, stop = math.floor(start), math.ceil(end)
        if stop <= first:
            return []
        timeout = max(0.0, stop - self._clock.now()) + self.request_timeout + COLLECT_MARGIN

        def arrived() -> None:
            self._check_processes()
            lagging = self._measurements.lagging(self._worker_ids, stop)
            if lagging:
                raise _NotYet("; ".join(lagging))

        self._wait_for(
            arrived,
            timeout=timeout,
            what=f"the measurements of the seconds {first} to {stop - 1} did not all arrive",
        )
        return self._measurements.seconds(first, stop)

    def close(self) -> None:
        """Quit the coordinator and the workers; kill what does not exit in time. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        coordinator = self._coordinator
        if coordinator is not None:
            coordinator.send(_wire.Quit(id=self._new_command_id()))
            coordinator.close_stdin()
        # A worker exits at the end of its stdin, whatever the master is doing.
        for worker in self._workers:
            worker.close_stdin()
        processes: list[Process] = [*self._workers]
        if coordinator is not None:
            processes.insert(0, coordinator)
        for process in processes:
            process.reap(timeout=EXIT_TIMEOUT)

    # -- extras ----------------------------------------------------------------------------

    def broken(self) -> str:
        """Why this driver can no longer send load (closed, or one of its processes exited);
        "" while it can. The run then starts new load processes for the next experiment."""
        if self._closed:
            return "the load driver is closed"
        try:
            self._check_processes()
        except LoadError as error:
            return str(error).partition("\n")[0]
        return ""

    @property
    def worker_ids(self) -> tuple[str, ...]:
        """The locust client ids of the workers."""
        return self._worker_ids

    @property
    def _connect_timeout(self) -> float:
        # Workers on other machines are started by hand, after the run began.
        return REMOTE_CONNECT_TIMEOUT if self.spec.remote_workers else STARTUP_TIMEOUT

    @property
    def master_address(self) -> tuple[str, int]:
        """Where the locust master listens, for workers started by hand."""
        return (self.spec.master_bind, self._master_port)

    @property
    def request_timeout(self) -> float:
        """The longest a request can take with the User classes' client timeouts."""
        return self._request_timeout

    @property
    def stop_timeout(self) -> float:
        """How long stopping waits for requests in flight."""
        return self._stop_timeout

    def requests_by_worker(self) -> dict[str, int]:
        """Completed requests (ok and failed) each worker has shipped so far."""
        return {w: s.completed for w, s in self._measurements.shipped_by_worker().items()}

    def shipped_by_worker(self) -> dict[str, SecondStats]:
        """What each worker has shipped so far, summed: counters only, no latencies."""
        return self._measurements.shipped_by_worker()

    def __enter__(self) -> LocustDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _launch(self) -> None:
        command = [
            sys.executable,
            "-m",
            "chaoskit.load._locust.coordinator",
            "--locustfile",
            str(self.spec.path),
            "--workers",
            str(self._expected_workers),
            "--bind",
            self.spec.master_bind,
            "--port",
            str(self.spec.master_port),
            "--connect-timeout",
            str(self._connect_timeout),
        ]
        if self.host:
            command += ["--host", self.host]
        self._coordinator = CoordinatorProcess(command, self._measurements)
        ready = self._wait_for(
            lambda: self._coordinator_event(_wire.Ready),
            timeout=STARTUP_TIMEOUT,
            what="the load coordinator did not start",
        )
        if ready.shape and self.spec.rate is not None:
            raise ConfigError(
                f"rate={self.spec.rate:g} with the LoadTestShape {ready.shape} of "
                f"{self.spec.path}: the shape changes the number of users, so a rate over all "
                f"users has no fixed per-user schedule; leave rate out and give the users "
                f"constant_throughput(...) (each user keeps its own rate as the shape adds "
                f"users), or remove the shape."
            )
        self._request_timeout = ready.request_timeout
        self._stop_timeout = ready.stop_timeout
        self._master_port = ready.port
        worker_command = [
            sys.executable,
            "-m",
            "chaoskit.load._locust.worker",
            "--master-host",
            MASTER_HOST,
            "--master-port",
            str(ready.port),
            "--locustfile",
            str(self.spec.path),
            "--exit-with-stdin",
        ]
        for _ in range(self._local_workers):
            self._workers.append(Process(worker_command, name="load worker"))
        remote = f" and {self.spec.remote_workers} remote" if self.spec.remote_workers else ""
        connected = self._wait_for(
            lambda: self._coordinator_event(_wire.WorkersConnected),
            timeout=self._connect_timeout + STARTUP_TIMEOUT,
            what=f"{self._local_workers} local{remote} load worker(s) did not connect",
        )
        self._worker_ids = connected.ids

    def _coordinator_event(self, kind: type[_Event]) -> _Event:
        self._check_processes()
        assert self._coordinator is not None
        event = self._coordinator.event(kind)
        if event is None:
            raise _NotYet(f"no {kind.__name__} line from the coordinator yet")
        return event

    def _command(self, command: _wire.Start | _wire.Stop, *, timeout: float) -> None:
        name = command.NAME
        if self._closed or self._coordinator is None:
            raise LoadError(f"cannot {name} the load: the load driver is closed.")
        command_id = command.id
        coordinator = self._coordinator
        coordinator.send(command)

        def acknowledged() -> _wire.Ack:
            self._check_processes()
            ack = coordinator.ack(command_id)
            if ack is None:
                raise _NotYet(f"the coordinator has not acknowledged {name!r} yet")
            return ack

        ack = self._wait_for(acknowledged, timeout=timeout, what=f"the load did not {name}")
        if ack.error:
            raise LoadError(f"the load could not {name}: {ack.error}" + self._output_tails())

    def _new_command_id(self) -> int:
        self._next_command += 1
        return self._next_command

    def _wait_for(self, check: Callable[[], _T], *, timeout: float, what: str) -> _T:
        """``check()`` until it returns, raising LoadError after ``timeout`` seconds.

        ``check`` raises _NotYet to be polled again, LoadError to give up at once.
        """
        deadline = self._clock.now() + timeout

        def past_deadline(state: RetryCallState) -> bool:
            return self._clock.now() >= deadline

        retrying = Retrying(
            stop=past_deadline,
            wait=wait_fixed(POLL_INTERVAL),
            retry=retry_if_exception_type(_NotYet),
            sleep=self._clock.sleep,
            reraise=True,
        )
        try:
            return retrying(check)
        except _NotYet as waiting:
            raise LoadError(
                f"{what} within {timeout:.0f}s ({waiting})." + self._output_tails()
            ) from None

    def _check_processes(self) -> None:
        """Raise LoadError if the coordinator or a worker has exited."""
        coordinator = self._coordinator
        if coordinator is not None and coordinator.finished():
            error = coordinator.event(_wire.CoordinatorFailed)
            reason = (
                error.message
                if error
                else f"the load coordinator exited with code {coordinator.returncode()}"
            )
            raise LoadError(reason + self._output_tails())
        for worker in self._workers:
            code = worker.returncode()
            if code is not None:
                raise LoadError(
                    f"load worker process {worker.pid} exited with code {code}."
                    + self._output_tails()
                )

    def _output_tails(self) -> str:
        parts = []
        processes: list[Process] = [*self._workers]
        if self._coordinator is not None:
            processes.insert(0, self._coordinator)
        for process in processes:
            tail = process.tail()
            if tail:
                parts.append(f"\n--- last output of the {process.name} (pid {process.pid}) ---\n")
                parts.append("\n".join(tail))
        return "".join(parts)
