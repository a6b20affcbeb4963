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
- **CPU stress**: the replica is pinned to one CPU next to busy-looping burners, and gets its
  CPU affinity back when the fault is removed (see ``cpu_stress``); a replica that dies
  takes its burners with it.

Each replica runs in a process group of its own and the signals go to the group, so a command
that forks workers (``gunicorn -w 4``) is stopped, rebooted and killed as a whole. Once the
group leader has exited, for whatever reason, the rest of its group is killed too: nothing it
forked outlives it, and a reboot starts the command again only once the whole group is gone
(its children may hold the port).

Runs in the system process. Starting, replacing, rebooting and stopping replicas are one
state machine over the live replicas (a reboot races a terminate, a replacement the fleet's
stop), so they stay together here; what a replica is lives in ``replica``, CPU stress in
``cpu_stress``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, RetryError, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.local.binaries import free_port
from chaoskit.providers.local.config import TargetSpec
from chaoskit.providers.local.system import cpu_stress
from chaoskit.providers.local.system.cpu_stress import CpuStressFault
from chaoskit.providers.local.system.replica import (
    Balancer,
    FleetFault,
    Replica,
    ReplicaStatus,
    new_instance_id,
    render_argv,
    replica_setup,
    slot_tags,
    wait_group_gone,
)
from chaoskit.vocabulary import CpuStress

log = logging.getLogger("chaoskit.local.fleet")

SHOP_COMMAND = (
    sys.executable,
    "-m",
    "chaoskit.providers.local.system.shop",
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
# A rebooted replica shows as rebooting until its first healthy probe, or for this long at most;
# after that it is an unhealthy replica like any other.
BOOT_TIMEOUT = 60.0
BOOT_POLL_INTERVAL = 0.05


@dataclass(kw_only=True)
class _Stop:
    replicas: list[Replica]
    released: bool = False

    def describe(self) -> FleetFault:
        return FleetFault(kind="stop", instance_ids=tuple(r.id for r in self.replicas))


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
        self._live: dict[str, Replica] = {}
        self._faults: dict[str, _Stop | CpuStressFault] = {}
        self._exits: set[asyncio.Task[None]] = set()
        self._replacements: set[asyncio.Task[None]] = set()
        self._reboots: set[asyncio.Task[None]] = set()
        self._stopping = False
        # Exits of replicas nobody asked to end, taken before the balancer found them healthy,
        # and the last such exit code: a command that cannot start keeps being replaced.
        self._unhealthy_exits = 0
        self._last_exit_code: int | None = None

    @property
    def desired(self) -> int:
        return self.spec.replicas

    def crash_looping(self) -> str:
        """Why this fleet's command cannot be expected to come up; "" when it can.

        Once replicas that never became healthy have exited more times than there are slots,
        at least one slot has been replaced and its command exited again: waiting out the
        start-up timeout would only repeat that.
        """
        if self._unhealthy_exits <= self.desired:
            return ""
        return (
            f"target {self.target!r}: its command exited {self._unhealthy_exits} times before "
            f"it became healthy (last exit code {self._last_exit_code}); check "
            f"targets.{self.target}.command: it must keep running and serve on {{port}}."
        )

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

    def _state(self, replica: Replica) -> str:
        # The fleet knows before the health check does: a stopped replica can still look
        # healthy for a probe interval or two.
        if self._is_rebooting(replica):
            return "rebooting"
        if replica.stopped_by is not None:
            return "stopped"
        return "healthy" if self._balancer.is_healthy(replica.id) else "unhealthy"

    def _is_rebooting(self, replica: Replica) -> bool:
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

    async def stress_cpu(self, instance_ids: Sequence[str], *, stress: CpuStress) -> str:
        """Pin each replica to one CPU shared with ``stress.workers`` burners (see
        ``cpu_stress``); returns the handle."""
        if not cpu_stress.supported():
            raise ProviderError("CPU stress needs os.sched_setaffinity, which only Linux has.")
        replicas = self._live_replicas(instance_ids)
        self._refuse_if(replicas, "stress", rebooting=True, stressed=True)
        handle = _new_handle("stress")
        fault = CpuStressFault(target=self.target, replicas=replicas, workers=stress.workers)
        # Registered before the first await: a concurrent request sees these replicas taken.
        self._faults[handle] = fault
        for replica in replicas:
            replica.stressed_by = handle
        try:
            for replica in replicas:
                await self._pin(fault, replica)
        except BaseException as error:
            self._faults.pop(handle, None)
            self._release(handle, fault)
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
            if isinstance(fault, CpuStressFault)
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

    def _live_replicas(self, instance_ids: Sequence[str]) -> list[Replica]:
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
        replicas: list[Replica],
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

    def _release(self, handle: str, fault: _Stop | CpuStressFault) -> None:
        if fault.released:
            return
        fault.released = True
        if isinstance(fault, _Stop):
            for replica in fault.replicas:
                replica.stopped_by = None
                replica.signal(signal.SIGCONT)
                log.info("%s: started %s again", self.target, replica.id)
            return
        fault.release(handle)

    def _kill_burners(self, replica: Replica) -> None:
        """The fault stays listed until it is removed, like any fault whose instances are gone."""
        fault = self._faults.get(replica.stressed_by or "")
        if isinstance(fault, CpuStressFault):
            fault.kill_burners_of(replica)

    async def _pin(self, stress: CpuStressFault, replica: Replica) -> None:
        taken = {
            cpu
            for fault in self._faults.values()
            if isinstance(fault, CpuStressFault)
            for cpu in fault.cpus
        }
        await stress.pin(replica, taken_cpus=taken)

    async def _spawn(
        self,
        slot: int,
        *,
        instance_id: str | None = None,
        port: int | None = None,
        rebooting: Replica | None = None,
    ) -> Replica | None:
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
                preexec_fn=replica_setup,
            )
        except OSError as error:
            raise ProviderError(
                f"cannot start a replica of target {self.target!r} with {argv}: {error}; "
                f"check targets.{self.target}.command"
            ) from error
        replica = Replica(
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

    async def _await_exit(self, replica: Replica) -> None:
        returncode = await replica.process.wait()
        # Whatever the replica forked, and its burners, end with it.
        replica.kill_group()
        self._kill_burners(replica)
        if replica.rebooting:
            return  # the reboot starts it again, or has it replaced if it was terminated
        if not replica.terminated:
            log.warning("%s: %s exited with code %s", self.target, replica.id, returncode)
            if not self._balancer.is_healthy(replica.id):
                self._unhealthy_exits += 1
                self._last_exit_code = returncode
            if self._live.get(replica.id) is replica:
                del self._live[replica.id]
                self._balancer.remove_upstream(replica.id)
        if self._stopping:
            return
        self._track(self._replacements, self._replace(replica.id, replica.slot))

    async def _reboot(self, replica: Replica) -> None:
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
            await wait_group_gone(replica.process.pid)
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

    async def _await_first_health(self, replica: Replica) -> None:
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

    def _track(
        self, tasks: set[asyncio.Task[None]], coroutine: Coroutine[object, object, None]
    ) -> None:
        # Held in a set: the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def _new_handle(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(6)}"
