"""The process hosting the local targets: per target a fleet of replicas behind a proxy.

Run as ``python -m chaoskit.providers.local.system [CONFIG_JSON]`` (the config is read from
stdin when no argument is given; ``startup.SystemConfig``)::

    {"targets": {"web": {"replicas": 3, "replace_delay": 2.0, "tags": {"app": "shop"}}},
     "parent_pid": 1234, "ready_timeout": 20, "prometheus": false}

Once every replica is healthy it prints one JSON line to stdout and nothing else after it
(``startup.ReadyLine``)::

    {"ready": true, "pid": 4321, "control": "127.0.0.1:PORT", "token": "...",
     "targets": {"web": {"url": "http://127.0.0.1:PORT"}},
     "prometheus": "http://127.0.0.1:PORT" or null}

With ``"prometheus": true`` (or later, the ``start_prometheus`` op) it also runs a Prometheus
server scraping every live replica (see ``prometheus_server``).

The control API listens on ``control``: one JSON object per line in, one per line out. Every
request carries ``"token"`` and ``"op"``; see ``control_protocol`` for the requests and
replies, ``control.ControlApi`` for what each does. It shuts down (killing every replica) on
SIGTERM, SIGINT, the ``shutdown`` op, or when its parent dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Sequence

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local.startup import NotReadyLine, ReadyLine, SystemConfig, parse_config
from chaoskit.providers.local.system.control import ControlApi, serve_control
from chaoskit.providers.local.system.host import System
from chaoskit.providers.local.system.lifeline import watch_parent

log = logging.getLogger("chaoskit.local.system")

READY_POLL_INTERVAL = 0.05

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_BAD_CONFIG = 2


async def _wait_ready(
    system: System, stopping: asyncio.Event, timeout: float
) -> NotReadyLine | None:
    """None once every replica is healthy; else why not ("" when asked to stop), and whether
    the replicas' output may tell more."""
    deadline = time.monotonic() + timeout
    while not system.is_ready():
        if stopping.is_set():
            return NotReadyLine(reason="")
        misconfigured = system.misconfigured()
        if misconfigured:
            return NotReadyLine(reason=misconfigured, log=False)
        crash_looping = system.crash_looping()
        if crash_looping:
            return NotReadyLine(reason=crash_looping)  # its output may say why
        if time.monotonic() > deadline:
            return NotReadyLine(
                reason=f"not every replica became healthy within {timeout:g}s: "
                f"{system.describe_unready()}"
            )
        await asyncio.sleep(READY_POLL_INTERVAL)
    return None


async def run(config: SystemConfig, *, announce: Callable[[str], None]) -> int:
    """Serve until asked to stop; the exit code. ``announce`` gets the ready line."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    # Held here: the loop keeps only weak references to tasks.
    parent_watch = None
    if config.parent_pid is not None:
        parent_watch = watch_parent(config.parent_pid, stopping.set)

    token = secrets.token_hex(16)
    system = System(config)
    api = ControlApi(system, token=token, on_shutdown=stopping.set)
    control, control_clients = await serve_control(api)
    try:
        try:
            await system.start()
            # Started before the replicas are healthy: its start overlaps their start-up.
            prometheus_url = await system.start_prometheus() if config.prometheus else None
        except ProviderError as error:
            log.error("%s", error)
            return EXIT_NOT_READY
        unready = await _wait_ready(system, stopping, config.ready_timeout)
        if unready is not None:
            if unready.reason:
                log.error("%s", unready.reason)
                announce(json.dumps(unready.to_json()))
            return EXIT_NOT_READY
        host, port = control.sockets[0].getsockname()[:2]
        ready = ReadyLine(
            pid=os.getpid(),
            control=f"{host}:{port}",
            token=token,
            target_urls={name: target.url for name, target in system.targets.items()},
            prometheus=prometheus_url,
        )
        announce(json.dumps(ready.to_json()))
        await stopping.wait()
        return EXIT_OK
    finally:
        control.close()
        for writer in list(control_clients):
            writer.close()
        await system.stop()
        if parent_watch is not None:
            parent_watch.cancel()


def _print_line(line: str) -> None:
    with contextlib.suppress(BrokenPipeError):
        print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        text = args[0] if args else sys.stdin.read()
        config = parse_config(json.loads(text))
    except (ConfigError, ValueError) as error:
        print(f"chaoskit local system: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run(config, announce=_print_line))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed: it cuts what each proxied round trip adds by more than
    half (see bench/proxy.py); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
