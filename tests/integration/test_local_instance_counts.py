"""What each instance served, as the local system's proxy counts it: a latency fault on one
of three replicas shows on that instance's row only, and a terminated instance's replacement
gets a row of its own, down to the rendered report. Real processes on 127.0.0.1."""

from __future__ import annotations

import http.client
import math
import random
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

import pytest

from chaoskit import faults
from chaoskit.experiment.result import ExperimentResult, InjectionRecord, Journal, Phase
from chaoskit.providers.local import LocalEnvironment
from chaoskit.providers.local.target import LocalTarget
from chaoskit.report import render_html
from chaoskit.slo.instances import InstanceTraffic, totals

pytestmark = pytest.mark.integration

REQUESTS_PER_PHASE = 30  # about 10 per replica: round robin over new connections
DELAY_MS = 150


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    environment = LocalEnvironment.start(
        {"web": {"replicas": 3, "replace_delay": "0.2s"}}, startup_timeout=20
    )
    yield environment
    environment.close()


@pytest.fixture
def web(env: LocalEnvironment) -> Iterator[LocalTarget]:
    target = env.target("web")
    yield target
    for handle in target.active_faults():  # only left behind when the test failed
        target.remove_fault(handle)
    target.wait_healthy(timeout=10)


def send(
    target: LocalTarget, count: int = REQUESTS_PER_PHASE, *, expect: int = 200
) -> tuple[int, int]:
    """``count`` requests, each on a new connection; the whole seconds they started in, from
    the first to the one after the last (a phase's seconds, apart from the next phase's)."""
    parts = urlsplit(target.url)
    assert parts.hostname is not None and parts.port is not None
    _next_second()
    first = int(time.time())
    for _ in range(count):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=3)
        connection.request("GET", "/health")
        status = connection.getresponse().status
        assert status == 200 or status == expect
        connection.close()
    last = int(time.time())
    _next_second()
    return first, last + 1


def _next_second() -> None:
    now = time.time()
    time.sleep(math.floor(now) + 1 - now + 0.01)


def latency_ms(instance: InstanceTraffic, seconds: tuple[int, int]) -> float:
    summed = totals(s for s in instance.seconds if seconds[0] <= s.second < seconds[1])
    assert summed.answered, f"{instance.id} answered nothing in {seconds}"
    return summed.percentile_ms(50) or 0.0


def by_id(instances: Sequence[InstanceTraffic]) -> dict[str, InstanceTraffic]:
    return {instance.id: instance for instance in instances}


def test_a_latency_on_one_of_three_instances_shows_on_its_counts_only(
    env: LocalEnvironment, web: LocalTarget
) -> None:
    started = time.time()
    before = send(web)
    fault = faults.Latency(target="web", delay=f"{DELAY_MS}ms", count=1)
    injection = fault.inject(fault.plan(env, random.Random(3)), env)
    [slow] = injection.plan.instance_ids
    try:
        during = send(web)
    finally:
        injection.revert()

    instances = by_id(web.instance_traffic(started, time.time()))
    assert len(instances) == 3 and slow in instances
    assert latency_ms(instances[slow], before) < DELAY_MS / 3
    assert latency_ms(instances[slow], during) >= DELAY_MS
    for other in set(instances) - {slow}:
        assert latency_ms(instances[other], during) < DELAY_MS / 3
    for instance in instances.values():
        in_fault = totals(s for s in instance.seconds if during[0] <= s.second < during[1])
        assert in_fault.requests >= REQUESTS_PER_PHASE // 3 - 1 and in_fault.failures == 0


def test_answers_a_fault_injected_in_an_instance_s_place_are_its_errors(
    env: LocalEnvironment, web: LocalTarget
) -> None:
    started = time.time()
    fault = faults.HttpErrors(target="web", status=503, count=1)
    injection = fault.inject(fault.plan(env, random.Random(5)), env)
    [failing] = injection.plan.instance_ids
    try:
        during = send(web, expect=503)
    finally:
        injection.revert()

    for instance in web.instance_traffic(started, time.time()):
        summed = totals(s for s in instance.seconds if during[0] <= s.second < during[1])
        assert summed.requests > 0
        if instance.id == failing:
            assert summed.errors == {"HTTP 503 (injected)": summed.requests}
        else:
            assert summed.errors == {}


def test_a_terminated_instance_and_its_replacement_each_get_a_row(
    env: LocalEnvironment, web: LocalTarget
) -> None:
    started = time.time()
    before = send(web)
    fault = faults.TerminateInstances(target="web", count=1)
    plan = fault.plan(env, random.Random(4))
    injected_at = time.time()
    injection = fault.inject(plan, env)
    injection.revert()  # waits until the target is back at capacity
    [victim] = plan.instance_ids
    after = send(web)
    finished = time.time()

    instances = by_id(web.instance_traffic(started, finished))
    assert len(instances) == 4
    gone = instances[victim]
    assert gone.gone_at is not None and injected_at <= gone.gone_at <= finished
    assert totals(s for s in gone.seconds if before[0] <= s.second < before[1]).requests > 0
    [new] = [i for i in instances.values() if i.started_at > injected_at]
    assert totals(s for s in new.seconds if after[0] <= s.second < after[1]).requests > 0

    result = ExperimentResult(
        name="test_terminate",
        env="local",
        outcome="passed",
        reason="",
        cause="",
        started=started,
        finished=finished,
        objectives=(),
        phases=(
            Phase(name="baseline", kind="baseline", start=started, end=injected_at),
            Phase(name="recovery", kind="recovery", start=injected_at, end=finished),
        ),
        injections=(
            InjectionRecord(
                injection_id="1",
                fault=fault.describe(),
                target="web",
                instance_ids=(victim,),
                injected_at=injected_at,
                reverted_at=finished,
                status="reverted",
            ),
        ),
        instances=tuple(instances.values()),
    )
    html = render_html(
        Journal(
            run_id="20261204-120000-abcdef",
            env="local",
            started=started,
            finished=finished,
            seed=0,
            experiments=(result,),
        )
    )
    assert "Per instance" in html
    assert f"<code>{new.id}</code>" in html and "came up at +" in html
    assert "left the balancer at +" in html
