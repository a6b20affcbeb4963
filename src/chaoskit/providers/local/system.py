"""The process hosting the local targets: per target a fleet of replicas behind a proxy.

Run as ``python -m chaoskit.providers.local.system [CONFIG_JSON]`` (the config is read from
stdin when no argument is given)::

    {"targets": {"web": {"replicas": 3, "replace_delay": 2.0, "tags": {"app": "shop"}}},
     "parent_pid": 1234, "ready_timeout": 20, "prometheus": false}

Once every replica is healthy it prints one JSON line to stdout and nothing else after it::

    {"ready": true, "pid": 4321, "control": "127.0.0.1:PORT", "token": "...",
     "targets": {"web": {"url": "http://127.0.0.1:PORT"}},
     "prometheus": "http://127.0.0.1:PORT" or null}

With ``"prometheus": true`` (or later, the ``start_prometheus`` op) it also runs a Prometheus
server scraping every live replica (see ``prometheus_server``).

The control API listens on ``control``: one JSON object per line in, one per line out. Every
request carries ``"token"`` and ``"op"``; see ``ControlApi`` for the operations. It shuts down
(killing every replica) on SIGTERM, SIGINT, the ``shutdown`` op, or when its parent dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaoskit.errors import ChaoskitError, ConfigError, ProviderError
from chaoskit.faults.instances import check_workers
from chaoskit.providers.local.config import TargetSpec, parse_targets
from chaoskit.providers.local.external import ExternalService
from chaoskit.providers.local.fleet import Balancer, Fleet
from chaoskit.providers.local.lifeline import watch_parent
from chaoskit.providers.local.prometheus_server import PrometheusServer, ScrapeTarget
from chaoskit.providers.local.proxy import Proxy
from chaoskit.vocabulary import NetworkFault

log = logging.getLogger("chaoskit.local.system")

HOST = "127.0.0.1"
DEFAULT_READY_TIMEOUT = 20.0
READY_POLL_INTERVAL = 0.05

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_BAD_CONFIG = 2


@dataclass(frozen=True, kw_only=True)
class SystemConfig:
    targets: Mapping[str, TargetSpec]
    parent_pid: int | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    prometheus: bool = False


def parse_config(raw: object) -> SystemConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the local system config must be a JSON object, not {raw!r}.")
    unknown = sorted(set(raw) - {"targets", "parent_pid", "ready_timeout", "prometheus"})
    if unknown:
        raise ConfigError(
            f"unknown local system setting(s) {unknown}; expected targets, parent_pid, "
            f"ready_timeout, prometheus."
        )
    prometheus = raw.get("prometheus", False)
    if not isinstance(prometheus, bool):
        raise ConfigError(f"prometheus={prometheus!r} must be true or false.")
    parent_pid = raw.get("parent_pid")
    if parent_pid is not None and (isinstance(parent_pid, bool) or not isinstance(parent_pid, int)):
        raise ConfigError(f"parent_pid={parent_pid!r} must be a process id.")
    ready_timeout = raw.get("ready_timeout", DEFAULT_READY_TIMEOUT)
    if (
        isinstance(ready_timeout, bool)
        or not isinstance(ready_timeout, int | float)
        or not math.isfinite(ready_timeout)
        or ready_timeout <= 0
    ):
        raise ConfigError(f"ready_timeout={ready_timeout!r} must be a positive number of seconds.")
    return SystemConfig(
        targets=parse_targets(raw.get("targets")),
        parent_pid=parent_pid,
        ready_timeout=float(ready_timeout),
        prometheus=prometheus,
    )


class _Watched:
    """The proxy as the fleet sees it, telling ``on_change`` about every replica that comes
    or goes (so the scrape targets follow the fleet)."""

    def __init__(self, proxy: Proxy, on_change: Callable[[], None]) -> None:
        self._proxy = proxy
        self._on_change = on_change

    def add_upstream(self, upstream_id: str, host: str, port: int) -> None:
        self._proxy.add_upstream(upstream_id, host, port)
        self._on_change()

    def remove_upstream(self, upstream_id: str) -> None:
        self._proxy.remove_upstream(upstream_id)
        self._on_change()

    def is_healthy(self, upstream_id: str) -> bool:
        return self._proxy.is_healthy(upstream_id)


class _Target:
    def __init__(self, name: str, spec: TargetSpec, on_change: Callable[[], None]) -> None:
        self.name = name
        self.spec = spec
        self.proxy = Proxy(health_path=spec.probe_path, http=spec.protocol == "http")
        balancer: Balancer = _Watched(self.proxy, on_change)
        self.fleet: Fleet | ExternalService = (
            ExternalService(name, spec, balancer)
            if spec.external
            else Fleet(name, spec, balancer, host=HOST)
        )
        self.url = ""

    async def start(self) -> None:
        try:
            host, port = await self.proxy.start(HOST, self.spec.port)
        except OSError as error:
            raise ProviderError(
                f"target {self.name!r} cannot listen on {HOST}:{self.spec.port}: {error}; "
                f"choose another port in targets.{self.name}.port, or 0 for any free one."
            ) from error
        self.url = f"{self.spec.protocol}://{host}:{port}"
        await self.fleet.start()

    async def stop(self) -> None:
        await self.fleet.stop()
        await self.proxy.close()

    def is_ready(self) -> bool:
        return len(self.fleet.replicas()) == self.fleet.desired == self.fleet.healthy_count()


class System:
    def __init__(self, config: SystemConfig) -> None:
        self.targets = {
            name: _Target(name, spec, self._fleet_changed) for name, spec in config.targets.items()
        }
        self.prometheus = PrometheusServer(host=HOST)
        self._prometheus_start: asyncio.Task[str] | None = None

    async def start(self) -> None:
        for target in self.targets.values():
            await target.start()

    async def start_prometheus(self) -> str:
        """Start the Prometheus server (once; later calls wait for the same start)."""
        if self._prometheus_start is None:
            self._prometheus_start = asyncio.get_running_loop().create_task(
                self.prometheus.start(self.scrape_targets())
            )
        try:
            return await asyncio.shield(self._prometheus_start)
        except ProviderError:
            self._prometheus_start = None  # let a later request try again
            raise

    async def stop(self) -> None:
        # Prometheus first: scraping replicas while they are killed only logs noise.
        if self._prometheus_start is not None:
            self._prometheus_start.cancel()
        await self.prometheus.stop()
        await asyncio.gather(
            *(target.stop() for target in self.targets.values()), return_exceptions=True
        )

    def scrape_targets(self) -> list[ScrapeTarget]:
        return [
            ScrapeTarget(address=replica.address, instance_id=replica.id, target=target.name)
            for target in self.targets.values()
            if not target.spec.external  # a service chaoskit does not run has no shop metrics
            for replica in target.fleet.replicas()
        ]

    def _fleet_changed(self) -> None:
        self.prometheus.update_targets(self.scrape_targets())

    def is_ready(self) -> bool:
        return all(target.is_ready() for target in self.targets.values())

    def describe_unready(self) -> str:
        parts = []
        for target in self.targets.values():
            states = ", ".join(f"{r.id} {r.state}" for r in target.fleet.replicas()) or "none live"
            parts.append(
                f"{target.name}: {target.fleet.healthy_count()} of "
                f"{target.fleet.desired} healthy ({states})"
            )
        return "; ".join(parts)

    def target(self, name: object) -> _Target:
        if not isinstance(name, str) or name not in self.targets:
            raise ConfigError(
                f"no target {name!r} in the local environment; known targets are "
                f"{sorted(self.targets)}."
            )
        return self.targets[name]


class ControlApi:
    """The operations behind the control port.

    ``targets``; ``instances``/``health`` {target}; ``terminate`` {target, ids};
    ``add_network_fault`` {target, ids, fault: NetworkFault fields} -> handle;
    ``stop_instances`` {target, ids} -> handle; ``reboot_instances`` {target, ids};
    ``stress_cpu`` {target, ids, workers} -> handle; ``remove_fault`` {handle} (any handle);
    ``faults``; ``start_prometheus`` -> url; ``ping``; ``shutdown``. Answers are
    ``{"ok": true, ...}`` or ``{"ok": false, "kind": "config"|"provider", "error": "..."}``.
    """

    def __init__(self, system: System, *, token: str, on_shutdown: Callable[[], None]) -> None:
        self._system = system
        self._token = token
        self._on_shutdown = on_shutdown
        self._ops: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "ping": lambda request: {},
            "targets": self._targets,
            "instances": self._instances,
            "health": self._health,
            "terminate": self._terminate,
            "add_network_fault": self._add_network_fault,
            "stop_instances": self._stop_instances,
            "reboot_instances": self._reboot_instances,
            "stress_cpu": self._stress_cpu,
            "remove_fault": self._remove_fault,
            "faults": self._faults,
            "start_prometheus": self._start_prometheus,
            "shutdown": self._shutdown,
        }

    async def handle(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ProviderError(f"a control request must be a JSON object, not {request!r}")
            if not secrets.compare_digest(str(request.get("token", "")), self._token):
                raise ProviderError("bad or missing control token")
            op = self._ops.get(request.get("op", ""))
            if op is None:
                raise ProviderError(f"unknown op {request.get('op')!r}; known: {sorted(self._ops)}")
            answer = op(request)
            if inspect.isawaitable(answer):
                answer = await answer
            return {"ok": True, **answer}
        except ConfigError as error:
            return {"ok": False, "kind": "config", "error": str(error)}
        except (ChaoskitError, ValueError) as error:
            return {"ok": False, "kind": "provider", "error": str(error)}
        except Exception as error:
            # One bad request must not take the control port down with it.
            log.exception("control request %r failed", line)
            return {"ok": False, "kind": "provider", "error": f"internal error: {error!r}"}

    def _targets(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "targets": {
                name: {"url": target.url, "desired": target.fleet.desired}
                for name, target in self._system.targets.items()
            }
        }

    def _instances(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        return {
            "instances": [
                {
                    "id": replica.id,
                    "target": target.name,
                    "address": replica.address,
                    "state": replica.state,
                    "tags": dict(replica.tags),
                    "pid": replica.pid,
                    "started_at": replica.started_at,
                }
                for replica in target.fleet.replicas()
            ]
        }

    def _health(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        return {
            "desired": target.fleet.desired,
            "live": len(target.fleet.replicas()),
            "healthy": target.fleet.healthy_count(),
        }

    def _terminate(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        ids = _id_list(request.get("ids"))
        target.fleet.terminate(ids)
        return {"terminated": ids}

    def _add_network_fault(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        ids = _id_list(request.get("ids"))
        fields = request.get("fault")
        if not isinstance(fields, Mapping):
            raise ConfigError(f"fault={fields!r} must be an object of NetworkFault fields.")
        try:
            spec = NetworkFault(**fields)
        except TypeError as error:
            raise ConfigError(f"fault={dict(fields)!r}: {error}") from None
        return {"handle": target.proxy.add_fault(ids, spec)}

    def _stop_instances(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        return {"handle": target.fleet.stop_instances(_id_list(request.get("ids")))}

    def _reboot_instances(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        ids = _id_list(request.get("ids"))
        target.fleet.reboot_instances(ids)
        return {"rebooting": ids}

    async def _stress_cpu(self, request: Mapping[str, Any]) -> dict[str, Any]:
        target = self._system.target(request.get("target"))
        ids = _id_list(request.get("ids"))
        workers = check_workers(request.get("workers", 1), field="workers")
        return {"handle": await target.fleet.stress_cpu(ids, workers=workers)}

    def _remove_fault(self, request: Mapping[str, Any]) -> dict[str, Any]:
        handle = request.get("handle")
        removed = isinstance(handle, str) and any(
            target.proxy.remove_fault(handle) or target.fleet.remove_fault(handle)
            for target in self._system.targets.values()
        )
        return {"removed": removed}

    def _faults(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "faults": [
                {
                    "handle": handle,
                    "target": target.name,
                    "ids": sorted(fault.upstream_ids),
                    **dataclasses.asdict(fault.spec),
                }
                for target in self._system.targets.values()
                for handle, fault in target.proxy.faults().items()
            ]
            + [
                {
                    "handle": handle,
                    "target": target.name,
                    "kind": fleet_fault.kind,
                    "ids": list(fleet_fault.instance_ids),
                    **({"workers": fleet_fault.workers} if fleet_fault.kind == "stress" else {}),
                }
                for target in self._system.targets.values()
                for handle, fleet_fault in target.fleet.faults().items()
            ]
        }

    async def _start_prometheus(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": await self._system.start_prometheus()}

    def _shutdown(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._on_shutdown()
        return {}


def _id_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"ids={value!r} must be a list of instance ids.")
    return value


async def _serve_control(api: ControlApi) -> tuple[asyncio.Server, set[asyncio.StreamWriter]]:
    writers: set[asyncio.StreamWriter] = set()

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await api.handle(line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(serve_client, HOST, 0)
    return server, writers


async def _wait_ready(system: System, stopping: asyncio.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not system.is_ready():
        if stopping.is_set() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(READY_POLL_INTERVAL)
    return True


async def run(config: SystemConfig, *, announce: Callable[[str], None]) -> int:
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
    control, control_clients = await _serve_control(api)
    try:
        try:
            await system.start()
            # Started before the replicas are healthy: its start overlaps their start-up.
            prometheus_url = await system.start_prometheus() if config.prometheus else None
        except ProviderError as error:
            log.error("%s", error)
            return EXIT_NOT_READY
        if not await _wait_ready(system, stopping, config.ready_timeout):
            if not stopping.is_set():
                log.error(
                    "not every replica became healthy within %gs: %s",
                    config.ready_timeout,
                    system.describe_unready(),
                )
            return EXIT_NOT_READY
        host, port = control.sockets[0].getsockname()[:2]
        ready = {
            "ready": True,
            "pid": os.getpid(),
            "control": f"{host}:{port}",
            "token": token,
            "targets": {name: {"url": target.url} for name, target in system.targets.items()},
            "prometheus": prometheus_url,
        }
        announce(json.dumps(ready))
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
