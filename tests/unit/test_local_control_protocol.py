"""The local control API's typed messages: what one side writes, the other reads back."""

from __future__ import annotations

import json

import pytest

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local import control_protocol as protocol
from chaoskit.providers.local.startup import ReadyLine, SystemConfig, parse_config
from chaoskit.slo.instances import InstanceSecond, InstanceTraffic
from chaoskit.vocabulary import CpuStress, NetworkFault

TOKEN = "t0ken"
LATENCY = NetworkFault(kind="latency", delay=0.2, jitter=0.02)

REQUESTS: list[protocol.AnyRequest] = [
    protocol.Ping(),
    protocol.ListTargets(),
    protocol.ListInstances(target="web"),
    protocol.GetHealth(target="web"),
    protocol.Terminate(target="web", ids=("i-1", "i-2")),
    protocol.AddNetworkFault(target="web", ids=("i-1",), fault=LATENCY),
    protocol.StopInstances(target="web", ids=("i-1",)),
    protocol.RebootInstances(target="web", ids=("i-1",)),
    protocol.StressCpu(target="web", ids=("i-1",), stress=CpuStress(workers=3)),
    protocol.RemoveFault(handle="latency-1"),
    protocol.InstanceSeconds(target="web", since=1000.5, until=1060.0),
    protocol.ListFaults(),
    protocol.StartPrometheus(),
    protocol.Shutdown(),
]


def wire(request: protocol.AnyRequest, token: str = TOKEN) -> bytes:
    return protocol.dumps(request.to_json(token=token))


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda request: request.op)
def test_every_request_reads_back_as_itself(request_):
    assert protocol.decode_request(wire(request_), token=TOKEN) == request_


def test_every_op_has_one_request_type():
    assert sorted(protocol.REQUESTS) == sorted(request.op for request in REQUESTS)


def test_the_wire_keeps_its_shape():
    stress = protocol.StressCpu(target="web", ids=("i-1",), stress=CpuStress(workers=2))
    assert json.loads(wire(stress)) == {
        "op": "stress_cpu",
        "token": TOKEN,
        "target": "web",
        "ids": ["i-1"],
        "workers": 2,
    }
    added = protocol.AddNetworkFault(target="web", ids=("i-1",), fault=LATENCY)
    assert json.loads(wire(added))["fault"] == {
        "kind": "latency",
        "direction": "downstream",
        "toxicity": 1.0,
        "delay": 0.2,
        "jitter": 0.02,
        "rate": 0.0,
        "status": 0,
    }


REPLIES: list[tuple[protocol.Request[protocol.Reply], protocol.Reply]] = [
    (protocol.Ping(), protocol.Done()),
    (
        protocol.ListTargets(),
        protocol.TargetsListed(
            targets={"web": protocol.TargetEndpoint(url="http://127.0.0.1:1", desired=3)}
        ),
    ),
    (
        protocol.ListInstances(target="web"),
        protocol.InstancesListed(
            instances=(
                protocol.InstanceStatus(
                    id="i-1",
                    target="web",
                    address="127.0.0.1:2",
                    state="healthy",
                    tags={"zone": "a"},
                    pid=42,
                    started_at=1000.5,
                ),
            )
        ),
    ),
    (protocol.GetHealth(target="web"), protocol.Health(desired=3, live=3, healthy=2)),
    (protocol.Terminate(target="web", ids=("i-1",)), protocol.Terminated(ids=("i-1",))),
    (protocol.StopInstances(target="web", ids=("i-1",)), protocol.FaultAdded(handle="stop-1")),
    (protocol.RebootInstances(target="web", ids=("i-1",)), protocol.Rebooting(ids=("i-1",))),
    (protocol.RemoveFault(handle="x"), protocol.FaultRemoved(removed=False)),
    (
        protocol.ListFaults(),
        protocol.FaultsListed(
            faults=(
                protocol.FaultStatus(
                    handle="latency-1", target="web", ids=("i-1",), kind="latency", network=LATENCY
                ),
                protocol.FaultStatus(handle="stop-1", target="web", ids=("i-2",), kind="stop"),
                protocol.FaultStatus(
                    handle="stress-1", target="web", ids=("i-3",), kind="stress", workers=2
                ),
            )
        ),
    ),
    (protocol.StartPrometheus(), protocol.PrometheusStarted(url="http://127.0.0.1:9")),
    (
        protocol.InstanceSeconds(target="web", since=1000.0, until=1002.0),
        protocol.InstancesCounted(
            instances=(
                InstanceTraffic(
                    id="i-1",
                    started_at=990.25,
                    gone_at=1001.5,
                    seconds=(
                        InstanceSecond(
                            second=1000,
                            connections=2,
                            refused=1,
                            requests=40,
                            errors={"HTTP 503": 3, "HTTP 500 (injected)": 1},
                            latency={40: 30, 200: 6},
                        ),
                        InstanceSecond(second=1001),
                    ),
                ),
                InstanceTraffic(id="i-2", started_at=1001.0),
            )
        ),
    ),
]


@pytest.mark.parametrize(("request_", "reply"), REPLIES, ids=lambda value: type(value).__name__)
def test_every_reply_reads_back_as_itself(request_, reply):
    answer = json.loads(protocol.dumps(protocol.encode_answer(reply)))
    assert answer["ok"] is True
    assert request_.reply_from_json(answer) == reply


def test_fleet_faults_list_workers_only_for_a_stress():
    stop = protocol.FaultStatus(handle="stop-1", target="web", ids=("i-2",), kind="stop")
    assert stop.to_json() == {"handle": "stop-1", "target": "web", "kind": "stop", "ids": ["i-2"]}


def test_a_failure_becomes_the_exception_it_started_as():
    for error in (ConfigError("bad ids"), ProviderError("no such instance")):
        failure = protocol.Failure.of(error)
        answer = protocol.encode_answer(failure)
        assert answer == {"ok": False, "kind": failure.kind, "error": str(error)}
        raised = protocol.Failure.from_json(answer).exception()
        assert type(raised) is type(error) and str(raised) == str(error)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"op": "ping"}, ProviderError, "bad or missing control token"),
        ({"op": "ping", "token": "wrong"}, ProviderError, "bad or missing control token"),
        ({"op": "fly", "token": TOKEN}, ProviderError, "unknown op 'fly'; known: "),
        ({"op": "terminate", "token": TOKEN, "target": "web", "ids": "i-1"}, ConfigError, "ids="),
        ({"op": "health", "token": TOKEN, "target": 5}, ConfigError, "target=5"),
        (
            {"op": "add_network_fault", "token": TOKEN, "target": "web", "ids": [], "fault": 1},
            ConfigError,
            "fault=1 must be an object",
        ),
        (
            {
                "op": "add_network_fault",
                "token": TOKEN,
                "target": "web",
                "ids": [],
                "fault": {"kind": "latency", "colour": "red"},
            },
            ConfigError,
            "colour",
        ),
        (
            {"op": "stress_cpu", "token": TOKEN, "target": "web", "ids": [], "workers": 17},
            ConfigError,
            "workers=17",
        ),
        (
            {"op": "instance_seconds", "token": TOKEN, "target": "web", "since": "1", "until": 2},
            ConfigError,
            "since='1' must be a time in epoch seconds",
        ),
        (
            {"op": "instance_seconds", "token": TOKEN, "target": "web", "since": 5, "until": 2},
            ConfigError,
            "until=2 is before since=5",
        ),
    ],
)
def test_a_malformed_request_is_refused_naming_what_is_wrong(fields, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        protocol.decode_request(json.dumps(fields).encode(), token=TOKEN)


@pytest.mark.parametrize("field", ["toxicity", "delay", "jitter", "rate"])
@pytest.mark.parametrize("value", [-0.1, True, "1", float("inf"), float("nan")])
def test_a_network_fault_amount_that_is_no_number_at_least_zero_is_refused(field, value):
    with pytest.raises(ConfigError, match=rf"^latency: {field}=.* must be a number >= 0\.$"):
        NetworkFault(kind="latency", **{"delay": 1.0, field: value})


def test_a_line_that_is_not_an_object_is_refused():
    with pytest.raises(ProviderError, match="must be a JSON object"):
        protocol.decode_request(b"[1, 2]", token=TOKEN)
    with pytest.raises(ValueError):
        protocol.decode_request(b"{not json", token=TOKEN)


def test_removing_a_handle_that_cannot_exist_removes_nothing():
    line = json.dumps({"op": "remove_fault", "token": TOKEN, "handle": 5}).encode()
    assert protocol.decode_request(line, token=TOKEN) == protocol.RemoveFault(handle="")


def test_the_startup_messages_read_back_as_themselves():
    config = parse_config({"targets": {"web": {"replicas": 2}}, "parent_pid": 7})
    assert parse_config(json.loads(json.dumps(config.to_json()))) == config
    assert isinstance(config, SystemConfig)
    ready = ReadyLine(
        pid=1, control="127.0.0.1:5", token=TOKEN, target_urls={"web": "http://127.0.0.1:6"}
    )
    assert ReadyLine.from_json(json.loads(json.dumps(ready.to_json()))) == ready
    with pytest.raises(ValueError):
        ReadyLine.from_json({"ready": False})
    with pytest.raises(ValueError):
        ReadyLine.from_json({"ready": True, "pid": 1, "control": "x", "token": "t", "targets": 3})


def test_malformed_counts_in_a_reply_are_a_provider_error_naming_the_field():
    request = protocol.InstanceSeconds(target="web", since=1.0, until=2.0)
    bad = {"ok": True, "instances": [{"id": "i-1", "seconds": [{"second": 1, "requests": -1}]}]}
    with pytest.raises(ProviderError, match="requests holds -1, not a count"):
        request.reply_from_json(bad)
