"""One replica of a fleet, in the system process: its process group, its slot and tags,
and what the rest of the system sees of it (``ReplicaStatus``, ``FleetFault``, ``Balancer``).

Each replica runs in a process group of its own and its signals go to the group, so a command
that forks workers is stopped, rebooted and killed as a whole (see ``fleet``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tenacity import AsyncRetrying, RetryError, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.local.config import TargetSpec
from chaoskit.providers.local.system.lifeline import kill_when_parent_dies

SLOT_TAG = "chaoskit:slot"
# How long what is left of a replica's process group may take to die of SIGKILL.
GROUP_EXIT_TIMEOUT = 5.0
GROUP_POLL_INTERVAL = 0.02


def render_argv(template: Sequence[str], *, port: int, instance_id: str) -> list[str]:
    """Substitute the placeholders in each argument; other braces stay, so JSON arguments work."""
    values = {"{port}": str(port), "{instance_id}": instance_id, "{parent_pid}": str(os.getpid())}
    rendered = []
    for argument in template:
        for placeholder, value in values.items():
            argument = argument.replace(placeholder, value)
        rendered.append(argument)
    return rendered


def slot_tags(spec: TargetSpec, slot: int) -> dict[str, str]:
    """The tags of the replica in ``slot``: the target's, its ``replica_tags`` entry, its slot."""
    tags = dict(spec.tags)
    if spec.replica_tags:
        tags.update(spec.replica_tags[slot % len(spec.replica_tags)])
    tags[SLOT_TAG] = str(slot)
    return tags


@dataclass(frozen=True, kw_only=True)
class ReplicaStatus:
    id: str
    address: str
    pid: int
    state: str  # "healthy", "unhealthy", "stopped" or "rebooting"
    started_at: float  # epoch seconds the current process started
    slot: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FleetFault:
    """A fault the fleet holds on some replicas until it is removed by its handle."""

    kind: str  # "stop" or "stress"
    instance_ids: tuple[str, ...]
    workers: int = 0  # burner processes per replica, for "stress"


class Balancer(Protocol):
    """The part of the proxy the fleet keeps in sync."""

    def add_upstream(self, upstream_id: str, host: str, port: int) -> None: ...

    def remove_upstream(self, upstream_id: str) -> None: ...

    def is_healthy(self, upstream_id: str) -> bool: ...


def new_instance_id() -> str:
    return "i-" + secrets.token_hex(6)


@dataclass(kw_only=True)
class Replica:
    """A replica process the fleet supervises: its slot, port and the faults holding it."""

    id: str
    slot: int
    port: int
    process: asyncio.subprocess.Process
    started_at: float
    terminated: bool = False
    # This process is being shut down by a reboot: its exit is expected.
    rebooting: bool = False
    # This process was started by a reboot and has not been found healthy yet.
    booting: bool = False
    stopped_by: str | None = None  # handle of the stop fault holding it
    stressed_by: str | None = None  # handle of the stress fault holding it

    def signal(self, signum: int) -> None:
        """Signal the replica's process group; nothing once the process has been reaped."""
        if self.process.returncode is not None:
            return  # for anything but killing what is left, see kill_group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL the replica's process group, also once its leader has been reaped.

        Linux gives no new process a pid that is still the id of a live process group, so the
        id names this group for as long as anything in it runs. Called right after the leader
        is reaped, it cannot reach a stranger: a freed pid comes round again only after the
        whole pid space.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def gone(replica: Replica) -> bool:
    return replica.terminated or replica.process.returncode is not None


def kill_processes(processes: Sequence[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()


async def wait_group_gone(pgid: int) -> None:
    """Wait until no process of group ``pgid`` runs, or raise ProviderError."""
    retrying = AsyncRetrying(
        stop=stop_after_delay(GROUP_EXIT_TIMEOUT),
        wait=wait_fixed(GROUP_POLL_INTERVAL),
        retry=retry_if_result(bool),
    )

    async def running() -> bool:
        return _group_running(pgid)

    try:
        await retrying(running)
    except RetryError:
        raise ProviderError(
            f"process group {pgid} was still running {GROUP_EXIT_TIMEOUT:g}s after SIGKILL"
        ) from None


def _group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs. Zombies do not count: they hold no port,
    and one whose parent is gone waits for an init process that may be slow to reap it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc to tell a zombie from a live process
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                # After the command name, which may hold anything: state, ppid, pgrp, ...
                state, _ppid, pgrp, *_ = stat.read().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if pgrp == str(pgid) and state not in ("Z", "X"):
            return True
    return False


def replica_setup() -> None:
    """``preexec_fn`` of a replica: a process group of its own, so that signals reach whatever
    the command forks (``process_group=0`` would do, but uvloop refuses it), and dead with its
    parent."""
    os.setpgid(0, 0)
    kill_when_parent_dies()
