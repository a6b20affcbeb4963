"""A Prometheus server scraping every live replica of the local system, run by the system.

Replicas come and go with new ports and instance ids, so the scrape targets are a
``file_sd_configs`` file that the system rewrites (write, then atomic rename) whenever a fleet
changes; Prometheus picks the change up through inotify. Each replica is scraped as
``instance="<instance id>", target="<target name>"`` under ``job="chaoskit"``.

Prometheus batches service-discovery updates: a new scrape target is first scraped about
5 seconds (up to 10) after it appears in the file, on start-up too. Nothing configurable in
Prometheus 2.x shortens that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tenacity import AsyncRetrying, RetryError, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.local.binaries import find_binary, free_port
from chaoskit.providers.local.system.lifeline import kill_when_parent_dies

log = logging.getLogger("chaoskit.local.prometheus")

JOB = "chaoskit"
SCRAPE_INTERVAL = "1s"
READY_TIMEOUT = 15.0
READY_POLL_INTERVAL = 0.05
STOP_TIMEOUT = 5.0
# Another process may take the free port between our look and Prometheus binding it.
START_ATTEMPTS = 3
_DIR_PREFIX = "chaoskit-prometheus-"
_DIR_PATTERN = re.compile(rf"^{_DIR_PREFIX}(\d+)-")


@dataclass(frozen=True, kw_only=True)
class ScrapeTarget:
    address: str  # host:port
    instance_id: str
    target: str


def scrape_config(sd_file: Path) -> dict[str, object]:
    """Prometheus' configuration; JSON is valid YAML, and leaves no quoting to get wrong."""
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "file_sd_configs": [{"files": [str(sd_file)]}],
            }
        ],
    }


def target_groups(targets: Iterable[ScrapeTarget]) -> list[dict[str, object]]:
    """The ``file_sd_configs`` document: one group per replica, labelled with its identity."""
    return [
        {
            "targets": [scrape.address],
            "labels": {"instance": scrape.instance_id, "target": scrape.target},
        }
        for scrape in sorted(targets, key=lambda t: (t.target, t.instance_id))
    ]


def remove_stale_dirs(parent: Path) -> None:
    """Delete the working folders of systems that died without cleaning up (SIGKILL)."""
    for entry in parent.glob(f"{_DIR_PREFIX}*"):
        match = _DIR_PATTERN.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PrometheusServer:
    """One ``prometheus`` child process on ``host`` with its own temporary storage."""

    def __init__(self, *, host: str, binary: str | None = None) -> None:
        self._host = host
        self._binary = binary
        self._process: asyncio.subprocess.Process | None = None
        self._dir: Path | None = None
        self._last_written: list[dict[str, object]] | None = None
        self.url = ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self, targets: Iterable[ScrapeTarget]) -> str:
        """Start scraping ``targets``; returns the server's URL once it answers ``/-/ready``."""
        binary = self._binary or find_binary()
        temp_root = Path(tempfile.gettempdir())
        remove_stale_dirs(temp_root)
        # The system's pid in the name lets a later run remove it if this one is SIGKILLed.
        self._dir = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-", dir=temp_root))
        sd_file = self._dir / "targets.json"
        config_file = self._dir / "prometheus.yml"
        self.update_targets(targets)
        config_file.write_text(json.dumps(scrape_config(sd_file), indent=1))
        last_error = ""
        for _ in range(START_ATTEMPTS):
            port = free_port(self._host)
            self._process = await self._spawn(binary, config_file, port)
            url = f"http://{self._host}:{port}"
            if await self._wait_ready(port):
                self.url = url
                log.info("prometheus listening on %s (pid %d)", url, self._process.pid)
                return url
            last_error = (
                f"exited with code {self._process.returncode}"
                if self._process.returncode is not None
                else f"did not answer {url}/-/ready within {READY_TIMEOUT:g}s"
            )
            await self._terminate()
        await self.stop()
        raise ProviderError(
            f"Prometheus ({binary}) did not start: it {last_error}; its own messages are in "
            f"the local system's log above."
        )

    def update_targets(self, targets: Iterable[ScrapeTarget]) -> None:
        """Rewrite the scrape targets; Prometheus never sees a half-written file."""
        if self._dir is None:
            return
        groups = target_groups(targets)
        if groups == self._last_written:
            return
        path = self._dir / "targets.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(groups))
        partial.replace(path)
        self._last_written = groups

    async def stop(self) -> None:
        """Stop the process and delete its storage; safe to call more than once."""
        await self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _spawn(self, binary: str, config_file: Path, port: int) -> asyncio.subprocess.Process:
        assert self._dir is not None
        argv = [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self._dir / 'data'}",
            f"--web.listen-address={self._host}:{port}",
            "--log.level=warn",
        ]
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                # The system's stdout carries its ready line; stderr is the system's log.
                stdout=asyncio.subprocess.DEVNULL,
                preexec_fn=kill_when_parent_dies,
            )
        except OSError as error:
            raise ProviderError(f"cannot start Prometheus with {argv}: {error}") from error

    async def _wait_ready(self, port: int) -> bool:
        process = self._process
        assert process is not None

        async def ready() -> bool | None:
            """True when ready, False when it exited, None while it is still starting."""
            if process.returncode is not None:
                return False
            return True if await _answers_ready(self._host, port) else None

        retrying = AsyncRetrying(
            stop=stop_after_delay(READY_TIMEOUT),
            wait=wait_fixed(READY_POLL_INTERVAL),
            retry=retry_if_result(lambda answer: answer is None),
        )
        try:
            answer: bool | None = await retrying(ready)
        except RetryError:
            return False
        return bool(answer)

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _answers_ready(host: str, port: int) -> bool:
    """Whether ``GET /-/ready`` answers 200; Prometheus says 503 while it opens its storage."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET /-/ready HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        status_line = await asyncio.wait_for(reader.readline(), 1.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
    parts = status_line.split()
    return len(parts) >= 2 and parts[1] == b"200"
