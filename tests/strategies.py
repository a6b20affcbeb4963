"""Hypothesis strategies shared by the property tests: what users write (durations, percents,
objective strings, fault arguments) and what the load measures (latencies, seconds).

Import them as ``from tests.strategies import ...``; a strategy used by one test file only
stays in that file.
"""

from __future__ import annotations

from datetime import timedelta

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
from chaoskit.vocabulary import Instance

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

# -- durations, as users write them -----------------------------------------------------------

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

# -- percents and shares ----------------------------------------------------------------------

# (what the user writes, the share it means), above 0 and at most 1
shares = st.one_of(
    st.integers(min_value=1, max_value=100).map(lambda p: (f"{p}%", p / 100)),
    st.integers(min_value=1, max_value=1000).map(lambda t: (t / 1000, t / 1000)),
)
# a percent of a target's instances: more than 0, at most 100
percents = st.floats(min_value=0.001, max_value=100) | st.integers(1, 100)

# -- objectives, and the strings that parse into them --------------------------------------

latency_objectives = st.builds(
    LatencyObjective,
    percentile=st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9]),
    below=millis.map(lambda ms: ms / 1000),
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
# Strings near the grammar: most do not parse, and each must fail with a clear error.
objective_like_strings = st.text(alphabet="p9<>=%&|() .*0123456789msbaselinerrorsp", max_size=30)

# -- what the load measures -------------------------------------------------------------------

# Latencies of one second's requests in microseconds, up to 10 s.
latencies_us = st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=300)
# Values below 2048 µs are recorded exactly at 3 significant digits.
exact_latencies_us = st.lists(st.integers(min_value=1, max_value=2047), min_size=1, max_size=60)
# What one worker measured in one second: latencies, failures, requests never sent, and the
# reason the second is invalid ("" when valid).
worker_seconds = st.lists(
    st.tuples(
        st.lists(st.integers(min_value=1, max_value=10_000_000), max_size=30),
        st.integers(0, 5),
        st.integers(0, 5),
        st.sampled_from(["", "load generator busy", "load generator sent 150 ms late"]),
    ),
    min_size=1,
    max_size=5,
)

# -- fault arguments: which instances of a target --------------------------------------------

# "healthy" twice: half the instances are healthy, as in a fleet under a fault.
STATES = ("healthy", "healthy", "unhealthy", "stopped", "rebooting")
ZONES = ("a", "b", "c")


def instance(index: int, *, state: str = "healthy", **tags: str) -> Instance:
    return Instance(
        id=f"i-{index:012x}",
        target="web",
        address=f"127.0.0.1:{9000 + index}",
        state=state,
        tags=tags,
    )


fleets = st.lists(
    st.builds(
        lambda state, zone, tier: (state, {"zone": zone, "tier": tier}),
        st.sampled_from(STATES),
        st.sampled_from(ZONES),
        st.sampled_from(("web", "api")),
    ),
    max_size=12,
).map(lambda specs: [instance(i, state=s, **tags) for i, (s, tags) in enumerate(specs)])
tag_filters = st.none() | st.dictionaries(
    st.sampled_from(("zone", "tier")), st.sampled_from((*ZONES, "web", "api")), min_size=1
)
# How many instances: count=, percent= or neither (one instance).
selection_modes = st.one_of(
    st.builds(lambda count: {"count": count}, st.integers(1, 14)),
    st.builds(lambda percent: {"percent": percent}, percents),
    st.just({}),
)
