"""CPU stress on replicas, in the system process: pin a replica to one CPU beside busy-looping
burner processes pinned to the same CPU, and undo it.

The scheduler then leaves the replica about 1/(workers+1) of that core, while the other
replicas keep every CPU they had. Affinity is per thread, so every thread of the replica's
process tree is pinned, and each gets its own affinity back when the stress is removed.
Linux only (``os.sched_setaffinity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaoskit.errors import ProviderError
from chaoskit.providers.local.system.lifeline import kill_when_parent_dies
from chaoskit.providers.local.system.replica import FleetFault, Replica, gone, kill_processes

log = logging.getLogger("chaoskit.local.fleet")

# ``-I -S``: no site packages or environment to load, so a burner is busy within milliseconds.
# The trailing arguments only name it in ``ps``.
BURNER_ARGV = (sys.executable, "-I", "-S", "-c", "while True: pass", "chaoskit-burner")


def supported() -> bool:
    return hasattr(os, "sched_setaffinity")


@dataclass(kw_only=True)
class _Pinned:
    replica: Replica
    cpu: int
    # The affinity of each thread of the replica's process tree before it was pinned.
    saved: dict[int, set[int]]
    burners: list[asyncio.subprocess.Process] = field(default_factory=list)


@dataclass(kw_only=True)
class CpuStressFault:
    """One stress fault of a fleet: its replicas, and what pinning each of them started."""

    target: str
    replicas: list[Replica]
    workers: int
    pinned: list[_Pinned] = field(default_factory=list)
    released: bool = False

    @property
    def burners(self) -> list[asyncio.subprocess.Process]:
        return [burner for pinned in self.pinned for burner in pinned.burners]

    @property
    def cpus(self) -> set[int]:
        return {pinned.cpu for pinned in self.pinned}

    def describe(self) -> FleetFault:
        return FleetFault(
            kind="stress", instance_ids=tuple(r.id for r in self.replicas), workers=self.workers
        )

    async def pin(self, replica: Replica, *, taken_cpus: set[int]) -> None:
        """Pin ``replica`` and start its burners, preferring a CPU not in ``taken_cpus``."""
        if self.released:
            raise ProviderError(f"the stress of {replica.id} was removed while it was starting")
        if gone(replica):
            return  # died since it was chosen; its replacement is not stressed
        allowed = os.sched_getaffinity(replica.process.pid)
        # Spread stressed replicas over the CPUs, so two of them share a core only when
        # there are more of them than cores.
        cpu = min(sorted(allowed), key=lambda candidate: (candidate in taken_cpus, candidate))
        pid = replica.process.pid
        saved = {pid: allowed}
        for tid in _threads_of_tree(pid):
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                saved[tid] = os.sched_getaffinity(tid)
        pinned = _Pinned(replica=replica, cpu=cpu, saved=saved)
        self.pinned.append(pinned)
        for tid in saved:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, {cpu})
        for _ in range(self.workers):
            burner = await asyncio.create_subprocess_exec(
                *BURNER_ARGV,
                replica.id,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                preexec_fn=functools.partial(_burner_setup, cpu),
            )
            pinned.burners.append(burner)
            if self.released:  # removed, or the fleet stopped, while this burner started
                burner.kill()
                raise ProviderError(f"the stress of {replica.id} was removed while it was starting")
            if gone(replica):  # died while this burner started; its exit killed the others
                kill_processes(pinned.burners)
                return
        log.info(
            "%s: pinned %s to CPU %d with %d burner(s)",
            self.target,
            replica.id,
            cpu,
            self.workers,
        )

    def kill_burners_of(self, replica: Replica) -> None:
        """Burners stress nothing but the machine once their replica is gone."""
        for pinned in self.pinned:
            if pinned.replica is replica:
                kill_processes(pinned.burners)

    def release(self, handle: str) -> None:
        """Kill the burners and give each live replica its own affinity back."""
        kill_processes(self.burners)
        for replica in self.replicas:
            replica.stressed_by = None
        for pinned in self.pinned:
            if pinned.replica.process.returncode is None:
                _restore_affinity(pinned.replica.process.pid, pinned.saved)
        log.info("%s: removed CPU stress %s", self.target, handle)


def _burner_setup(cpu: int) -> None:
    """``preexec_fn`` of a burner: on the stressed replica's CPU, and dead with its parent."""
    os.sched_setaffinity(0, {cpu})
    kill_when_parent_dies()


def _threads_of_tree(pid: int) -> list[int]:
    """Thread ids of ``pid`` and of every process it forked (affinity is per thread)."""
    threads: list[int] = []
    pending = [pid]
    while pending:
        process = pending.pop()
        try:
            tids = [int(tid) for tid in os.listdir(f"/proc/{process}/task")]
        except (OSError, ValueError):
            continue
        for tid in tids:
            threads.append(tid)
            pending.extend(_children(process, tid))
    return threads or [pid]


def _children(pid: int, tid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as children:
            return [int(child) for child in children.read().split()]
    except (OSError, ValueError):
        return []


def _restore_affinity(pid: int, saved: Mapping[int, set[int]]) -> None:
    # Threads started while pinned inherited the pin; they get the replica's own affinity back.
    for tid in _threads_of_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(tid, saved.get(tid, saved[pid]))
