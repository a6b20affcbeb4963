"""Stopping, rebooting and CPU-stressing replicas of the local fleet: real processes on 127.0.0.1.

Each fault is observed from a client talking to the replica's own address, before, during and
after it; the last tests check that nothing a fault started outlives its environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from local_system_support import (
    family,
    get,
    gone,
    kill_survivors,
    retrying,
    started_by_a_parent,
    system_command,
    wait_all_gone,
)
from tenacity import (
    AsyncRetrying,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from chaoskit import faults
from chaoskit.errors import ConfigError, ProviderError
from chaoskit.experiment import read_events, unreverted_intents
from chaoskit.providers.local import LocalEnvironment, LocalTarget
from chaoskit.providers.local.config import TargetSpec
from chaoskit.providers.local.system import fleet as fleet_module
from chaoskit.providers.local.system.fleet import Fleet

pytestmark = pytest.mark.integration

REPLICA = Path(__file__).resolve().with_name("fleet_replica.py")
COMMAND = [sys.executable, str(REPLICA), "--port", "{port}", "--instance-id", "{instance_id}"]
REPLACE_DELAY = 0.5
# About 15 ms of one core here: long enough that the scheduler's share, not the head start it
# gives a task waking from sleep, decides how long it takes (with 5 ms the stressed share
# varied from 0.26 to 0.37; with 15 ms, 0.26 to 0.28).
WORK = "/work?n=450000"
WORKERS = 3
LOCUSTFILE = Path(__file__).resolve().parents[2] / "experiments" / "locustfile.py"


@pytest.fixture(scope="module")
def health_flags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """While ``health_flags / <instance id>`` exists, that replica answers its health check 503."""
    return tmp_path_factory.mktemp("health-flags")


@pytest.fixture(scope="module")
def env(health_flags: Path) -> Iterator[LocalEnvironment]:
    environment = LocalEnvironment.start(
        {
            "web": {
                "replicas": 3,
                "replace_delay": REPLACE_DELAY,
                "tags": {"app": "demo"},
                "replica_tags": [{"zone": "a"}, {"zone": "b"}],
                "command": [*COMMAND, "--unhealthy-while", str(health_flags)],
            }
        },
        startup_timeout=20,
    )
    yield environment
    environment.close()


@pytest.fixture
def web(env: LocalEnvironment) -> Iterator[LocalTarget]:
    target = env.target("web")
    yield target
    for handle in target.active_faults():  # only left behind when the test failed
        target.remove_fault(handle)
    target.wait_healthy(timeout=10)  # each test leaves three healthy replicas behind


def whoami(address: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(get(address, "/whoami")[2])
    return result


@contextlib.asynccontextmanager
async def running(fleet: Fleet) -> AsyncIterator[Fleet]:
    """``fleet`` started, and stopped whatever happens."""
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


async def eventually(check: Callable[[], Awaitable[None]], seconds: float) -> None:
    """Await ``check`` until it stops raising AssertionError or OSError; its last error after
    ``seconds``."""
    await AsyncRetrying(
        stop=stop_after_delay(seconds),
        wait=wait_fixed(0.05),
        retry=retry_if_exception_type((AssertionError, OSError)),
        reraise=True,
    )(check)


async def holds_for_async(seconds: float, observe: Callable[[], object], expected: object) -> None:
    """``holds_for`` that lets the event loop run between observations."""

    async def observation() -> object:
        return observe()

    watching = AsyncRetrying(
        stop=stop_after_delay(seconds),
        wait=wait_fixed(0.05),
        retry=retry_if_result(lambda seen: seen == expected),
    )
    try:
        seen = await watching(observation)
    except RetryError:
        return
    raise AssertionError(f"expected {expected!r} for {seconds:g}s, saw {seen!r}")


def holds_for(seconds: float, observe: Callable[[], object], expected: object) -> None:
    """Observe until the deadline; fail at the first observation that is not ``expected``."""
    watching = Retrying(
        stop=stop_after_delay(seconds),
        wait=wait_fixed(0.1),
        retry=retry_if_result(lambda seen: seen == expected),
    )
    try:
        seen = watching(observe)
    except RetryError:
        return  # still as expected at the deadline
    raise AssertionError(f"expected {expected!r} for {seconds:g}s, saw {seen!r}")


class Replica:
    """A kept-alive connection straight to one replica, timing a CPU-bound request."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._http = http.client.HTTPConnection(host, int(port), timeout=10)

    def round_trip(self) -> tuple[float, float, float]:
        """The round trip and the replica's own time for the work, in seconds, and the share of
        a core the work got while it ran."""
        started = time.perf_counter()
        self._http.request("GET", WORK)
        response = self._http.getresponse()
        response.read()
        assert response.status == 200
        wall, cpu = map(float, response.headers["X-Work"].split())
        return time.perf_counter() - started, wall, cpu / wall

    def close(self) -> None:
        self._http.close()


def burners(pid: int) -> list[psutil.Process]:
    """The live burner processes under ``pid``."""
    found = []
    for process in family(pid):
        try:
            if "chaoskit-burner" in " ".join(process.cmdline()) and not gone(process):
                found.append(process)
        except psutil.Error:  # exited (or a zombie) while we looked
            continue
    return found


def listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    found = set()
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def still_listening(addresses: set[tuple[str, int]]) -> set[tuple[str, int]]:
    now = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    return addresses & now


def states(web: LocalTarget) -> dict[str, str]:
    return {instance.id: instance.state for instance in web.instances()}


# tags


def test_each_replica_has_its_own_tags_and_a_replacement_keeps_them(web: LocalTarget):
    before = sorted(web.instances(), key=lambda instance: instance.tags["chaoskit:slot"])
    assert [instance.tags for instance in before] == [
        {"app": "demo", "zone": "a", "chaoskit:slot": "0"},
        {"app": "demo", "zone": "b", "chaoskit:slot": "1"},
        {"app": "demo", "zone": "a", "chaoskit:slot": "2"},
    ]
    victim = before[1]
    web.terminate([victim.id])
    web.wait_healthy(timeout=REPLACE_DELAY + 5)
    (replacement,) = [i for i in web.instances() if i.id not in {b.id for b in before}]
    assert replacement.tags == victim.tags
    assert replacement.address != victim.address


# stop


def test_a_stopped_replica_hangs_until_started_and_the_balancer_routes_around_it(
    env: LocalEnvironment, web: LocalTarget
):
    victim, bystander, _ = web.instances()
    pid = whoami(victim.address)["pid"]
    handle = web.stop_instances([victim.id])
    try:
        assert states(web)[victim.id] == "stopped"
        assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
        assert handle in web.active_faults()
        # The kernel still accepts the connection; nobody answers on it.
        with pytest.raises(TimeoutError):
            get(victim.address, timeout=0.5)
        assert get(bystander.address)[0] == 200
        # Its health check fails on its own, and then the proxy sends fresh connections
        # only to the others.
        for attempt in retrying(5):
            with attempt:
                served = {get(web.url, timeout=0.3)[1] for _ in range(6)}
                assert victim.id not in served
    finally:
        web.remove_fault(handle)
    assert get(victim.address, timeout=2) == (200, victim.id, b"ok")
    web.wait_healthy(timeout=5)
    assert states(web)[victim.id] == "healthy"
    assert psutil.Process(pid).status() != psutil.STATUS_STOPPED
    assert handle not in web.active_faults()


# reboot


def test_a_rebooted_replica_is_rebooting_until_healthy_and_keeps_its_id_and_port(
    web: LocalTarget, health_flags: Path
):
    before = web.instances()
    victim = before[0]
    old_pid = whoami(victim.address)["pid"]
    # The restarted process fails its health check until the test removes this file, so it
    # cannot finish rebooting before the assertions below look at it.
    flag = health_flags / victim.id
    flag.touch()
    try:
        web.reboot_instances([victim.id])
        assert states(web)[victim.id] == "rebooting"
        for attempt in retrying(10):
            with attempt:
                assert whoami(victim.address)["pid"] != old_pid
        # Started again and answering, but not healthy yet: still rebooting.
        assert states(web)[victim.id] == "rebooting"
    finally:
        flag.unlink()
    web.wait_healthy(timeout=10)
    assert states(web)[victim.id] == "healthy"

    after = web.instances()
    assert [(i.id, i.address, i.tags) for i in after] == [(i.id, i.address, i.tags) for i in before]
    rebooted = whoami(victim.address)
    assert rebooted["id"] == victim.id and rebooted["pid"] != old_pid
    assert not psutil.pid_exists(old_pid) or gone(psutil.Process(old_pid))
    # Past the replace delay, still the same three: the reboot was not taken for a death.
    holds_for(REPLACE_DELAY + 0.5, lambda: [i.id for i in web.instances()], [i.id for i in before])


class RecordingBalancer:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.healthy = True

    def add_upstream(self, upstream_id: str, host: str, port: int) -> None:
        self.events.append(("add", upstream_id, str(port)))

    def remove_upstream(self, upstream_id: str) -> None:
        self.events.append(("remove", upstream_id))

    def is_healthy(self, upstream_id: str) -> bool:
        return self.healthy


def test_a_replica_that_ignores_sigterm_is_killed_to_reboot():
    balancer = RecordingBalancer()
    spec = TargetSpec(replicas=1, command=(*COMMAND, "--ignore-sigterm"))

    async def reboot() -> tuple[float, Any, Any]:
        async with running(Fleet("web", spec, balancer, reboot_grace=0.5)) as fleet:
            (before,) = fleet.replicas()
            # Up and ignoring SIGTERM before it gets one (until then SIGTERM still kills it).
            for attempt in retrying(5):
                with attempt:
                    get(before.address)
            started = time.monotonic()
            fleet.reboot_instances([before.id])

            async def restarted() -> None:
                assert fleet.replicas()[0].pid != before.pid, "never rebooted"

            await eventually(restarted, 5)
            return time.monotonic() - started, before, fleet.replicas()[0]

    took, before, after = asyncio.run(reboot())
    assert 0.5 <= took < 3
    assert (after.id, after.address, after.tags) == (before.id, before.address, before.tags)
    port = before.address.rpartition(":")[2]
    assert balancer.events[:3] == [
        ("add", before.id, port),
        ("remove", before.id),
        ("add", before.id, port),
    ]
    assert not psutil.pid_exists(before.pid) or gone(psutil.Process(before.pid))


def test_a_reboot_ends_at_the_first_healthy_probe_not_when_the_process_starts():
    balancer = RecordingBalancer()
    balancer.healthy = False

    async def reboot() -> None:
        spec = TargetSpec(replicas=1, command=tuple(COMMAND))
        async with running(Fleet("web", spec, balancer)) as fleet:
            (before,) = fleet.replicas()
            fleet.reboot_instances([before.id])

            async def restarted() -> None:
                assert fleet.replicas()[0].pid != before.pid

            await eventually(restarted, 10)
            assert fleet.replicas()[0].state == "rebooting"  # started, not healthy yet
            assert fleet.healthy_count() == 0
            balancer.healthy = True
            assert fleet.replicas()[0].state == "healthy"
            # Over once healthy: failing its checks later makes it unhealthy, not rebooting.
            balancer.healthy = False
            assert fleet.replicas()[0].state == "unhealthy"

    asyncio.run(reboot())


def test_a_replica_terminated_while_its_reboot_starts_it_again_stays_terminated_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
):
    spec = TargetSpec(replicas=1, replace_delay=0.2, command=tuple(COMMAND))
    started_by_reboot: list[int] = []

    async def scenario() -> None:
        async with running(Fleet("web", spec, RecordingBalancer())) as fleet:
            before = fleet.replicas()[0]
            real_exec = asyncio.create_subprocess_exec

            async def exec_then_terminate(*argv: Any, **kwargs: Any) -> Any:
                """The reboot's process has started, and the supervisor has not yet taken it in,
                when a terminate of the instance arrives."""
                process = await real_exec(*argv, **kwargs)
                if before.id in argv and not started_by_reboot:
                    started_by_reboot.append(process.pid)
                    fleet.terminate([before.id])
                return process

            monkeypatch.setattr(fleet_module.asyncio, "create_subprocess_exec", exec_then_terminate)
            fleet.reboot_instances([before.id])

            async def replaced() -> None:
                assert [r.id for r in fleet.replicas()] not in ([], [before.id])

            await eventually(replaced, 10)
            assert started_by_reboot
            (replacement,) = fleet.replicas()
            assert replacement.tags == before.tags
            assert replacement.pid not in (before.pid, started_by_reboot[0])

    asyncio.run(scenario())
    for pid in started_by_reboot:
        assert not psutil.pid_exists(pid) or gone(psutil.Process(pid))


def test_a_replica_terminated_while_its_reboot_shuts_it_down_is_replaced_once():
    spec = TargetSpec(replicas=1, replace_delay=0.2, command=(*COMMAND, "--ignore-sigterm"))

    async def scenario() -> None:
        async with running(Fleet("web", spec, RecordingBalancer(), reboot_grace=5)) as fleet:
            before = fleet.replicas()[0]
            for attempt in retrying(5):
                with attempt:
                    get(before.address)  # up, and so ignoring SIGTERM
            fleet.reboot_instances([before.id])
            fleet.terminate([before.id])  # while the reboot waits for it to exit

            async def replaced() -> None:
                ids = [r.id for r in fleet.replicas()]
                assert ids and before.id not in ids

            await eventually(replaced, 10)
            ids = [r.id for r in fleet.replicas()]
            await holds_for_async(spec.replace_delay + 0.5, lambda: len(fleet.replicas()), 1)
            assert [r.id for r in fleet.replicas()] == ids
            assert not psutil.pid_exists(before.pid) or gone(psutil.Process(before.pid))

    asyncio.run(scenario())


def record_forked_child(address: str, children: list[int]) -> None:
    """Add the pid of the child the replica at ``address`` forked (asked until it answers)."""
    for attempt in retrying(5):
        with attempt:
            children.append(whoami(address)["child"])


def kill_leftovers(children: list[int]) -> None:
    """Forked children still alive: only when the test failed."""
    for child in children:
        with contextlib.suppress(psutil.Error):
            psutil.Process(child).kill()


def test_a_reboot_waits_for_the_whole_process_group_and_comes_back_on_its_port():
    """A forked child that shrugs off SIGTERM holds the listening socket: it is killed once
    the leader has exited, before the command starts again on the same port."""
    spec = TargetSpec(replicas=1, command=(*COMMAND, "--fork-child"))
    children: list[int] = []

    async def scenario() -> None:
        async with running(Fleet("web", spec, RecordingBalancer())) as fleet:
            (before,) = fleet.replicas()
            record_forked_child(before.address, children)
            fleet.reboot_instances([before.id])

            async def back() -> None:
                assert len(fleet.replicas()) == 1
                replica = fleet.replicas()[0]
                assert (replica.id, replica.address) == (before.id, before.address)
                answer = await asyncio.to_thread(whoami, before.address)
                assert answer["pid"] == replica.pid != before.pid

            await eventually(back, 10)

    try:
        asyncio.run(scenario())
        assert gone(psutil.Process(children[0]))
    finally:
        kill_leftovers(children)


def test_what_a_replica_forked_dies_with_it_when_it_exits_on_its_own():
    spec = TargetSpec(replicas=1, replace_delay=0.2, command=(*COMMAND, "--fork-child"))
    children: list[int] = []

    async def scenario() -> None:
        async with running(Fleet("web", spec, RecordingBalancer())) as fleet:
            (before,) = fleet.replicas()
            record_forked_child(before.address, children)
            child = psutil.Process(children[0])
            os.kill(before.pid, signal.SIGKILL)  # the leader alone: nothing signals the group

            async def child_gone() -> None:
                assert gone(child)

            await eventually(child_gone, 5)

    try:
        asyncio.run(scenario())
    finally:
        kill_leftovers(children)


# stress


def test_a_stressed_replica_gets_its_share_of_one_core_until_the_stress_is_removed(
    env: LocalEnvironment, web: LocalTarget
):
    victim, *others = web.instances()
    replica = Replica(victim.address)
    process = psutil.Process(whoami(victim.address)["pid"])
    affinity = process.cpu_affinity()
    others_affinity = {
        o.id: psutil.Process(whoami(o.address)["pid"]).cpu_affinity() for o in others
    }
    unstressed: list[tuple[float, float, float]] = []
    stressed: list[tuple[float, float, float]] = []
    restored: list[tuple[float, float, float]] = []
    try:
        # Before, during and after, in turn, so that whatever else the machine does meanwhile
        # weighs on all three alike.
        for _ in range(3):
            unstressed += [replica.round_trip() for _ in range(5)]
            handle = web.stress_cpu([victim.id], workers=WORKERS)
            try:
                (cpu,) = process.cpu_affinity()
                spinning = burners(env.pid)
                assert len(spinning) == WORKERS
                assert all(burner.cpu_affinity() == [cpu] for burner in spinning)
                assert {
                    o.id: psutil.Process(whoami(o.address)["pid"]).cpu_affinity() for o in others
                } == others_affinity
                replica.round_trip()  # the burners get going
                stressed += [replica.round_trip() for _ in range(5)]
            finally:
                web.remove_fault(handle)
            assert process.cpu_affinity() == affinity
            for attempt in retrying(5):
                with attempt:
                    assert burners(env.pid) == []
            restored += [replica.round_trip() for _ in range(5)]
    finally:
        replica.close()

    def median(samples: list[tuple[float, float, float]], index: int) -> float:
        return statistics.median(sample[index] for sample in samples)

    round_trip = median(stressed, 0) / median(unstressed, 0)
    work = median(stressed, 1) / median(unstressed, 1)
    share, share_before = median(stressed, 2), median(unstressed, 2)
    share_after = median(restored, 2)
    print(
        f"stress, {WORKERS} workers: round trip {median(unstressed, 0) * 1000:.1f} -> "
        f"{median(stressed, 0) * 1000:.1f} ms ({round_trip:.2f}x), the replica's own time "
        f"{work:.2f}x, its share of a core {share_before:.2f} -> {share:.2f} -> "
        f"{share_after:.2f} after removal"
    )
    # Pinned beside WORKERS burners it gets at most 1/(WORKERS+1) of its core: a quarter.
    # Whatever else runs on the machine can only lower that, so this bound needs no baseline.
    assert share < 1 / (WORKERS + 1) + 0.1
    # Against its own unstressed share, measured in turn with the stressed one so that the
    # machine's load weighs on both alike. A busy machine lowers both: by a fair-share estimate,
    # with L other busy processes on two cores about 2/(L+1) unstressed and 1/(WORKERS+1+L/2)
    # stressed, which keeps their ratio under 0.7 up to about 15 of them.
    assert share < 0.7 * share_before
    # The same work took longer by about as much as its share fell (its CPU time per request
    # varies too, by up to a fifth here), and the client saw it.
    assert work > 0.6 * share_before / share
    assert round_trip > 1 + (work - 1) / 2
    # Once removed, it has regained at least half of what the stress took from it.
    assert share_after > share + (share_before - share) / 2


@pytest.mark.parametrize("how", ["terminated", "exits"])
def test_the_burners_of_a_stressed_replica_stop_when_it_dies(
    env: LocalEnvironment, web: LocalTarget, how: str
):
    victim = web.instances()[0]
    pid = whoami(victim.address)["pid"]
    handle = web.stress_cpu([victim.id], workers=2)
    try:
        spinning = burners(env.pid)
        assert len(spinning) == 2
        if how == "terminated":
            web.terminate([victim.id])
        else:
            os.kill(pid, signal.SIGKILL)  # dies on its own, as far as the fleet knows
        for attempt in retrying(5):
            with attempt:
                assert [b.pid for b in spinning if not gone(b)] == []
        assert burners(env.pid) == []
        # The fault stays listed, stressing nothing, until it is removed.
        assert handle in web.active_faults()
    finally:
        web.remove_fault(handle)
    assert handle not in web.active_faults()
    web.wait_healthy(timeout=REPLACE_DELAY + 10)
    assert burners(env.pid) == []


# the control API and refusals


def test_refusals_name_the_instance_and_the_fault_holding_it(web: LocalTarget):
    first, second, _ = web.instances()
    handle = web.stop_instances([first.id])
    try:
        with pytest.raises(
            ProviderError, match=rf"cannot stop .*{first.id} is stopped by {handle}"
        ):
            web.stop_instances([first.id, second.id])
        with pytest.raises(ProviderError, match=rf"cannot reboot .*{first.id} is stopped"):
            web.reboot_instances([first.id])
        assert states(web)[second.id] == "healthy"  # a refused request changes nothing
        with pytest.raises(ProviderError, match="i-000000000000"):
            web.stress_cpu(["i-000000000000"])
        with pytest.raises(ConfigError, match="workers=0"):
            web.stress_cpu([second.id], workers=0)
        with pytest.raises(ConfigError, match="one string"):
            web.stop_instances(second.id)  # type: ignore[arg-type]
    finally:
        web.remove_fault(handle)
        web.remove_fault(handle)  # idempotent


def test_the_control_api_lists_fleet_faults_and_removes_them_by_handle():
    config = {
        "targets": {"api": {"replicas": 2, "replica_tags": [{"zone": "a"}, {"zone": "b"}]}},
        "parent_pid": os.getpid(),
    }
    with system_command(config) as system:
        ask = system.call
        first, second = ask(op="instances", target="api")["instances"]
        assert [first["tags"], second["tags"]] == [
            {"zone": "a", "chaoskit:slot": "0"},
            {"zone": "b", "chaoskit:slot": "1"},
        ]
        stop = ask(op="stop_instances", target="api", ids=[first["id"]])["handle"]
        stress = ask(op="stress_cpu", target="api", ids=[second["id"]], workers=2)["handle"]
        assert ask(op="faults")["faults"] == [
            {"handle": stop, "target": "api", "kind": "stop", "ids": [first["id"]]},
            {
                "handle": stress,
                "target": "api",
                "kind": "stress",
                "ids": [second["id"]],
                "workers": 2,
            },
        ]
        assert ask(op="instances", target="api")["instances"][0]["state"] == "stopped"
        refused = ask(op="reboot_instances", target="api", ids=[first["id"]])
        assert refused["ok"] is False and refused["kind"] == "provider"
        bad = ask(op="stress_cpu", target="api", ids=[first["id"]], workers="2")
        assert bad["ok"] is False and bad["kind"] == "config"
        too_many = ask(op="stress_cpu", target="api", ids=[first["id"]], workers=17)
        assert too_many["kind"] == "config" and "from 1 to 16" in too_many["error"]
        assert ask(op="remove_fault", handle=stop)["removed"] is True
        assert ask(op="remove_fault", handle=stress)["removed"] is True
        assert ask(op="remove_fault", handle=stress)["removed"] is False
        assert ask(op="faults")["faults"] == []
        assert ask(op="reboot_instances", target="api", ids=[first["id"]]) == {
            "ok": True,
            "rebooting": [first["id"]],
        }
        assert ask(op="shutdown") == {"ok": True}
        assert system.process.wait(timeout=10) == 0


# the fault objects against the real environment


def test_the_faults_select_by_tags_and_revert_against_the_local_system(
    env: LocalEnvironment, web: LocalTarget
):
    rng = random.Random(1)
    stop = faults.StopInstances(target="web", tags={"zone": "b"}, start_timeout="10s")
    plan = stop.plan(env, rng)
    assert [
        web_instance.tags["zone"]
        for web_instance in web.instances()
        if web_instance.id in plan.instance_ids
    ] == ["b"]
    stopped = stop.inject(plan, env)
    assert states(web)[plan.instance_ids[0]] == "stopped"
    stopped.revert()
    assert set(states(web).values()) == {"healthy"}

    stress = faults.StressCpu(target="web", tags={"chaoskit:slot": "2"})
    plan = stress.plan(env, rng)
    stressed = stress.inject(plan, env)
    assert len(burners(env.pid)) == 1
    stressed.revert()
    stressed.revert()
    for attempt in retrying(5):
        with attempt:
            assert burners(env.pid) == []

    reboot = faults.RebootInstances(target="web", percent=34, reboot_timeout="10s")
    plan = reboot.plan(env, rng)
    assert len(plan.instance_ids) == 2  # 34% of 3, rounded up
    addresses = {i.id: i.address for i in web.instances()}
    reboot.inject(plan, env).revert()
    assert {i.id: i.address for i in web.instances()} == addresses
    assert set(states(web).values()) == {"healthy"}


# cleanup


def test_close_ends_stopped_replicas_and_burners_and_frees_every_port():
    env = LocalEnvironment.start({"web": {"replicas": 2}})
    web = env.target("web")
    first, second = web.instances()
    web.stop_instances([first.id])
    web.stress_cpu([second.id], workers=2)
    processes = family(env.pid)
    assert len(processes) == 1 + 2 + 2
    addresses = listening(processes)
    assert len(addresses) >= 1 + 1 + 2  # control, proxy, two replicas

    env.close()

    assert [p.pid for p in processes if not gone(p)] == []
    assert still_listening(addresses) == set()


def test_stopped_replicas_and_burners_die_with_a_killed_system():
    env = LocalEnvironment.start({"web": {"replicas": 2}})
    processes: list[psutil.Process] = []
    try:
        web = env.target("web")
        first, second = web.instances()
        web.stop_instances([first.id])
        web.stress_cpu([second.id])
        processes = family(env.pid)
        assert len(processes) == 1 + 2 + 1
        # No chance to clean up: only the kernel's parent-death signal ends them.
        os.kill(env.pid, signal.SIGKILL)
        wait_all_gone(processes, 5)
        env.close()
    finally:
        kill_survivors(processes)


PARENT_SCRIPT = textwrap.dedent(
    """
    import json, time
    from chaoskit.providers.local import LocalEnvironment

    env = LocalEnvironment.start({"web": {"replicas": 2}})
    web = env.target("web")
    first, second = web.instances()
    web.stop_instances([first.id])
    web.stress_cpu([second.id])
    print(json.dumps({"pid": env.pid}), flush=True)
    time.sleep(60)
    """
)


def test_stopped_replicas_and_burners_die_when_the_test_process_is_killed():
    processes: list[psutil.Process] = []
    with started_by_a_parent(PARENT_SCRIPT) as (parent, system_pid):
        try:
            processes = family(system_pid)
            assert len(processes) == 1 + 2 + 1
            assert any(p.status() == psutil.STATUS_STOPPED for p in processes)

            parent.kill()
            parent.wait()
            wait_all_gone(processes, 5)
        finally:
            kill_survivors(processes)


TAG = "CHAOSKIT_FLEET_TEST_TAG"


def tagged(tag: str) -> list[psutil.Process]:
    """Every process started under this tag (children inherit it), whatever it runs."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(TAG) == tag and not gone(process):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def snapshots(processes: list[psutil.Process]) -> list[tuple[int, str, str]]:
    """(pid, status, command line) of those still running."""
    found = []
    for process in processes:
        try:
            if not gone(process):
                found.append((process.pid, process.status(), " ".join(process.cmdline())))
        except psutil.Error:
            continue
    return found


def test_ctrl_c_with_a_stressed_and_a_stopped_replica_leaves_no_process_and_no_port(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml(
        """
[tool.chaoskit.env.local.targets.web]
replicas = 3
replica_tags = [{ zone = "a" }, { zone = "b" }, { zone = "c" }]
"""
    )
    pytester.makepyfile(
        test_interrupted=f"""
import pytest
from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust({str(LOCUSTFILE)!r}, users=10),
    steady_state=[slo.error_rate(below="5%")],
    # 50 requests/s: an error rate needs 100 in a phase's whole seconds, 3 of a 4 s one (2
    # of a 3 s one would leave none to spare: a second's count can come out one short).
    baseline="4s",
    recovery="4s",
)

def test_stress_and_stop(chaos):
    with chaos.inject(faults.StressCpu(target="web", tags={{"zone": "a"}}, workers=2)):
        chaos.inject(faults.StopInstances(target="web", tags={{"zone": "b"}}), hold="60s")
"""
    )
    tag = uuid.uuid4().hex
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_interrupted.py"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", TAG: tag},
    )
    try:
        journals = pytester.path / "reports" / "journals"

        def injected() -> int:
            paths = list(journals.glob("*.jsonl")) if journals.is_dir() else []
            return sum(e.event == "fault_injected" for p in paths for e in read_events(p))

        deadline = time.monotonic() + 60
        while injected() < 2:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("the faults were never injected:\n" + process.communicate()[0])
            time.sleep(0.2)
        # A SIGSTOP lands when the kernel next runs the replica: on a busy machine, a moment
        # after the journal says the fault is in.
        deadline = time.monotonic() + 10
        while True:
            started = tagged(tag)
            seen = snapshots(started)
            burning = any("chaoskit-burner" in command for _, _, command in seen)
            stopped = any(status == psutil.STATUS_STOPPED for _, status, _ in seen)
            if (burning and stopped) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert burning, seen
        assert stopped, seen
        addresses = listening(started)
        assert addresses and {ip for ip, _ in addresses} == {"127.0.0.1"}

        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    [path] = journals.glob("*.jsonl")
    assert unreverted_intents(path) == []
    for attempt in retrying(10):
        with attempt:
            assert snapshots(tagged(tag)) == []
    assert still_listening(addresses) == set()
