"""StopInstances, RebootInstances, StressCpu and the selectors of TerminateInstances, on fakes."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from chaoskit import faults
from chaoskit.errors import ConfigError, InjectionError, ProviderError, RevertError
from chaoskit.experiment import (
    Experiment,
    ExperimentSettings,
    JournalWriter,
    read_events,
    unreverted_intents,
)
from chaoskit.providers.local import LocalTarget, TargetSpec
from chaoskit.providers.local import control_protocol as protocol
from chaoskit.providers.local.startup import parse_config
from chaoskit.providers.local.system.control import ControlApi
from chaoskit.providers.local.system.host import System
from chaoskit.slo import error_rate
from chaoskit.testing import FakeClock, FakeEnvironment, FakeLoadDriver, FakeTarget
from chaoskit.vocabulary import MAX_CPU_STRESS_WORKERS as MAX_WORKERS

ZONES = ({"zone": "a"}, {"zone": "b"})


def zoned_env(size: int = 4, **target: object) -> FakeEnvironment:
    web = FakeTarget(name="web", size=size, tags={"app": "shop"}, replica_tags=ZONES, **target)
    return FakeEnvironment(targets={"web": web})


def test_stop_stops_the_chosen_instances_and_revert_starts_them_and_waits_healthy():
    env = zoned_env()
    web = env.target("web")
    fault = faults.StopInstances(target="web", tags={"zone": "b"}, percent=100)
    plan = fault.plan(env, random.Random(0))
    assert plan.instance_ids == ("i-000000000001", "i-000000000003")
    assert fault.describe() == "StopInstances 100% of web tagged zone=b"

    injection = fault.inject(plan, env)
    assert [i.state for i in web.instances()] == ["healthy", "stopped", "healthy", "stopped"]
    (handle,) = web.faults
    assert injection.undo == {
        "op": "remove_fault",
        "target": "web",
        "handle": handle,
        "instance_ids": list(plan.instance_ids),
    }

    injection.revert()
    injection.revert()  # idempotent
    assert web.faults == {}
    assert {i.state for i in web.instances()} == {"healthy"}


def test_a_stop_that_cannot_be_undone_or_does_not_recover_is_a_revert_error():
    env = zoned_env()
    web = env.target("web")
    fault = faults.StopInstances(target="web", start_timeout="5s")
    injection = fault.inject(fault.plan(env, random.Random(0)), env)
    web.fail_remove = True
    with pytest.raises(
        RevertError, match=r"\(stop-\d+\) is still active on i-0+\d of target 'web'"
    ):
        injection.revert()
    web.fail_remove = False

    def never_healthy(timeout: float) -> None:
        raise ProviderError("1 of 4 healthy")

    web.wait_healthy = never_healthy  # type: ignore[method-assign]
    with pytest.raises(
        RevertError, match=r"did not return to capacity within 5s after starting i-.*1 of 4"
    ):
        injection.revert()
    assert web.faults == {}  # started again, only not healthy yet

    removals: list[str] = []
    web.remove_fault = removals.append  # type: ignore[method-assign]
    web.wait_healthy = lambda timeout: None  # type: ignore[method-assign]
    injection.revert()
    injection.revert()
    assert removals == []  # removed once, by the revert that got that far


def test_a_refused_stop_is_an_injection_error_naming_the_instances():
    env = zoned_env(fail_actions=True)
    fault = faults.StopInstances(target="web", count=2)
    plan = fault.plan(env, random.Random(0))
    with pytest.raises(InjectionError, match=rf"StopInstances 2 of web on {plan.instance_ids[0]}"):
        fault.inject(plan, env)


def test_a_stop_whose_request_failed_after_taking_effect_is_removed_again():
    env = zoned_env(fail_after_adding=True)
    fault = faults.StopInstances(target="web")
    with pytest.raises(InjectionError, match="timed out"):
        fault.inject(fault.plan(env, random.Random(0)), env)
    assert env.target("web").faults == {}


def test_reboot_reboots_and_revert_waits_until_healthy():
    env = zoned_env()
    web = env.target("web")
    fault = faults.RebootInstances(target="web", count=2, reboot_timeout=10)
    plan = fault.plan(env, random.Random(3))
    injection = fault.inject(plan, env)
    assert web.rebooted == list(plan.instance_ids)
    assert injection.undo == {"op": "wait_healthy", "target": "web"}
    waited: list[float] = []
    web.wait_healthy = waited.append  # type: ignore[method-assign]
    injection.revert()
    injection.revert()
    assert waited == [10.0]

    web.fail_actions = True
    with pytest.raises(InjectionError, match=r"RebootInstances 2 of web on i-.*refused to reboot"):
        fault.inject(plan, env)


def test_stress_holds_a_handle_until_reverted():
    env = zoned_env()
    web = env.target("web")
    fault = faults.StressCpu(target="web", workers=3)
    plan = fault.plan(env, random.Random(0))
    assert plan.details == {"workers": 3}
    assert fault.describe() == "StressCpu 3 workers on 1 of web"
    injection = fault.inject(plan, env)
    (handle,) = web.faults
    assert handle.startswith("stress-") and web.faults[handle] == plan.instance_ids
    assert injection.undo == {
        "op": "remove_fault",
        "target": "web",
        "handle": handle,
        "instance_ids": list(plan.instance_ids),
    }
    web.fail_remove = True
    with pytest.raises(RevertError, match=rf"StressCpu 3 workers .*\({handle}\) is still active"):
        injection.revert()
    web.fail_remove = False
    injection.revert()
    injection.revert()
    assert web.faults == {}


def test_stressing_one_instance_lightly_is_mild_and_all_of_them_hard_is_severe():
    env = zoned_env()
    rng = random.Random(0)
    light = faults.StressCpu(target="web").plan(env, rng).severity
    hard = faults.StressCpu(target="web", percent=100, workers=3).plan(env, rng).severity
    stop = faults.StopInstances(target="web").plan(env, rng).severity
    reboot = faults.RebootInstances(target="web").plan(env, rng).severity
    assert 1 < light < reboot < stop <= 3
    assert hard == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: faults.StopInstances(target=""), "StopInstances(target='')"),
        (lambda: faults.StopInstances(target="web", count=1, percent=5), "both set how many"),
        (lambda: faults.RebootInstances(target="web", percent=0), "RebootInstances(percent=0)"),
        (lambda: faults.StressCpu(target="web", tags={"zone": 1}), "StressCpu(tags={'zone': 1})"),
        (lambda: faults.StressCpu(target="web", workers=0), "StressCpu(workers=0)"),
        (lambda: faults.StressCpu(target="web", workers=99), "StressCpu(workers=99)"),
        (lambda: faults.StressCpu(target="web", workers=1.5), "StressCpu(workers=1.5)"),
        (
            lambda: faults.StopInstances(target="web", start_timeout="soon"),
            "StopInstances(start_timeout='soon')",
        ),
        (
            lambda: faults.RebootInstances(target="web", reboot_timeout=0),
            "RebootInstances(reboot_timeout=0)",
        ),
        (
            lambda: faults.TerminateInstances(target="web", count=2, percent=50),
            "TerminateInstances(count=2, percent=50)",
        ),
    ],
)
def test_bad_arguments_are_config_errors_naming_them(make, named):
    with pytest.raises(ConfigError) as raised:
        make()
    assert named in str(raised.value)


def test_terminate_takes_percent_and_tags_and_keeps_its_old_description():
    env = zoned_env(size=6)
    assert faults.TerminateInstances(target="web").describe() == "TerminateInstances 1 of web"
    fault = faults.TerminateInstances(target="web", percent=50, tags={"zone": "a"})
    assert fault.describe() == "TerminateInstances 50% of web tagged zone=a"
    plan = fault.plan(env, random.Random(0))
    # Half of the three zone-a instances, rounded up.
    assert len(plan.instance_ids) == 2
    assert set(plan.instance_ids) <= {"i-000000000000", "i-000000000002", "i-000000000004"}
    with pytest.raises(ConfigError, match=r"\{'zone': 'c'\} match no instance"):
        faults.TerminateInstances(target="web", tags={"zone": "c"}).plan(env, random.Random(0))


def test_faults_with_tags_stay_hashable_and_equal_by_value():
    one = faults.StopInstances(target="web", tags={"zone": "a"})
    assert one == faults.StopInstances(target="web", tags={"zone": "a"})
    assert one != faults.StopInstances(target="web", tags={"zone": "b"})
    assert hash(one) == hash(faults.StopInstances(target="web", tags={"zone": "b"}))


def test_an_experiment_journals_how_to_undo_a_stop_and_reverts_it(tmp_path: Path):
    env = zoned_env()
    experiment = Experiment(
        settings=ExperimentSettings(
            name="exp", objectives=(error_rate(below="1%"),), baseline=5.0, recovery=5.0
        ),
        env=env,
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=FakeClock(),
        rng=random.Random(1),
    )
    experiment.start()
    with experiment.inject(faults.StopInstances(target="web", tags={"zone": "a"})):
        stopped = [i.id for i in env.target("web").instances() if i.state == "stopped"]
        assert len(stopped) == 1
        experiment.clock.sleep(3)
    result = experiment.finish()
    assert result.outcome == "passed", result.reason
    events = list(read_events(experiment.journal.path))
    (injected,) = [e for e in events if e.event == "fault_injected"]
    assert injected.undo["op"] == "remove_fault"
    assert injected.undo["handle"].startswith("stop-")
    assert unreverted_intents(experiment.journal.path) == []
    assert env.target("web").faults == {}


@pytest.mark.parametrize("fault", ["terminate", "stop", "reboot", "stress"])
def test_a_plan_reads_the_instances_once_so_its_severity_is_of_the_list_it_chose_from(fault):
    env = zoned_env()
    web = env.target("web")
    listings = 0
    real_instances = web.instances

    def instances() -> Any:
        nonlocal listings
        listings += 1
        return real_instances()

    web.instances = instances  # type: ignore[method-assign]
    make = {
        "terminate": faults.TerminateInstances,
        "stop": faults.StopInstances,
        "reboot": faults.RebootInstances,
        "stress": faults.StressCpu,
    }[fault]
    make(target="web").plan(env, random.Random(0))
    assert listings == 1


def test_ending_faults_that_the_target_refuses_are_injection_errors_naming_the_instances():
    env = zoned_env(fail_terminate=True)
    fault = faults.TerminateInstances(target="web")
    plan = fault.plan(env, random.Random(0))
    with pytest.raises(
        InjectionError, match=rf"^TerminateInstances 1 of web on {plan.instance_ids[0]}"
    ):
        fault.inject(plan, env)


class _Recorder:
    """A ControlClient that records each request as its op and wire fields."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, object]]] = []

    def call(self, request: protocol.StressCpu) -> protocol.FaultAdded:
        self.requests.append((request.op, request.fields()))
        return protocol.FaultAdded(handle="stress-1")


@pytest.mark.parametrize("workers", [0, -1, MAX_WORKERS + 1, 100, True, 1.5, "2", None])
def test_stress_workers_have_one_check_and_one_limit_wherever_they_are_given(workers):
    """The fault, LocalTarget.stress_cpu and the local system's control op refuse alike."""
    with pytest.raises(ConfigError, match=rf"^StressCpu\(workers={workers!r}\).*1 to 16"):
        faults.StressCpu(target="web", workers=workers)

    control = _Recorder()
    web = LocalTarget(name="web", url="http://x", spec=TargetSpec(), control=control)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=rf"^workers={workers!r}.*1 to 16"):
        web.stress_cpu(["i-1"], workers=workers)
    assert control.requests == []  # refused before asking the system

    api = ControlApi(
        System(parse_config({"targets": {"web": {"replicas": 1}}})),
        token="t",
        on_shutdown=lambda: None,
    )
    line = json.dumps(
        {"token": "t", "op": "stress_cpu", "target": "web", "ids": [], "workers": workers}
    )
    answer = asyncio.run(api.handle(line.encode()))
    assert answer["ok"] is False and answer["kind"] == "config"
    assert answer["error"].startswith(f"workers={workers!r}") and "1 to 16" in answer["error"]


def test_the_most_stress_workers_allowed_are_accepted_everywhere():
    assert faults.StressCpu(target="web", workers=MAX_WORKERS).workers == MAX_WORKERS
    control = _Recorder()
    web = LocalTarget(name="web", url="http://x", spec=TargetSpec(), control=control)  # type: ignore[arg-type]
    assert web.stress_cpu(["i-1"], workers=MAX_WORKERS) == "stress-1"
    assert control.requests == [
        ("stress_cpu", {"target": "web", "ids": ["i-1"], "workers": MAX_WORKERS})
    ]
