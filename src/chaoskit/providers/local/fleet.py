"""A supervisor that keeps N replicas of a command running, like an auto-scaling group.

Each replica holds a *slot* (0 .. replicas-1) that decides its tags. A replica that dies is
replaced after ``replace_delay`` seconds by a new one in the same slot, with a new instance id
and port; the balancer's upstream set follows every change.

Beyond killing replicas, the fleet does to them what can be done to an EC2 instance:

- **stop** (SIGSTOP): the process keeps its port but answers nothing, so requests hang and
  the balancer's health check marks it unhealthy on its own; removing the fault sends SIGCONT.
- **reboot** (SIGTERM, SIGKILL after ``reboot_grace``): the same command starts again with the
  same instance id and port; the supervisor does not count it as a death to replace. It shows
  as rebooting until the balancer first finds the new process healthy.
- **CPU stress**: the replica is pinned to one CPU next to ``workers`` busy-looping burner
  processes pinned to the same CPU, so the scheduler leaves it about 1/(workers+1) of that
  core, while the other replicas keep every CPU they had. Removing it kills the burners and
  restores the replica's CPU affinity; a replica that dies takes its burners with it.

Each replica runs in a process group of its own and the signals go to the group, so a command
that forks workers (``gunicorn -w 4``) is stopped, rebooted and killed as a whole. Once the
group leader has exited, for whatever reason, the rest of its group is killed too: nothing it
forked outlives it, and a reboot starts the command again only once the whole group is gone
(its children may hold the port).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryError, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.local.config import TargetSpec
from chaoskit.providers.local.lifeline import kill_when_parent_dies

log = logging.getLogger("chaoskit.local.fleet")

SHOP_COMMAND = (
    sys.executable,
    "-m",
    "chaoskit.providers.local.shop",
    "--port",
    "{port}",
    "--instance-id",
    "{instance_id}",
    "--parent-pid",
    "{parent_pid}",
)
STOP_TIMEOUT = 5.0
# How long a rebooting replica may take to exit on SIGTERM before it is killed.
REBOOT_GRACE = 3.0
# How long what is left of a replica's process group may take to die of SIGKILL.
GROUP_EXIT_TIMEOUT = 5.0
GROUP_POLL_INTERVAL = 0.02
# A rebooted replica shows as rebooting until its first healthy probe, or for this long at most;
# after that it is an unhealthy replica like any other.
BOOT_TIMEOUT = 60.0
BOOT_POLL_INTERVAL = 0.05
SLOT_TAG = "chaoskit:slot"
# ``-I -S``: no site packages or environment to load, so a burner is busy within milliseconds.
# The trailing arguments only name it in ``ps``.
BURNER_ARGV = (sys.executable, "-I", "-S", "-c", "while True: pass", "chaoskit-burner")


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


def free_port(host: str) -> int:
    """A port nobody listens on right now; a replica that loses the race exits and is replaced."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(kw_only=True)
class _Replica:
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


@dataclass(kw_only=True)
class _Stop:
    replicas: list[_Replica]
    released: bool = False

    def describe(self) -> FleetFault:
        return FleetFault(kind="stop", instance_ids=tuple(r.id for r in self.replicas))


@dataclass(kw_only=True)
class _Pinned:
    replica: _Replica
    cpu: int
    # The affinity of each thread of the replica's process tree before it was pinned.
    saved: dict[int, set[int]]
    burners: list[asyncio.subprocess.Process] = field(default_factory=list)


@dataclass(kw_only=True)
class _Stress:
    replicas: list[_Replica]
    workers: int
    pinned: list[_Pinned] = field(default_factory=list)
    released: bool = False

    @property
    def burners(self) -> list[asyncio.subprocess.Process]:
        return [burner for pinned in self.pinned for burner in pinned.burners]

    def describe(self) -> FleetFault:
        return FleetFault(
            kind="stress", instance_ids=tuple(r.id for r in self.replicas), workers=self.workers
        )


class Fleet:
    def __init__(
        self,
        target: str,
        spec: TargetSpec,
        balancer: Balancer,
        *,
        host: str = "127.0.0.1",
        reboot_grace: float = REBOOT_GRACE,
        boot_timeout: float = BOOT_TIMEOUT,
    ) -> None:
        self.target = target
        self.spec = spec
        self._command = spec.command or SHOP_COMMAND
        self._balancer = balancer
        self._host = host
        self._reboot_grace = reboot_grace
        self._boot_timeout = boot_timeout
        self._live: dict[str, _Replica] = {}
        self._faults: dict[str, _Stop | _Stress] = {}
        self._exits: set[asyncio.Task[None]] = set()
        self._replacements: set[asyncio.Task[None]] = set()
        self._reboots: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def desired(self) -> int:
        return self.spec.replicas

    async def start(self) -> None:
        for slot in range(self.spec.replicas):
            await self._spawn(slot)

    def replicas(self) -> list[ReplicaStatus]:
        """The live replicas, oldest first (a rebooted one keeps its place)."""
        return [
            ReplicaStatus(
                id=replica.id,
                address=f"{self._host}:{replica.port}",
                pid=replica.process.pid,
                state=self._state(replica),
                started_at=replica.started_at,
                slot=replica.slot,
                tags=slot_tags(self.spec, replica.slot),
            )
            for replica in self._live.values()
        ]

    def healthy_count(self) -> int:
        return sum(1 for replica in self._live.values() if self._state(replica) == "healthy")

    def _state(self, replica: _Replica) -> str:
        # The fleet knows before the health check does: a stopped replica can still look
        # healthy for a probe interval or two.
        if self._is_rebooting(replica):
            return "rebooting"
        if replica.stopped_by is not None:
            return "stopped"
        return "healthy" if self._balancer.is_healthy(replica.id) else "unhealthy"

    def _is_rebooting(self, replica: _Replica) -> bool:
        """From ``reboot_instances`` until the balancer first finds the new process healthy."""
        if replica.booting and self._balancer.is_healthy(replica.id):
            replica.booting = False  # the reboot is over; later failures are plain unhealthy
        return replica.rebooting or replica.booting

    def terminate(self, instance_ids: Sequence[str]) -> None:
        """SIGKILL the given replicas; they leave the live list at once and are replaced later."""
        for replica in self._live_replicas(instance_ids):
            del self._live[replica.id]
            replica.terminated = True
            self._balancer.remove_upstream(replica.id)
            # The whole group while the leader lives; once it is reaped, _await_exit (or the
            # reboot) has killed the rest of the group right then.
            replica.signal(signal.SIGKILL)
            self._kill_burners(replica)
            log.info("%s: terminated %s (pid %d)", self.target, replica.id, replica.process.pid)

    # faults

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        """SIGSTOP the given replicas until ``remove_fault`` of the returned handle."""
        replicas = self._live_replicas(instance_ids)
        self._refuse_if(replicas, "stop", rebooting=True, stopped=True)
        handle = _new_handle("stop")
        for replica in replicas:
            replica.stopped_by = handle
            replica.signal(signal.SIGSTOP)
            log.info("%s: stopped %s (pid %d)", self.target, replica.id, replica.process.pid)
        self._faults[handle] = _Stop(replicas=replicas)
        return handle

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        """Restart the given replicas in place (same id and port); returns before they are up."""
        replicas = self._live_replicas(instance_ids)
        self._refuse_if(replicas, "reboot", rebooting=True, stopped=True, stressed=True)
        for replica in replicas:
            replica.rebooting = True
            # It rejoins with a fresh health check once it is back, so "healthy" means the
            # new process answers, not a verdict left over from the old one.
            self._balancer.remove_upstream(replica.id)
            self._track(self._reboots, self._reboot(replica))

    async def stress_cpu(self, instance_ids: Sequence[str], *, workers: int) -> str:
        """Pin each replica to one CPU shared with ``workers`` burners; returns the handle.

        ``workers`` is checked by the callers (``check_workers``), before the request gets here.
        """
        if not hasattr(os, "sched_setaffinity"):
            raise ProviderError("CPU stress needs os.sched_setaffinity, which only Linux has.")
        replicas = self._live_replicas(instance_ids)
        self._refuse_if(replicas, "stress", rebooting=True, stressed=True)
        handle = _new_handle("stress")
        stress = _Stress(replicas=replicas, workers=workers)
        # Registered before the first await: a concurrent request sees these replicas taken.
        self._faults[handle] = stress
        for replica in replicas:
            replica.stressed_by = handle
        try:
            for replica in replicas:
                await self._pin(stress, replica)
        except BaseException as error:
            self._faults.pop(handle, None)
            self._release(handle, stress)
            if isinstance(error, OSError):
                raise ProviderError(
                    f"cannot stress {', '.join(r.id for r in replicas)} of target "
                    f"{self.target!r}: {error}"
                ) from error
            raise
        return handle

    def faults(self) -> dict[str, FleetFault]:
        return {handle: fault.describe() for handle, fault in self._faults.items()}

    def remove_fault(self, handle: str) -> bool:
        """Undo a stop or a stress; False when ``handle`` is not one of this fleet's faults."""
        fault = self._faults.pop(handle, None)
        if fault is None:
            return False
        self._release(handle, fault)
        return True

    async def stop(self) -> None:
        """Kill every replica (and burner) and wait until each is reaped."""
        self._stopping = True
        burners = [
            burner
            for fault in self._faults.values()
            if isinstance(fault, _Stress)
            for burner in fault.burners
        ]
        for handle in list(self._faults):
            self.remove_fault(handle)
        # A replacement or reboot cancelled mid-spawn kills the process it was starting.
        for task in self._replacements | self._reboots:
            task.cancel()
        for instance_id in list(self._live):
            self.terminate([instance_id])
        pending: set[asyncio.Future[Any]] = {
            *self._exits,
            *self._replacements,
            *self._reboots,
            *(asyncio.ensure_future(burner.wait()) for burner in burners),
        }
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT)

    # internals

    def _live_replicas(self, instance_ids: Sequence[str]) -> list[_Replica]:
        unknown = [instance_id for instance_id in instance_ids if instance_id not in self._live]
        if unknown:
            raise ProviderError(
                f"no live instance {', '.join(map(repr, unknown))} in target "
                f"{self.target!r}; live instances are {sorted(self._live)}. "
                f"List them again: they may have been replaced."
            )
        return [self._live[instance_id] for instance_id in dict.fromkeys(instance_ids)]

    def _refuse_if(
        self,
        replicas: list[_Replica],
        action: str,
        *,
        rebooting: bool = False,
        stopped: bool = False,
        stressed: bool = False,
    ) -> None:
        """Faults on one replica would undo each other; refuse before changing anything."""
        busy = []
        for replica in replicas:
            if rebooting and self._is_rebooting(replica):
                busy.append(f"{replica.id} is rebooting")
            if stopped and replica.stopped_by is not None:
                busy.append(f"{replica.id} is stopped by {replica.stopped_by}")
            if stressed and replica.stressed_by is not None:
                busy.append(f"{replica.id} is stressed by {replica.stressed_by}")
        if busy:
            raise ProviderError(
                f"cannot {action} in target {self.target!r}: {'; '.join(busy)}. Remove that "
                f"fault or wait for the reboot first, or choose other instances."
            )

    def _release(self, handle: str, fault: _Stop | _Stress) -> None:
        if fault.released:
            return
        fault.released = True
        if isinstance(fault, _Stop):
            for replica in fault.replicas:
                replica.stopped_by = None
                replica.signal(signal.SIGCONT)
                log.info("%s: started %s again", self.target, replica.id)
            return
        _kill(fault.burners)
        for replica in fault.replicas:
            replica.stressed_by = None
        for pinned in fault.pinned:
            if pinned.replica.process.returncode is None:
                _restore_affinity(pinned.replica.process.pid, pinned.saved)
        log.info("%s: removed CPU stress %s", self.target, handle)

    def _kill_burners(self, replica: _Replica) -> None:
        """Burners stress nothing but the machine once their replica is gone. The fault stays
        listed until it is removed, like any fault whose instances are gone."""
        fault = self._faults.get(replica.stressed_by or "")
        if isinstance(fault, _Stress):
            for pinned in fault.pinned:
                if pinned.replica is replica:
                    _kill(pinned.burners)

    async def _pin(self, stress: _Stress, replica: _Replica) -> None:
        if stress.released:
            raise ProviderError(f"the stress of {replica.id} was removed while it was starting")
        if _gone(replica):
            return  # died since it was chosen; its replacement is not stressed
        allowed = os.sched_getaffinity(replica.process.pid)
        taken = {
            p.cpu
            for fault in self._faults.values()
            if isinstance(fault, _Stress)
            for p in fault.pinned
        }
        # Spread stressed replicas over the CPUs, so two of them share a core only when
        # there are more of them than cores.
        cpu = min(sorted(allowed), key=lambda candidate: (candidate in taken, candidate))
        pid = replica.process.pid
        saved = {pid: allowed}
        for tid in _threads_of_tree(pid):
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                saved[tid] = os.sched_getaffinity(tid)
        pinned = _Pinned(replica=replica, cpu=cpu, saved=saved)
        stress.pinned.append(pinned)
        for tid in saved:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, {cpu})
        for _ in range(stress.workers):
            burner = await asyncio.create_subprocess_exec(
                *BURNER_ARGV,
                replica.id,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                preexec_fn=functools.partial(_burner_setup, cpu),
            )
            pinned.burners.append(burner)
            if stress.released:  # removed, or the fleet stopped, while this burner started
                burner.kill()
                raise ProviderError(f"the stress of {replica.id} was removed while it was starting")
            if _gone(replica):  # died while this burner started; its exit killed the others
                _kill(pinned.burners)
                return
        log.info(
            "%s: pinned %s to CPU %d with %d burner(s)",
            self.target,
            replica.id,
            cpu,
            stress.workers,
        )

    async def _spawn(
        self,
        slot: int,
        *,
        instance_id: str | None = None,
        port: int | None = None,
        rebooting: _Replica | None = None,
    ) -> _Replica | None:
        """Start a replica in ``slot``; with ``rebooting``, the process that one's reboot starts.

        Returns None when the replica is no longer wanted once its process has started: the
        fleet stopped, or the rebooting replica was terminated meanwhile.
        """
        port = free_port(self._host) if port is None else port
        instance_id = new_instance_id() if instance_id is None else instance_id
        argv = render_argv(self._command, port=port, instance_id=instance_id)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                # The system's stdout carries its ready line; replicas must not write into it.
                stdout=asyncio.subprocess.DEVNULL,
                preexec_fn=_replica_setup,
            )
        except OSError as error:
            raise ProviderError(
                f"cannot start a replica of target {self.target!r} with {argv}: {error}; "
                f"check targets.{self.target}.command"
            ) from error
        replica = _Replica(
            id=instance_id,
            slot=slot,
            port=port,
            process=process,
            started_at=time.time(),
            booting=rebooting is not None,
        )
        if self._stopping or (
            rebooting is not None and self._live.get(instance_id) is not rebooting
        ):
            # The fleet stopped, or the replica was terminated while it started again: it stays
            # terminated, and is replaced like any terminated replica.
            replica.terminated = True
            replica.kill_group()
            await process.wait()
            replica.kill_group()
            if not self._stopping:
                log.info("%s: %s was terminated while it rebooted", self.target, instance_id)
                self._track(self._replacements, self._replace(instance_id, slot))
            return None
        # A rebooted replica replaces its old entry in place and so keeps its position.
        self._live[instance_id] = replica
        self._balancer.add_upstream(instance_id, self._host, port)
        log.info("%s: started %s (pid %d, port %d)", self.target, instance_id, process.pid, port)
        self._track(self._exits, self._await_exit(replica))
        return replica

    async def _await_exit(self, replica: _Replica) -> None:
        returncode = await replica.process.wait()
        # Whatever the replica forked, and its burners, end with it.
        replica.kill_group()
        self._kill_burners(replica)
        if replica.rebooting:
            return  # the reboot starts it again, or has it replaced if it was terminated
        if not replica.terminated:
            log.warning("%s: %s exited with code %s", self.target, replica.id, returncode)
            if self._live.get(replica.id) is replica:
                del self._live[replica.id]
                self._balancer.remove_upstream(replica.id)
        if self._stopping:
            return
        self._track(self._replacements, self._replace(replica.id, replica.slot))

    async def _reboot(self, replica: _Replica) -> None:
        log.info("%s: rebooting %s (pid %d)", self.target, replica.id, replica.process.pid)
        replica.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(replica.process.wait(), self._reboot_grace)
        except TimeoutError:
            log.warning(
                "%s: %s ignored SIGTERM for %gs; killing it to reboot",
                self.target,
                replica.id,
                self._reboot_grace,
            )
            replica.signal(signal.SIGKILL)
            await replica.process.wait()
        # The leader is gone; what it forked may still hold the port the new process needs.
        replica.kill_group()
        if self._stopping:
            return
        if self._live.get(replica.id) is not replica:
            # Terminated while it shut down. Its exit was the reboot's to handle, so the
            # replacement is too.
            self._track(self._replacements, self._replace(replica.id, replica.slot))
            return
        try:
            await _wait_group_gone(replica.process.pid)
            started = await self._spawn(
                replica.slot, instance_id=replica.id, port=replica.port, rebooting=replica
            )
        except ProviderError as error:
            # Like an instance that does not come back from a reboot: gone, and replaced.
            log.error("%s: rebooting %s failed: %s", self.target, replica.id, error)
            if self._live.get(replica.id) is replica:
                del self._live[replica.id]
            if not self._stopping:
                self._track(self._replacements, self._replace(replica.id, replica.slot))
            return
        if started is not None:
            await self._await_first_health(started)

    async def _await_first_health(self, replica: _Replica) -> None:
        """End the reboot at the first healthy probe even when nobody asks for the state, so
        that a replica failing its checks later shows as unhealthy, not as still rebooting."""

        async def still_booting() -> bool:
            return self._live.get(replica.id) is replica and self._is_rebooting(replica)

        retrying = AsyncRetrying(
            stop=stop_after_delay(self._boot_timeout),
            wait=wait_fixed(BOOT_POLL_INTERVAL),
            retry=retry_if_result(bool),
        )
        try:
            await retrying(still_booting)
        except RetryError:
            log.warning(
                "%s: %s was not healthy %gs after its reboot; it counts as unhealthy from now on",
                self.target,
                replica.id,
                self._boot_timeout,
            )
            replica.booting = False

    async def _replace(self, dead_id: str, slot: int) -> None:
        await asyncio.sleep(self.spec.replace_delay)
        if self._stopping:
            return
        try:
            await self._spawn(slot)
        except ProviderError as error:
            # Keep trying like an auto-scaling group would; the failure shows as missing capacity.
            log.error("%s: replacing %s failed: %s", self.target, dead_id, error)
            self._track(self._replacements, self._replace(dead_id, slot))

    def _track(self, tasks: set[asyncio.Task[None]], coroutine: Coroutine[Any, Any, None]) -> None:
        # Held in a set: the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def _new_handle(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(6)}"


def _gone(replica: _Replica) -> bool:
    return replica.terminated or replica.process.returncode is not None


def _kill(processes: Sequence[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()


async def _wait_group_gone(pgid: int) -> None:
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


def _replica_setup() -> None:
    """``preexec_fn`` of a replica: a process group of its own, so that signals reach whatever
    the command forks (``process_group=0`` would do, but uvloop refuses it), and dead with its
    parent."""
    os.setpgid(0, 0)
    kill_when_parent_dies()


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
