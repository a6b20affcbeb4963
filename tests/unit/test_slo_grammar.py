"""Objective strings: they parse into the same objects as the constructors, and round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import objectives

from chaoskit import slo
from chaoskit.errors import ConfigError
from chaoskit.slo import (
    AllOf,
    AnyOf,
    ErrorRateObjective,
    LatencyObjective,
    ThroughputObjective,
)

# Strings near the grammar: most do not parse, and each must fail with a clear error.
objective_like_strings = st.text(alphabet="p9<>=%&|() .*0123456789msbaselinerrorsp", max_size=30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p99<300ms", slo.latency(p=99, below="300ms")),
        ("p95<=0.25s", LatencyObjective(percentile=95, below=0.25, inclusive=True)),
        ("errors<1%", slo.error_rate(below="1%")),
        ("  errors <= 0.5 % ", ErrorRateObjective(below=0.005, inclusive=True)),
        ("rps>=200", slo.throughput(at_least=200)),
        ("availability>=99.9%", slo.availability(at_least="99.9%")),
        ("rps>=0.9*baseline", slo.throughput(of_baseline="90%")),
        ("rps > 0.5 * baseline", ThroughputObjective(of_baseline=0.5, inclusive=False)),
    ],
)
def test_strings_parse_into_the_constructors_objects(text: str, expected: object) -> None:
    assert slo.parse(text) == expected


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    p99, p90, errors = (slo.parse(t) for t in ("p99<300ms", "p90<100ms", "errors<1%"))
    assert slo.parse("p99<300ms | p90<100ms & errors<1%") == AnyOf(parts=(p99, p90 & errors))
    assert slo.parse("(p99<300ms | p90<100ms) & errors<1%") == AllOf(
        parts=(AnyOf(parts=(p99, p90)), errors)
    )
    assert p99 & p90 & errors == AllOf(parts=(p99, p90, errors))  # flattened


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("p99<300xs", 7, "unexpected 'xs'"),
        ("p99>300ms", 3, "latency is bounded from above"),
        ("errors<1", 7, "an error rate is a percentage"),
        ("rps<=200", 3, "throughput is bounded from below"),
        ("p99<300ms errors<1%", 10, "unexpected 'errors'; join objectives with & or |"),
        ("(p99<300ms", 10, "missing ')'"),
        ("latency<300ms", 0, "unexpected 'latency<300ms'"),
        ("p100<1s", 0, "a percentile lies between 0 and 100"),
        ("p99<", 4, "expected a value"),
        ("p99<300", 4, "a latency is a duration with a unit"),
        ("p99<0ms", 4, "a latency is above zero"),
    ],
)
def test_a_malformed_string_shows_itself_where_it_failed_and_an_example(
    text: str, where: int, why: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        slo.parse(text)
    message = str(caught.value)
    assert f"cannot read objective {text!r}: {why}" in message
    assert f"\n    {text}\n    {' ' * where}^\n" in message
    assert "write for example 'p99<300ms'" in message and "'availability>=99.9%'" in message


def _normalised(objective: object) -> object:
    """Nested groups of one kind flatten when parsed back: a & (b & c) is a & b & c."""
    if isinstance(objective, AllOf | AnyOf):
        parts: list[object] = []
        for part in objective.parts:
            part = _normalised(part)
            parts.extend(part.parts if type(part) is type(objective) else [part])  # type: ignore[attr-defined]
        phases = frozenset().union(*(p.phases for p in parts))  # type: ignore[attr-defined]
        return type(objective)(parts=tuple(parts), phases=phases)  # type: ignore[arg-type]
    return objective


@given(objectives)
def test_the_grammar_round_trips(objective: object) -> None:
    assert slo.parse(objective.describe()) == _normalised(objective)  # type: ignore[attr-defined]


@given(objective_like_strings)
def test_any_string_is_an_objective_or_a_config_error(text: str) -> None:
    try:
        slo.parse(text)
    except ConfigError as error:
        assert "cannot read objective" in str(error)
