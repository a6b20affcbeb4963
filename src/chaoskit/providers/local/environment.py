"""The local environment as the pytest process sees it: ``LocalEnvironment`` starts the
system process (``python -m chaoskit.providers.local.system``), reads its ready line, hands
out a ``LocalTarget`` per target, and stops the system on ``close()``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import BinaryIO

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
    wait_none,
)

from chaoskit._processes import child_environment
from chaoskit.durations import Duration, parse_duration
from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local import control_protocol as protocol
from chaoskit.providers.local.binaries import find_binary
from chaoskit.providers.local.client import ControlClient
from chaoskit.providers.local.config import DEFAULT_TARGETS, TargetSpec, parse_targets
from chaoskit.providers.local.startup import NotReadyLine, ReadyLine, SystemConfig
from chaoskit.providers.local.target import LocalTarget

DEFAULT_STARTUP_TIMEOUT = 30.0
# Past the system's own ready timeout, so a slow start is reported by the system with its reason.
_STARTUP_GRACE = 5.0
SHUTDOWN_TIMEOUT = 10.0
READY_POLL_INTERVAL = 0.1
# Prometheus batches service-discovery updates every 5 s, so a replica is first scraped 5 to
# 10 s after it appears; the environment is ready once each one has been.
PROMETHEUS_SCRAPE_TIMEOUT = 20.0
PROMETHEUS_POLL_INTERVAL = 0.2
_STDERR_TAIL_BYTES = 4000


class _NotReadyYet(Exception):
    pass


class LocalEnvironment:
    """The running local system; implements ``chaoskit.typing.Environment``.

    Create it with ``LocalEnvironment.start()``; ``close()`` (or leaving the ``with`` block)
    stops every process it started. An ``atexit`` hook and the system's own watch on this
    process cover a run that never gets to call ``close()``.
    """

    def __init__(
        self,
        *,
        name: str,
        process: subprocess.Popen[bytes],
        control: ControlClient,
        targets: Mapping[str, LocalTarget],
        log: BinaryIO,
    ) -> None:
        self.name = name
        self._process = process
        self._control = control
        self._targets = dict(targets)
        self._log = log
        self._closed = False
        self._prometheus_url: str | None = None
        self._forget_prometheus: Callable[[], None] | None = None
        atexit.register(self.close)

    @classmethod
    def start(
        cls,
        targets: Mapping[str, TargetSpec | Mapping[str, object]] | None = None,
        *,
        startup_timeout: Duration = DEFAULT_STARTUP_TIMEOUT,
        name: str = "local",
        prometheus: bool = False,
    ) -> LocalEnvironment:
        """Start the system and return once every replica of every target is healthy.

        ``targets`` maps names to ``TargetSpec`` or to the same settings as a mapping
        (``{"web": {"replicas": 3, "replace_delay": "2s"}}``); default ``DEFAULT_TARGETS``.
        With ``prometheus=True`` it also waits until a Prometheus server has scraped every
        replica (about 6 s more; see ``start_prometheus``).
        Raises ConfigError for bad settings (before starting anything) and ProviderError,
        with the system's log, when it does not come up within ``startup_timeout`` seconds
        (or there is no ``prometheus`` to run).
        """
        specs = parse_targets(DEFAULT_TARGETS if targets is None else targets)
        startup_timeout = parse_duration(startup_timeout, field="startup_timeout", allow_zero=False)
        if not isinstance(prometheus, bool):
            raise ConfigError(f"prometheus={prometheus!r} must be True or False.")
        if prometheus:
            find_binary()  # before anything starts: a missing binary is said plainly
        config = SystemConfig(
            targets=specs,
            parent_pid=os.getpid(),
            ready_timeout=startup_timeout,
            prometheus=prometheus,
        )
        # An unnamed file: whoever dies first, nothing is left behind on disk.
        log = tempfile.TemporaryFile(prefix="chaoskit-local-")  # noqa: SIM115 - kept until close()
        process = subprocess.Popen(
            [sys.executable, "-m", "chaoskit.providers.local.system"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=child_environment(),
            # Its own session: a Ctrl-C meant for pytest must not kill the system before
            # the experiment's teardown has reverted its faults through it.
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(config.to_json()).encode())
        process.stdin.close()
        try:
            ready = _read_ready_line(process, log, timeout=startup_timeout + _STARTUP_GRACE)
        except BaseException:
            _stop_process(process, grace=0.0)
            log.close()
            raise
        control = ControlClient(ready.control, ready.token)
        local_targets = {
            target: LocalTarget(
                name=target, url=ready.target_urls[target], spec=spec, control=control
            )
            for target, spec in specs.items()
        }
        env = cls(name=name, process=process, control=control, targets=local_targets, log=log)
        if ready.prometheus:
            try:
                env._use_prometheus(ready.prometheus)
            except BaseException:
                env.close()
                raise
        return env

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self._process.pid}"
        return f"LocalEnvironment(name={self.name!r}, targets={sorted(self._targets)}, {state})"

    def __enter__(self) -> LocalEnvironment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """The system process; every replica is its child."""
        return self._process.pid

    @property
    def prometheus_url(self) -> str | None:
        """The local Prometheus server's URL, or None when it was not started."""
        return self._prometheus_url

    def start_prometheus(self) -> str:
        """Run a Prometheus server scraping every replica's ``/metrics`` (once a second, with
        ``instance`` = the instance id and ``target`` = the target name as labels); return its
        URL once it has scraped each live replica. Idempotent; stopped with the environment.

        Raises ProviderError when ``prometheus`` is not on PATH or it does not come up.
        """
        if self._prometheus_url is not None:
            return self._prometheus_url
        find_binary()
        started = self._control.call(protocol.StartPrometheus())
        return self._use_prometheus(started.url)

    def _use_prometheus(self, url: str) -> str:
        self._wait_scraped(url, timeout=PROMETHEUS_SCRAPE_TIMEOUT)
        self._prometheus_url = url
        from chaoskit.prometheus.client import use_default_url

        self._forget_prometheus = use_default_url(url)
        return url

    def _wait_scraped(self, url: str, *, timeout: float) -> None:
        """Block until Prometheus holds an ``up`` sample of every live replica."""
        from chaoskit.prometheus.client import PrometheusClient

        client = PrometheusClient(url)

        def unscraped() -> list[str]:
            seen = {series.labels.get("instance") for series in client.query("up")}
            live = [i.id for target in self._targets.values() for i in target.instances()]
            return [instance_id for instance_id in live if instance_id not in seen]

        retrying = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(PROMETHEUS_POLL_INTERVAL),
            retry=retry_if_result(bool),
        )
        try:
            retrying(unscraped)
        except RetryError as error:
            missing = error.last_attempt.result()
            raise ProviderError(
                f"Prometheus at {url} had not scraped {', '.join(missing)} after {timeout:g}s."
                f"{_log_tail(self._log)}"
            ) from None

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of what the system and its replicas wrote to stderr (until ``close()``)."""
        return _read_tail(self._log, max_bytes)

    def target_names(self) -> tuple[str, ...]:
        """Every target's name, as configured (``chaoskit.typing.RehearsesFis``: FIS templates
        are rehearsed on the local system, their targets looked for among these)."""
        return tuple(self._targets)

    def target(self, name: str) -> LocalTarget:
        if name not in self._targets:
            raise ConfigError(
                f"no target {name!r} in environment {self.name!r}; its targets are "
                f"{sorted(self._targets)}. Add it under [tool.chaoskit.env.{self.name}.targets] "
                f"or use one of those names."
            )
        return self._targets[name]

    def close(self) -> None:
        """Stop the system and every replica; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self._forget_prometheus is not None:
            self._forget_prometheus()
        with contextlib.suppress(ProviderError):
            self._control.call(protocol.Shutdown())
        self._control.close()
        _stop_process(self._process, grace=SHUTDOWN_TIMEOUT)
        self._log.close()


def _read_ready_line(
    process: subprocess.Popen[bytes], log: BinaryIO, *, timeout: float
) -> ReadyLine:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    received = bytearray()

    def read_some() -> bytes:
        readable, _, _ = select.select([fd], [], [], READY_POLL_INTERVAL)
        if readable:
            chunk = os.read(fd, 65536)
            received.extend(chunk)
            if not chunk:
                _wait_for_exit(process, timeout=SHUTDOWN_TIMEOUT)
                raise ProviderError(
                    f"the local system exited with code {process.returncode} before it was "
                    f"ready.{_log_tail(log)}"
                )
        if b"\n" not in received:
            raise _NotReadyYet
        return bytes(received.split(b"\n", 1)[0])

    # select() already waits up to the poll interval, so tenacity adds no sleep of its own.
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_none(),
        retry=retry_if_exception_type(_NotReadyYet),
        reraise=False,
    )
    try:
        line = retrying(read_some)
    except RetryError:
        raise ProviderError(
            f"the local system was not ready within {timeout:g}s.{_log_tail(log)}"
        ) from None
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    with contextlib.suppress(ValueError):
        not_ready = NotReadyLine.from_json(message)
        _wait_for_exit(process, timeout=SHUTDOWN_TIMEOUT)
        # A complete reason stands alone: pages of the replicas' access log would bury it.
        raise ProviderError(
            f"the local system did not start: {not_ready.reason}"
            + (_log_tail(log) if not_ready.log else "")
        )
    try:
        return ReadyLine.from_json(message)
    except ValueError:
        raise ProviderError(
            f"the local system printed {line!r} instead of its ready line.{_log_tail(log)}"
        ) from None


def _wait_for_exit(process: subprocess.Popen[bytes], *, timeout: float) -> bool:
    """True once ``process`` has exited, False when it is still running after ``timeout``."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _stop_process(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """Wait ``grace`` for an exit already asked for, then insist.

    SIGTERM still lets the system kill its replicas; after SIGKILL they end on their own,
    having lost their parent.
    """
    if not _wait_for_exit(process, timeout=grace):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        if not _wait_for_exit(process, timeout=SHUTDOWN_TIMEOUT):
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _read_tail(log: BinaryIO, max_bytes: int) -> str:
    # pread leaves the file offset alone: the system appends through the same open file.
    size = os.fstat(log.fileno()).st_size
    start = max(0, size - max_bytes)
    return os.pread(log.fileno(), size - start, start).decode(errors="replace").strip()


def _log_tail(log: BinaryIO) -> str:
    tail = _read_tail(log, _STDERR_TAIL_BYTES)
    return f" Its log ends with:\n{tail}" if tail else " Its log is empty."
