"""Faults are typed frozen values: what users write (``"200ms"``, ``"50%"``, tags) is checked
and normalised once by the constructor, into seconds, shares and one selection mode."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.strategies import anything, selection_modes, tag_filters

from chaoskit import faults
from chaoskit.errors import ConfigError
from chaoskit.testing import FakeEnvironment

millis = st.integers(min_value=1, max_value=600_000)
# (what the user writes, the seconds it means), for the units durations.py reads
durations = st.one_of(
    millis.map(lambda ms: (f"{ms}ms", ms / 1000)),
    st.integers(min_value=0, max_value=3600).map(lambda s: (f"{s}s", float(s))),
    st.integers(min_value=0, max_value=120).map(lambda m: (f"{m}m", m * 60.0)),
    st.integers(min_value=0, max_value=3600).map(lambda s: (s, float(s))),
    millis.map(lambda ms: (timedelta(milliseconds=ms), ms / 1000)),
)
positive_durations = durations.filter(lambda written_and_seconds: written_and_seconds[1] > 0)
# (what the user writes, the share it means), above 0 and at most 1
shares = st.one_of(
    st.integers(min_value=1, max_value=100).map(lambda p: (f"{p}%", p / 100)),
    st.integers(min_value=1, max_value=1000).map(lambda t: (t / 1000, t / 1000)),
)
NETWORK_FAULTS = [
    lambda **kw: faults.Latency(delay="100ms", **kw),
    lambda **kw: faults.Bandwidth(rate="100KB/s", **kw),
    lambda **kw: faults.Blackhole(**kw),
    lambda **kw: faults.ResetConnections(**kw),
    lambda **kw: faults.SlowClose(delay="1s", **kw),
    lambda **kw: faults.Timeout(after="1s", **kw),
    lambda **kw: faults.HttpErrors(**kw),
]
INSTANCE_FAULTS = [
    faults.TerminateInstances,
    faults.StopInstances,
    faults.RebootInstances,
    faults.StressCpu,
]


@given(positive_durations, durations)
def test_durations_are_seconds_from_definition_on(delay: tuple, jitter: tuple) -> None:
    (written_delay, delay_seconds), (written_jitter, jitter_seconds) = delay, jitter
    assume(jitter_seconds <= delay_seconds)  # a delay cannot go below zero
    fault = faults.Latency(target="web", delay=written_delay, jitter=written_jitter)
    assert fault.delay == pytest.approx(delay_seconds) and isinstance(fault.delay, float)
    assert fault.jitter == pytest.approx(jitter_seconds) and isinstance(fault.jitter, float)
    assert fault.network_fault().delay == fault.delay
    assert dataclasses.replace(fault) == fault  # normalised values are valid input


@given(shares, st.sampled_from(NETWORK_FAULTS))
def test_toxicity_is_a_share_however_written(share: tuple, build) -> None:
    written, expected = share
    fault = build(target="web", toxicity=written)
    assert fault.toxicity == pytest.approx(expected) and isinstance(fault.toxicity, float)


@given(selection_modes, tag_filters, st.sampled_from(INSTANCE_FAULTS + NETWORK_FAULTS))
def test_exactly_one_selection_mode_is_set(mode: dict, tags: dict | None, build) -> None:
    fault = build(target="web", tags=tags, **mode)
    assert (fault.count is None) != (fault.percent is None)
    assert fault.count == mode.get("count", None if "percent" in mode else 1)
    assert fault.tags == tags
    assert hash(fault) == hash(dataclasses.replace(fault))


@given(anything, st.sampled_from(["delay", "jitter", "toxicity", "count", "percent", "tags"]))
def test_any_bad_argument_is_a_config_error_naming_the_fault(value: object, name: str) -> None:
    arguments: dict[str, object] = {"target": "web", "delay": "200ms", name: value}
    try:
        faults.Latency(**arguments)
    except ConfigError as error:
        assert "Latency(" in str(error)


@pytest.mark.parametrize("build", INSTANCE_FAULTS + NETWORK_FAULTS)
def test_a_fault_cannot_be_changed_after_definition(build) -> None:
    fault = build(target="web")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fault.count = 3


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: faults.Bandwidth(target="echo", rate="fast"), "not a transfer rate"),
        (lambda: faults.Latency(target="echo", delay="1s", toxicity="150%"), "share above 0"),
        (lambda: faults.Latency(target="echo", delay=0), r"Latency\(delay=0\) must be above"),
        (
            lambda: faults.Latency(target="echo", delay="1s", direction="sideways"),
            r"Latency\(target='echo', \.\.\.\): .*direction",
        ),
        (lambda: faults.Timeout(target="echo", after="0s"), r"Timeout\(after='0s'\)"),
        (
            lambda: faults.TerminateInstances(target="web", replace_timeout="soon"),
            r"TerminateInstances\(replace_timeout='soon'\) is not a duration",
        ),
        (lambda: faults.StressCpu(target="web", workers=0), r"StressCpu\(workers=0\)"),
        (lambda: faults.StopInstances(target="", count=1), "name a target"),
    ],
)
def test_bad_arguments_say_which_fault_and_which_argument(build, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_latency_limited_to_sources_is_refused_where_the_provider_cannot_do_it() -> None:
    fault = faults.Latency(target="web", delay="100ms", sources="S3")
    assert fault.sources == ("S3",)
    with pytest.raises(ConfigError) as refused:
        fault.plan(FakeEnvironment(), random.Random(0))
    message = str(refused.value)
    assert "Latency 100ms to S3 on 1 of web" in message
    assert "environment 'fake' (provider 'fake')" in message
    assert 'provider = "aws"' in message
    assert "without sources" in message


@pytest.mark.parametrize("sources", [[""], "", ["S3,DYNAMODB"], ["10.0.0.0/16 "], [3], {"S3": 1}])
def test_latency_sources_must_each_be_one_source(sources: object) -> None:
    with pytest.raises(ConfigError, match=r"Latency\(sources="):
        faults.Latency(target="web", delay="100ms", sources=sources)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        # Each a decimal the parser reads, then overflows or rounds to nothing in arithmetic.
        (lambda t: faults.Latency(target="web", delay="1ms", toxicity=t), "Latency(toxicity)"),
        (lambda t: faults.Blackhole(target="web", toxicity=t), "Blackhole(toxicity)"),
    ],
)
@pytest.mark.parametrize("toxicity", ["1e999999999%", "1e-999999999", "1e-999999999%"])
def test_a_toxicity_out_of_decimal_range_is_a_config_error_naming_it(
    build, field: str, toxicity: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        build(toxicity)
    assert f"{field}={toxicity!r}" in str(refused.value)
    assert "share above 0 and at most 1" in str(refused.value)


@pytest.mark.parametrize(
    "rate", ["9" * 400 + "KB/s", 10**400, 1e308 * 10, "0." + "0" * 400 + "1B/s"]
)
def test_a_rate_out_of_range_is_a_config_error_naming_it(rate: object) -> None:
    with pytest.raises(ConfigError, match=r"Bandwidth\(rate\)="):
        faults.Bandwidth(target="web", rate=rate)
