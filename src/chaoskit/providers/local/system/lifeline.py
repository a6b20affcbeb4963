"""Tie a process's life to its parent's, so no replica or system outlives a killed test run."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from collections.abc import Callable

PARENT_POLL_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1


def watch_parent(
    parent_pid: int,
    on_orphaned: Callable[[], None],
    *,
    interval: float = PARENT_POLL_INTERVAL,
) -> asyncio.Task[None]:
    """Call ``on_orphaned`` once ``parent_pid`` is no longer this process's parent.

    Polling ``getppid`` works on every POSIX system and, unlike ``PR_SET_PDEATHSIG``, is not
    fooled by the parent *thread* that spawned us ending while the parent process lives on.
    """

    async def watch() -> None:
        while os.getppid() == parent_pid:
            await asyncio.sleep(interval)
        on_orphaned()

    return asyncio.get_running_loop().create_task(watch(), name=f"watch-parent-{parent_pid}")


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved here, in the parent: the child between fork and exec should do as little as possible.
_prctl = _load_prctl()


def kill_when_parent_dies() -> None:
    """``preexec_fn`` for replicas: Linux SIGKILLs the child the moment its parent dies.

    This covers commands that do not watch their parent themselves, even when the parent was
    SIGKILLed and had no chance to clean up. Elsewhere it does nothing; the parent's own
    shutdown path is then the only guarantee.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
