"""One target of the local system as the pytest process sees it: ``LocalTarget``.

Every call is one request to the system's control port (``ControlClient``); the system
process does the work.
"""

from __future__ import annotations

from collections.abc import Sequence

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from chaoskit.durations import Duration, parse_duration
from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local import control_protocol as protocol
from chaoskit.providers.local.client import ControlClient
from chaoskit.providers.local.config import TargetSpec
from chaoskit.slo.instances import InstanceTraffic
from chaoskit.vocabulary import CpuStress, Instance, NetworkFault

HEALTH_POLL_INTERVAL = 0.1
# Target methods that act on the processes behind a target, and their verbs.
_PROCESS_ACTIONS = {
    "terminate": "terminate",
    "stop_instances": "stop",
    "reboot_instances": "reboot",
    "stress_cpu": "stress",
}


class LocalTarget:
    """A target of the local system; implements ``chaoskit.typing.Target`` and
    ``ReportsInstances``."""

    def __init__(self, *, name: str, url: str, spec: TargetSpec, control: ControlClient) -> None:
        self.name = name
        self.spec = spec
        self._url = url
        self._control = control

    def __repr__(self) -> str:
        return f"LocalTarget(name={self.name!r}, url={self._url!r}, replicas={self.spec.replicas})"

    @property
    def url(self) -> str:
        return self._url

    @property
    def desired_capacity(self) -> int:
        upstreams = self.spec.upstreams
        return len(upstreams) if upstreams is not None else self.spec.replicas

    def check_fault(self, *, fault: str, action: str, instance_ids: Sequence[str], of: int) -> None:
        """A service chaoskit does not run (``upstreams``) takes network faults only: refused
        at plan time, so that ``chaoskit plan`` finds it before anything runs."""
        if self.spec.upstreams is None or action not in _PROCESS_ACTIONS:
            return
        raise ConfigError(
            f"{fault} on target {self.name!r}: it is an external service "
            f"({', '.join(self.spec.upstreams)}); chaoskit does not run its processes, so it "
            f"cannot {_PROCESS_ACTIONS[action]} them. Network faults (Latency, Bandwidth, "
            f"Blackhole, ResetConnections, SlowClose, Timeout, HttpErrors) apply to it; or give "
            f"the target a command so chaoskit runs it."
        )

    def instances(self) -> list[Instance]:
        """The live replicas, oldest first; a terminated one is gone from the list at once.

        ``state`` is "healthy", "unhealthy" (failing its health check), "stopped" or
        "rebooting"; ``tags`` are the replica's own (see ``TargetSpec``).
        """
        listed = self._control.call(protocol.ListInstances(target=self.name))
        return [status.instance() for status in listed.instances]

    def terminate(self, instance_ids: Sequence[str]) -> None:
        """SIGKILL the given replicas. Unknown ids are refused before any replica is killed."""
        self._control.call(protocol.Terminate(target=self.name, ids=_ids(instance_ids)))

    def add_network_fault(self, instance_ids: Sequence[str], fault: NetworkFault) -> str:
        """Apply ``fault`` to the traffic between clients and the given replicas, on
        connections already open as well as new ones. Returns the handle for ``remove_fault``.
        """
        request = protocol.AddNetworkFault(target=self.name, ids=_ids(instance_ids), fault=fault)
        return self._control.call(request).handle

    def add_latency(
        self, instance_ids: Sequence[str], *, delay: Duration, jitter: Duration = 0.0
    ) -> str:
        """Delay every response of the given replicas by ``delay ± jitter`` (uniform)."""
        fault = NetworkFault(
            kind="latency",
            delay=parse_duration(delay, field="delay"),
            jitter=parse_duration(jitter, field="jitter"),
        )
        return self.add_network_fault(instance_ids, fault)

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        """SIGSTOP the given replicas, like stopping an EC2 instance: each keeps its port but
        answers nothing, shows as "stopped", and the proxy's health check takes it out of
        rotation on its own. Returns the handle; ``remove_fault`` sends SIGCONT.
        """
        request = protocol.StopInstances(target=self.name, ids=_ids(instance_ids))
        return self._control.call(request).handle

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        """Reboot the given replicas, like an EC2 reboot: SIGTERM (SIGKILL after a few
        seconds), then the same command again with the same instance id and port. Returns at
        once; it ends on its own (``wait_healthy`` waits for it), and is not replaced.
        """
        self._control.call(protocol.RebootInstances(target=self.name, ids=_ids(instance_ids)))

    def stress_cpu(self, instance_ids: Sequence[str], *, workers: int = 1) -> str:
        """Throttle the given replicas to about 1/(workers+1) of one core: each is pinned to
        one CPU beside ``workers`` busy-looping processes pinned to the same CPU, while the
        other replicas keep every CPU they had. ``workers`` is 1 to 16. Linux only. Returns
        the handle; ``remove_fault`` kills the burners and restores the replicas' CPU affinity.
        A replica that dies takes its burners with it.
        """
        stress = CpuStress(workers=workers)
        request = protocol.StressCpu(target=self.name, ids=_ids(instance_ids), stress=stress)
        return self._control.call(request).handle

    def remove_fault(self, handle: str) -> None:
        """Undo ``add_network_fault``, ``stop_instances`` or ``stress_cpu``; an unknown or already
        removed handle is not an error."""
        self._control.call(protocol.RemoveFault(handle=handle))

    def instance_traffic(self, since: float, until: float) -> tuple[InstanceTraffic, ...]:
        """What each instance served per second in ``[since, until]``, as the proxy counted
        it (``chaoskit.typing.ReportsInstances``)."""
        request = protocol.InstanceSeconds(target=self.name, since=since, until=until)
        return self._control.call(request).instances

    def active_faults(self) -> list[str]:
        """Handles of the faults active on this target right now (latency, stop, stress)."""
        listed = self._control.call(protocol.ListFaults())
        return [fault.handle for fault in listed.faults if fault.target == self.name]

    def wait_healthy(self, timeout: float) -> None:
        """Block until every one of ``desired_capacity`` replicas is live and healthy."""
        retrying = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(HEALTH_POLL_INTERVAL),
            retry=retry_if_result(lambda health: not health.at_capacity),
        )
        try:
            retrying(self._control.call, protocol.GetHealth(target=self.name))
        except RetryError as error:
            health: protocol.Health = error.last_attempt.result()
            raise ProviderError(
                f"target {self.name!r} has {health.healthy} healthy of {health.desired} "
                f"desired instances ({health.live} live) after waiting {timeout:g}s; "
                f"states now: {self._describe_states()}."
            ) from None

    def _describe_states(self) -> str:
        return ", ".join(f"{i.id} {i.state}" for i in self.instances()) or "no live instance"


def _ids(instance_ids: Sequence[str]) -> tuple[str, ...]:
    if isinstance(instance_ids, str):
        raise ConfigError(
            f"instance_ids={instance_ids!r} is one string; pass a list such as [{instance_ids!r}]."
        )
    return tuple(instance_ids)
