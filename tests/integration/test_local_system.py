"""The local environment end to end: real replica processes behind the proxy on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest
from local_system_support import (
    family,
    kill_survivors,
    started_by_a_parent,
    still_running,
    system_command,
    wait_all_gone,
)

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local import LocalEnvironment, LocalTarget

pytestmark = pytest.mark.integration

REPLACE_DELAY = 0.5
TIMING_SLACK = 0.06  # the suite shares two cores with whatever else runs


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    environment = LocalEnvironment.start(
        {"web": {"replicas": 3, "replace_delay": REPLACE_DELAY, "tags": {"app": "shop"}}},
        startup_timeout=20,
    )
    yield environment
    environment.close()


@pytest.fixture
def web(env: LocalEnvironment) -> Iterator[LocalTarget]:
    target = env.target("web")
    yield target
    target.wait_healthy(timeout=10)  # each test leaves three healthy replicas behind


class Connection:
    """A kept-alive HTTP connection through the proxy that remembers which replica serves it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self._http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        self.instance_id = self.get("/health")[1]

    def get(self, path: str) -> tuple[int, str, bytes]:
        self._http.request("GET", path)
        response = self._http.getresponse()
        return response.status, response.headers["X-Instance-Id"], response.read()

    def round_trip(self) -> float:
        started = time.perf_counter()
        status, _, _ = self.get("/products/1")
        assert status == 200
        return time.perf_counter() - started

    def median_round_trip(self, samples: int) -> float:
        return statistics.median(self.round_trip() for _ in range(samples))

    def close(self) -> None:
        self._http.close()


def get_once(url: str, path: str = "/") -> tuple[int, str]:
    """One request on a fresh connection, so the proxy routes it anew."""
    connection = Connection(url)
    try:
        status, instance_id, _ = connection.get(path)
        return status, instance_id
    finally:
        connection.close()


def port_closed(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_requests_through_the_proxy_go_round_robin_over_three_instances(web: LocalTarget):
    instances = web.instances()
    assert len(instances) == 3
    assert all(instance.state == "healthy" for instance in instances)
    assert all(instance.id.startswith("i-") and len(instance.id) == 14 for instance in instances)
    assert sorted(
        (instance.tags for instance in instances), key=lambda tags: tags["chaoskit:slot"]
    ) == [{"app": "shop", "chaoskit:slot": str(slot)} for slot in range(3)]

    served_by = [get_once(web.url)[1] for _ in range(6)]
    assert served_by[:3] == served_by[3:]
    assert sorted(served_by[:3]) == sorted(instance.id for instance in instances)


def test_the_shop_answers_its_routes(web: LocalTarget):
    connection = Connection(web.url)
    try:
        assert connection.get("/")[0] == 200
        assert connection.get("/health")[2] == b"ok"
        assert len(json.loads(connection.get("/products")[2])) == 5
        assert json.loads(connection.get("/products/2")[2])["id"] == 2
        assert connection.get("/products/99")[0] == 404
        assert connection.get("/admin")[0] == 404
    finally:
        connection.close()


def test_latency_fault_delays_only_that_instance_and_removing_it_restores(web: LocalTarget):
    connections = {}
    for _ in range(3):
        connection = Connection(web.url)
        connections[connection.instance_id] = connection
    victim, bystander = list(connections)[:2]
    try:
        # Half the fault's delay: far above a loopback round trip on a busy machine, far
        # below a fault in place.
        normal = 0.1
        baseline = connections[victim].median_round_trip(9)
        assert baseline < normal

        handle = web.add_latency([victim], delay="200ms", jitter=0)
        try:
            delayed = connections[victim].median_round_trip(5)
            untouched = connections[bystander].median_round_trip(5)
        finally:
            web.remove_fault(handle)
        restored = connections[victim].median_round_trip(9)

        assert 0.2 <= delayed <= 0.2 + baseline + TIMING_SLACK
        assert untouched < normal
        assert restored < normal
        web.remove_fault(handle)  # idempotent
    finally:
        for connection in connections.values():
            connection.close()


def test_jittered_latency_stays_within_delay_plus_or_minus_jitter(web: LocalTarget):
    connection = Connection(web.url)
    handle = web.add_latency([connection.instance_id], delay=0.1, jitter=0.03)
    try:
        samples = [connection.round_trip() for _ in range(8)]
    finally:
        web.remove_fault(handle)
        connection.close()
    assert all(0.07 <= sample <= 0.13 + TIMING_SLACK for sample in samples)
    assert max(samples) - min(samples) > 0.005  # it does vary


def test_a_terminated_instance_is_routed_around_then_replaced(web: LocalTarget):
    before = [instance.id for instance in web.instances()]
    victim = before[0]
    failures: list[str] = []
    served: list[str] = []
    terminated_at = float("inf")
    stop = threading.Event()

    def keep_requesting() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, instance_id = get_once(web.url, "/products")
            except OSError as error:
                outcome = f"{type(error).__name__}: {error}"
            else:
                outcome = "" if status == 200 else f"HTTP {status}"
                served.append(instance_id)
            if outcome and started > terminated_at:
                failures.append(outcome)

    load = threading.Thread(target=keep_requesting)
    load.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        web.terminate([victim])
        terminated_at = time.monotonic()
        assert victim not in [instance.id for instance in web.instances()]
        web.wait_healthy(timeout=REPLACE_DELAY + 5)
        replaced_after = time.monotonic() - started
        time.sleep(0.2)
    finally:
        stop.set()
        load.join()

    after = [instance.id for instance in web.instances()]
    assert failures == []
    assert len(served) > 20
    assert victim not in after
    assert set(before) - {victim} < set(after)
    (replacement,) = set(after) - set(before)
    assert replacement in served[-20:]
    assert REPLACE_DELAY <= replaced_after < REPLACE_DELAY + 3


def test_unknown_names_are_errors_that_name_them(env: LocalEnvironment, web: LocalTarget):
    with pytest.raises(ConfigError, match=r"'db'.*\['web'\]"):
        env.target("db")
    with pytest.raises(ProviderError, match="i-000000000000"):
        web.terminate(["i-000000000000"])
    with pytest.raises(ProviderError, match="i-000000000000"):
        web.add_latency(["i-000000000000"], delay=0.1)
    with pytest.raises(ConfigError, match="one string"):
        web.terminate(web.instances()[0].id)  # type: ignore[arg-type]
    # A mix of known and unknown ids changes nothing.
    with pytest.raises(ProviderError):
        web.terminate([web.instances()[0].id, "i-000000000000"])
    assert len(web.instances()) == 3
    web.remove_fault("latency-never-issued")


def test_close_leaves_no_process_and_no_open_port():
    env = LocalEnvironment.start()  # the default: web, three shop replicas
    web = env.target("web")
    processes = family(env.pid)
    addresses = [urlsplit(web.url).netloc, *(instance.address for instance in web.instances())]
    assert len(processes) == 1 + 3
    assert {instance.tags["tier"] for instance in web.instances()} == {"web"}
    assert "started" in env.log_tail()

    env.close()
    env.close()

    assert still_running(processes) == []
    assert [address for address in addresses if not port_closed(address)] == []
    with pytest.raises(ProviderError):
        web.instances()


def test_replicas_die_with_a_killed_system_and_close_still_works():
    env = LocalEnvironment.start({"web": {"replicas": 2}})
    processes = family(env.pid)
    try:
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
    print(json.dumps({"pid": env.pid}), flush=True)
    time.sleep(60)
    """
)


def test_the_system_and_its_replicas_exit_when_their_parent_is_killed():
    processes: list[psutil.Process] = []
    with started_by_a_parent(PARENT_SCRIPT) as (parent, system_pid):
        try:
            processes = family(system_pid)
            assert len(processes) == 1 + 2

            parent.kill()
            parent.wait()
            killed_at = time.monotonic()
            wait_all_gone(processes, 5)
            assert time.monotonic() - killed_at < 3
        finally:
            kill_survivors(processes)


def test_a_replica_that_never_serves_fails_startup_at_the_timeout_with_the_log():
    # Alive but never listening: only the start-up timeout can end the wait.
    crashing = [
        sys.executable,
        "-c",
        "import sys, time; print('cannot bind {port}', file=sys.stderr, flush=True); "
        "time.sleep(60)",
    ]
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        LocalEnvironment.start(
            {"web": {"replicas": 1, "replace_delay": 0.2, "command": crashing}},
            startup_timeout=1.5,
        )
    assert time.monotonic() - started < 1.5 + 5
    message = str(raised.value)
    assert "not every replica became healthy within 1.5s" in message
    assert "cannot bind" in message


def test_the_system_command_speaks_json_lines_on_its_control_port():
    config = {"targets": {"api": {"replicas": 1}}, "parent_pid": os.getpid()}
    with system_command(config) as system:
        ready, ask = system.ready, system.ask
        assert ready["ready"] is True
        assert set(ready["targets"]) == {"api"}

        assert ask(op="ping")["ok"] is False  # no token
        token = ready["token"]
        assert ask(op="ping", token=token) == {"ok": True}
        assert ask(op="health", token=token, target="api") == {
            "ok": True,
            "desired": 1,
            "live": 1,
            "healthy": 1,
        }
        unknown = ask(op="instances", token=token, target="web")
        assert unknown["ok"] is False and unknown["kind"] == "config"
        (instance,) = ask(op="instances", token=token, target="api")["instances"]
        latency = {"kind": "latency", "delay": 0.1}
        added = ask(
            op="add_network_fault", token=token, target="api", ids=[instance["id"]], fault=latency
        )
        (listed,) = ask(op="faults", token=token)["faults"]
        assert listed["handle"] == added["handle"]
        assert {key: listed[key] for key in ("target", "ids", "kind", "delay", "direction")} == {
            "target": "api",
            "ids": [instance["id"]],
            "kind": "latency",
            "delay": 0.1,
            "direction": "downstream",
        }
        bad = ask(
            op="add_network_fault",
            token=token,
            target="api",
            ids=[instance["id"]],
            fault={"kind": "latency", "delay": -1},
        )
        assert bad["kind"] == "config" and "delay=-1" in bad["error"]
        assert ask(op="remove_fault", token=token, handle=added["handle"])["removed"] is True
        assert ask(op="remove_fault", token=token, handle=added["handle"])["removed"] is False
        assert ask(op="shutdown", token=token) == {"ok": True}
        assert system.process.wait(timeout=5) == 0
        assert not psutil.pid_exists(instance["pid"])  # killed and reaped before the exit
