"""The control API of the system process: the server behind its control port.

Requests and replies are the typed values of ``chaoskit.providers.local.control_protocol``;
this module answers each one from the ``System`` it runs (see the protocol module for the
wire format). One bad request is answered with its error and leaves the port serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chaoskit.errors import ChaoskitError
from chaoskit.providers.local import control_protocol as protocol
from chaoskit.providers.local.system.host import HOST, System

log = logging.getLogger("chaoskit.local.system")


class ControlApi:
    """The operations behind the control port: one ``protocol`` request in, one reply out.

    ``targets``; ``instances``/``health`` {target}; ``terminate`` {target, ids};
    ``add_network_fault`` {target, ids, fault: NetworkFault fields} -> handle;
    ``stop_instances`` {target, ids} -> handle; ``reboot_instances`` {target, ids};
    ``stress_cpu`` {target, ids, workers} -> handle; ``remove_fault`` {handle} (any handle);
    ``faults``; ``instance_seconds`` {target, since, until} -> what each instance served
    per second; ``start_prometheus`` -> url; ``ping``; ``shutdown``.
    """

    def __init__(self, system: System, *, token: str, on_shutdown: Callable[[], None]) -> None:
        self._system = system
        self._token = token
        self._on_shutdown = on_shutdown

    async def handle(self, line: bytes) -> protocol.JsonObject:
        """The JSON object answering the request on ``line``."""
        try:
            request = protocol.decode_request(line, token=self._token)
            return protocol.encode_answer(await self.answer(request))
        except (ChaoskitError, ValueError) as error:
            return protocol.encode_answer(protocol.Failure.of(error))
        except Exception as error:
            # One bad request must not take the control port down with it.
            log.exception("control request %r failed", line)
            failure = protocol.Failure(kind="provider", error=f"internal error: {error!r}")
            return protocol.encode_answer(failure)

    async def answer(self, request: protocol.AnyRequest) -> protocol.Reply:
        system = self._system
        match request:
            case protocol.Ping():
                return protocol.Done()
            case protocol.ListTargets():
                return protocol.TargetsListed(
                    targets={
                        name: protocol.TargetEndpoint(url=target.url, desired=target.fleet.desired)
                        for name, target in system.targets.items()
                    }
                )
            case protocol.ListInstances(target=name):
                return protocol.InstancesListed(instances=system.target(name).instances())
            case protocol.GetHealth(target=name):
                return system.target(name).health()
            case protocol.Terminate(target=name, ids=ids):
                system.target(name).fleet.terminate(ids)
                return protocol.Terminated(ids=ids)
            case protocol.AddNetworkFault(target=name, ids=ids, fault=fault):
                return protocol.FaultAdded(handle=system.target(name).proxy.add_fault(ids, fault))
            case protocol.StopInstances(target=name, ids=ids):
                return protocol.FaultAdded(handle=system.target(name).fleet.stop_instances(ids))
            case protocol.RebootInstances(target=name, ids=ids):
                system.target(name).fleet.reboot_instances(ids)
                return protocol.Rebooting(ids=ids)
            case protocol.StressCpu(target=name, ids=ids, stress=stress):
                fleet = system.target(name).fleet
                return protocol.FaultAdded(handle=await fleet.stress_cpu(ids, stress=stress))
            case protocol.RemoveFault(handle=handle):
                removed = any(
                    target.proxy.remove_fault(handle) or target.fleet.remove_fault(handle)
                    for target in system.targets.values()
                )
                return protocol.FaultRemoved(removed=removed)
            case protocol.InstanceSeconds(target=name, since=since, until=until):
                return protocol.InstancesCounted(
                    instances=system.target(name).instance_traffic(since, until)
                )
            case protocol.ListFaults():
                return protocol.FaultsListed(faults=self._faults())
            case protocol.StartPrometheus():
                return protocol.PrometheusStarted(url=await system.start_prometheus())
            case protocol.Shutdown():
                self._on_shutdown()
                return protocol.Done()

    def _faults(self) -> tuple[protocol.FaultStatus, ...]:
        """Network faults first, then the fleets' faults on processes."""
        targets = self._system.targets.values()
        network = [
            protocol.FaultStatus(
                handle=handle,
                target=target.name,
                ids=tuple(sorted(fault.upstream_ids)),
                kind=fault.spec.kind,
                network=fault.spec,
            )
            for target in targets
            for handle, fault in target.proxy.faults().items()
        ]
        on_processes = [
            protocol.FaultStatus(
                handle=handle,
                target=target.name,
                ids=fleet_fault.instance_ids,
                kind=fleet_fault.kind,
                workers=fleet_fault.workers if fleet_fault.kind == "stress" else None,
            )
            for target in targets
            for handle, fleet_fault in target.fleet.faults().items()
        ]
        return (*network, *on_processes)


async def serve_control(api: ControlApi) -> tuple[asyncio.Server, set[asyncio.StreamWriter]]:
    """Listen on a free port of ``HOST``; returns the server and its open connections."""
    writers: set[asyncio.StreamWriter] = set()

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while line := await reader.readline():
                writer.write(protocol.dumps(await api.handle(line)))
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(serve_client, HOST, 0)
    return server, writers
