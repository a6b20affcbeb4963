"""Locust's own request statistics in a load worker, switched on or off.

Runs in a load worker process (imports locust). ``create_runner`` notes the listeners locust's
worker runner adds to the request event (they record ``runner.stats``, ``environment.stats``
and ``runner.errors``); ``LocustStatistics`` takes them off or puts them back before each
start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner


class LocustStatistics:
    """Whether locust's own request statistics (``runner.stats``, ``environment.stats``,
    ``runner.errors``) are recorded: by the listeners locust's runner adds to the request
    event, taken off unless wanted. chaoskit's per-second measurements replace them, and
    recording both slows a saturated worker down (bench/README.md has the figure). They are
    wanted when the load says so (``Locust.locust_stats``, sent before each start) or, by
    default, when the locust file's text mentions ``stats``."""

    # ``hook``: locust's request event, whose EventHook methods are untyped.
    def __init__(
        self, hook: Any, listeners: Sequence[Callable[..., object]], *, locustfile: str
    ) -> None:
        self._hook = hook
        self._listeners = listeners
        self._by_default = "stats" in Path(locustfile).read_text(errors="replace")
        self._recording = True

    def record(self, wanted: bool | None) -> None:
        """Record them if ``wanted`` (None: as the locust file's text suggests)."""
        wanted = self._by_default if wanted is None else wanted
        if wanted == self._recording:
            return
        for listener in self._listeners:
            if wanted:
                self._hook.add_listener(listener)
            else:
                self._hook.remove_listener(listener)
        self._recording = wanted


def create_runner(
    environment: Environment, master_host: str, master_port: int, *, locustfile: str
) -> tuple[WorkerRunner, LocustStatistics]:
    """Locust's worker runner, connected to the master, and the switch for the statistics
    it records (off unless the locust file's text mentions them)."""
    hook: Any = environment.events.request  # locust's EventHook methods are untyped
    added: list[Callable[..., object]] = []
    add_listener = hook.add_listener

    def noting_add_listener(listener: Callable[..., object]) -> object:
        added.append(listener)
        return add_listener(listener)

    # On the process's one request event, until the runner is connected (which may take a
    # while: a remote worker waits for its master). The locust file's own listeners were
    # added when it was imported, before this; ``events.init`` fires after.
    hook.add_listener = noting_add_listener
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    finally:
        del hook.add_listener
    statistics = LocustStatistics(hook, added, locustfile=locustfile)
    statistics.record(None)
    return runner, statistics
