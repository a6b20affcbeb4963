"""The system process's state: per target a fleet of replicas (or an external service)
behind a load-balancing fault proxy, and the Prometheus server scraping them.

``System`` is what the control API (``control.py``) acts on; ``__main__.py`` starts it, waits
until every replica is healthy and announces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local import control_protocol as protocol
from chaoskit.providers.local.config import TargetSpec
from chaoskit.providers.local.startup import SystemConfig
from chaoskit.providers.local.system.external import ExternalService
from chaoskit.providers.local.system.fleet import Fleet
from chaoskit.providers.local.system.prometheus_server import PrometheusServer, ScrapeTarget
from chaoskit.providers.local.system.proxy import Proxy
from chaoskit.providers.local.system.replica import Balancer
from chaoskit.slo.instances import InstanceTraffic

HOST = "127.0.0.1"


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


class HostedTarget:
    """One target: its proxy, and the fleet (or external service) behind it."""

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

    def misconfigured(self) -> str:
        """Why waiting for this target to become healthy is pointless (its health check is
        answered with a client error: the path is not there); "" when it is not."""
        for replica in self.fleet.replicas():
            refused = self.proxy.refused_health_check(replica.id)
            if refused:
                return (
                    f"target {self.name!r}: replica {replica.id}'s health check {refused}; "
                    f"set targets.{self.name}.health_path to a path that answers 200 when the "
                    f'service is healthy, or health_path = "" to check a TCP connect only.'
                )
        return ""

    def instances(self) -> tuple[protocol.InstanceStatus, ...]:
        return tuple(
            protocol.InstanceStatus(
                id=replica.id,
                target=self.name,
                address=replica.address,
                state=replica.state,
                tags=dict(replica.tags),
                pid=replica.pid,
                started_at=replica.started_at,
            )
            for replica in self.fleet.replicas()
        )

    def instance_traffic(self, since: float, until: float) -> tuple[InstanceTraffic, ...]:
        """What the proxy counted per instance in ``[since, until]``; a live instance's start
        is its process's, a gone one's when it joined the balancer."""
        started = {replica.id: replica.started_at for replica in self.fleet.replicas()}
        return self.proxy.counts.read(since, until, started=started)

    def health(self) -> protocol.Health:
        return protocol.Health(
            desired=self.fleet.desired,
            live=len(self.fleet.replicas()),
            healthy=self.fleet.healthy_count(),
        )


class System:
    def __init__(self, config: SystemConfig) -> None:
        self.targets = {
            name: HostedTarget(name, spec, self._fleet_changed)
            for name, spec in config.targets.items()
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

    def misconfigured(self) -> str:
        return next(filter(None, (t.misconfigured() for t in self.targets.values())), "")

    def crash_looping(self) -> str:
        return next(filter(None, (t.fleet.crash_looping() for t in self.targets.values())), "")

    def describe_unready(self) -> str:
        parts = []
        for target in self.targets.values():
            states = ", ".join(f"{r.id} {r.state}" for r in target.fleet.replicas()) or "none live"
            parts.append(
                f"{target.name}: {target.fleet.healthy_count()} of "
                f"{target.fleet.desired} healthy ({states})"
            )
        return "; ".join(parts)

    def target(self, name: str) -> HostedTarget:
        if name not in self.targets:
            raise ConfigError(
                f"no target {name!r} in the local environment; known targets are "
                f"{sorted(self.targets)}."
            )
        return self.targets[name]
