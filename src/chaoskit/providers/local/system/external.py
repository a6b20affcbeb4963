"""A service chaoskit does not run (a docker-compose port, a local database): the proxy fronts
its addresses so network faults apply to it, and its "instances" are those addresses.

Process faults (terminate, stop, reboot, CPU stress) need the process, so they are refused
with a message that says which faults do apply.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from chaoskit.errors import ProviderError
from chaoskit.providers.local.config import TargetSpec
from chaoskit.providers.local.system.replica import Balancer, FleetFault, ReplicaStatus, slot_tags
from chaoskit.vocabulary import CpuStress


class ExternalService:
    """The fleet interface over fixed upstream addresses; instance ids are ``NAME-1``, ...

    The address at index ``slot`` is the instance in that slot, tagged like a fleet replica
    in it (``slot_tags``).
    """

    def __init__(self, target: str, spec: TargetSpec, balancer: Balancer) -> None:
        assert spec.upstreams is not None
        self.target = target
        self.spec = spec
        self._balancer = balancer
        self._addresses = {
            f"{target}-{index}": address for index, address in enumerate(spec.upstreams, 1)
        }
        self._started_at = 0.0

    @property
    def desired(self) -> int:
        return len(self._addresses)

    async def start(self) -> None:
        self._started_at = time.time()
        for upstream_id, address in self._addresses.items():
            host, _, port = address.rpartition(":")
            self._balancer.add_upstream(upstream_id, host, int(port))

    async def stop(self) -> None:
        for upstream_id in self._addresses:
            self._balancer.remove_upstream(upstream_id)

    def replicas(self) -> list[ReplicaStatus]:
        return [
            ReplicaStatus(
                id=upstream_id,
                address=address,
                pid=0,
                state="healthy" if self._balancer.is_healthy(upstream_id) else "unhealthy",
                started_at=self._started_at,
                slot=slot,
                tags=slot_tags(self.spec, slot),
            )
            for slot, (upstream_id, address) in enumerate(self._addresses.items())
        ]

    def crash_looping(self) -> str:
        return ""  # chaoskit runs no command of its own here

    def healthy_count(self) -> int:
        return sum(1 for upstream_id in self._addresses if self._balancer.is_healthy(upstream_id))

    def _refuse(self, what: str) -> ProviderError:
        return ProviderError(
            f"target {self.target!r} is an external service ({', '.join(self._addresses.values())}"
            f"); chaoskit does not run its processes, so it cannot {what} them. Network faults "
            f"(Latency, Bandwidth, Blackhole, ResetConnections, SlowClose, Timeout, HttpErrors) "
            f"apply to it; or give the target a command so chaoskit runs it."
        )

    def terminate(self, instance_ids: Sequence[str]) -> None:
        raise self._refuse("terminate")

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        raise self._refuse("stop")

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        raise self._refuse("reboot")

    async def stress_cpu(self, instance_ids: Sequence[str], *, stress: CpuStress) -> str:
        raise self._refuse("stress")

    def faults(self) -> dict[str, FleetFault]:
        return {}

    def remove_fault(self, handle: str) -> bool:
        return False
