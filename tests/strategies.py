"""Hypothesis strategies shared by the property tests: any value at all, objectives, and the
arguments that say which instances of a target a fault picks.

Import them as ``from tests.strategies import ...``; a strategy used by one test file only
stays in that file.
"""

from __future__ import annotations

from hypothesis import strategies as st

from chaoskit.slo import (
    AllOf,
    AnyOf,
    AvailabilityObjective,
    ErrorRateObjective,
    LatencyObjective,
    Objective,
    ThroughputObjective,
)

# -- any value at all: every argument must be a value or a clear ConfigError ----------------

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.timedeltas(),
)

# -- objectives ------------------------------------------------------------------------------

latency_objectives = st.builds(
    LatencyObjective,
    percentile=st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9]),
    below=st.integers(min_value=1, max_value=600_000).map(lambda ms: ms / 1000),
    inclusive=st.booleans(),
)
error_rate_objectives = st.builds(
    ErrorRateObjective,
    below=st.integers(min_value=1, max_value=1000).map(lambda tenths: tenths / 1000),
    inclusive=st.booleans(),
)
throughput_objectives = st.one_of(
    st.builds(
        ThroughputObjective, at_least=st.integers(1, 100_000).map(float), inclusive=st.booleans()
    ),
    st.builds(
        ThroughputObjective,
        of_baseline=st.integers(1, 200).map(lambda p: p / 100),
        inclusive=st.booleans(),
    ),
)
availability_objectives = st.builds(
    AvailabilityObjective,
    at_least=st.integers(min_value=1, max_value=100_000).map(lambda n: n / 100_000),
    inclusive=st.booleans(),
)
simple_objectives = st.one_of(
    latency_objectives, error_rate_objectives, throughput_objectives, availability_objectives
)
objectives: st.SearchStrategy[Objective] = st.recursive(
    simple_objectives,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: AllOf(parts=tuple(ps))),
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: AnyOf(parts=tuple(ps))),
    ),
    max_leaves=6,
)

# -- fault arguments: which instances of a target --------------------------------------------

ZONES = ("a", "b", "c")
TIERS = ("web", "api")
tag_filters = st.none() | st.dictionaries(
    st.sampled_from(("zone", "tier")), st.sampled_from((*ZONES, *TIERS)), min_size=1
)
# How many instances: count=, percent (more than 0, at most 100) or neither (one instance).
selection_modes = st.one_of(
    st.builds(lambda count: {"count": count}, st.integers(1, 14)),
    st.builds(
        lambda percent: {"percent": percent},
        st.floats(min_value=0.001, max_value=100) | st.integers(1, 100),
    ),
    st.just({}),
)
