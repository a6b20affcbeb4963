"""A supervisor that keeps N replicas of a command running, like an auto-scaling group.

A replica that dies is replaced after ``replace_delay`` seconds by a new one with a new
instance id and port; the balancer's upstream set follows every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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


def render_argv(template: Sequence[str], *, port: int, instance_id: str) -> list[str]:
    """Substitute the placeholders in each argument; other braces stay, so JSON arguments work."""
    values = {"{port}": str(port), "{instance_id}": instance_id, "{parent_pid}": str(os.getpid())}
    rendered = []
    for argument in template:
        for placeholder, value in values.items():
            argument = argument.replace(placeholder, value)
        rendered.append(argument)
    return rendered


@dataclass(frozen=True, kw_only=True)
class ReplicaStatus:
    id: str
    address: str
    pid: int
    state: str  # "healthy" or "unhealthy"
    started_at: float  # epoch seconds


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
    port: int
    process: asyncio.subprocess.Process
    started_at: float
    terminated: bool = False


class Fleet:
    def __init__(
        self, target: str, spec: TargetSpec, balancer: Balancer, *, host: str = "127.0.0.1"
    ) -> None:
        self.target = target
        self.spec = spec
        self._command = spec.command or SHOP_COMMAND
        self._balancer = balancer
        self._host = host
        self._live: dict[str, _Replica] = {}
        self._exits: set[asyncio.Task[None]] = set()
        self._replacements: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def desired(self) -> int:
        return self.spec.replicas

    async def start(self) -> None:
        for _ in range(self.spec.replicas):
            await self._spawn()

    def replicas(self) -> list[ReplicaStatus]:
        """The live replicas, oldest first."""
        return [
            ReplicaStatus(
                id=replica.id,
                address=f"{self._host}:{replica.port}",
                pid=replica.process.pid,
                state="healthy" if self._balancer.is_healthy(replica.id) else "unhealthy",
                started_at=replica.started_at,
            )
            for replica in self._live.values()
        ]

    def healthy_count(self) -> int:
        return sum(1 for replica_id in self._live if self._balancer.is_healthy(replica_id))

    def terminate(self, instance_ids: Sequence[str]) -> None:
        """SIGKILL the given replicas; they leave the live list at once and are replaced later."""
        unknown = [instance_id for instance_id in instance_ids if instance_id not in self._live]
        if unknown:
            raise ProviderError(
                f"no live instance {', '.join(map(repr, unknown))} in target "
                f"{self.target!r}; live instances are {sorted(self._live)}. "
                f"List them again: they may have been replaced."
            )
        for instance_id in instance_ids:
            replica = self._live.pop(instance_id)
            replica.terminated = True
            self._balancer.remove_upstream(instance_id)
            with contextlib.suppress(ProcessLookupError):
                replica.process.send_signal(signal.SIGKILL)
            log.info("%s: terminated %s (pid %d)", self.target, instance_id, replica.process.pid)

    async def stop(self) -> None:
        """Kill every replica and wait until each is reaped."""
        self._stopping = True
        # A replacement cancelled mid-spawn kills the process it was starting.
        for task in self._replacements:
            task.cancel()
        for instance_id in list(self._live):
            self.terminate([instance_id])
        pending = self._exits | self._replacements
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT)

    async def _spawn(self) -> None:
        port = free_port(self._host)
        instance_id = new_instance_id()
        argv = render_argv(self._command, port=port, instance_id=instance_id)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                # The system's stdout carries its ready line; replicas must not write into it.
                stdout=asyncio.subprocess.DEVNULL,
                preexec_fn=kill_when_parent_dies,
            )
        except OSError as error:
            raise ProviderError(
                f"cannot start a replica of target {self.target!r} with {argv}: {error}; "
                f"check targets.{self.target}.command"
            ) from error
        replica = _Replica(id=instance_id, port=port, process=process, started_at=time.time())
        self._live[instance_id] = replica
        self._balancer.add_upstream(instance_id, self._host, port)
        log.info("%s: started %s (pid %d, port %d)", self.target, instance_id, process.pid, port)
        exit_task = asyncio.get_running_loop().create_task(self._await_exit(replica))
        self._exits.add(exit_task)
        exit_task.add_done_callback(self._exits.discard)

    async def _await_exit(self, replica: _Replica) -> None:
        returncode = await replica.process.wait()
        if not replica.terminated:
            log.warning("%s: %s exited with code %s", self.target, replica.id, returncode)
            self._live.pop(replica.id, None)
            self._balancer.remove_upstream(replica.id)
        if self._stopping:
            return
        task = asyncio.get_running_loop().create_task(self._replace(replica.id))
        self._replacements.add(task)
        task.add_done_callback(self._replacements.discard)

    async def _replace(self, dead_id: str) -> None:
        await asyncio.sleep(self.spec.replace_delay)
        if self._stopping:
            return
        try:
            await self._spawn()
        except ProviderError as error:
            # Keep trying like an auto-scaling group would; the failure shows as missing capacity.
            log.error("%s: replacing %s failed: %s", self.target, dead_id, error)
            task = asyncio.get_running_loop().create_task(self._replace(dead_id))
            self._replacements.add(task)
            task.add_done_callback(self._replacements.discard)
