"""Which instances a fault hits: count, percent and tags, never beyond the blast radius."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import TIERS, ZONES, selection_modes, tag_filters

from chaoskit.errors import ConfigError
from chaoskit.faults._selection import (
    describe_selection,
    select_instances,
    share_of,
    validate_selection,
)
from chaoskit.vocabulary import Instance

# "healthy" twice: half the instances are healthy, as in a fleet under a fault.
STATES = ("healthy", "healthy", "unhealthy", "stopped", "rebooting")


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
        st.sampled_from(TIERS),
    ),
    max_size=12,
).map(lambda specs: [instance(i, state=s, **tags) for i, (s, tags) in enumerate(specs)])


@given(fleets, tag_filters, selection_modes, st.integers(0, 2**32))
def test_never_more_than_the_blast_radius_only_matching_and_healthy(
    instances: list[Instance], tags: dict[str, str] | None, mode: dict, seed: int
) -> None:
    selection = validate_selection(tags=tags, fault="F", **mode)
    matching = [i for i in instances if tags is None or tags.items() <= i.tags.items()]
    healthy = [i for i in matching if i.state == "healthy"]
    if selection.percent is not None:
        radius = share_of(selection.percent, len(matching))
        # The percent's share, rounded up (floats only blur the exact product).
        exact = selection.percent * len(matching) / 100
        assert exact - 1e-9 <= radius <= max(1, math.ceil(exact + 1e-9))
    else:
        assert selection.count is not None
        radius = selection.count
    try:
        chosen = select_instances(
            instances,
            count=selection.count,
            percent=selection.percent,
            tags=selection.tags,
            target="web",
            rng=random.Random(seed),
        )
    except ConfigError:
        # Refused only when the filter matches nothing or too few matches are healthy.
        assert not matching or radius > len(healthy)
        return
    by_id = {i.id: i for i in instances}
    assert len(chosen) == len(set(chosen)) == radius
    assert len(chosen) <= len(healthy)
    assert all(by_id[i].state == "healthy" for i in chosen)
    assert all(tags is None or tags.items() <= by_id[i].tags.items() for i in chosen)
    assert list(chosen) == sorted(chosen)


@given(fleets, st.integers(0, 2**32))
def test_the_same_seed_chooses_the_same_instances(instances: list[Instance], seed: int) -> None:
    def choose() -> tuple[str, ...] | None:
        try:
            return select_instances(instances, percent=50, target="web", rng=random.Random(seed))
        except ConfigError:
            return None

    assert choose() == choose()


@pytest.mark.parametrize(
    ("percent", "total", "share"),
    [(10, 30, 3), (1, 3, 1), (34, 3, 2), (100, 3, 3), (50, 5, 3), (33.3, 3, 1), (0.001, 1, 1)],
)
def test_percent_rounds_up_to_at_least_one_instance(percent, total, share):
    assert share_of(percent, total) == share


def test_count_keeps_its_old_choice_for_the_same_seed():
    # rng.sample over the healthy instances, as before percent and tags existed: a seed
    # that reproduced an experiment still does.
    instances = [instance(i) for i in range(5)]
    expected = tuple(sorted(i.id for i in random.Random(7).sample(instances, 2)))
    assert select_instances(instances, count=2, target="web", rng=random.Random(7)) == expected


def test_tags_that_match_nothing_name_the_filter_and_the_instances_tags():
    instances = [instance(0, zone="a"), instance(1, zone="b")]
    with pytest.raises(ConfigError) as raised:
        select_instances(instances, tags={"zone": "c"}, target="web", rng=random.Random(0))
    message = str(raised.value)
    assert "{'zone': 'c'} match no instance of target 'web'" in message
    assert "i-000000000000 {zone=a}; i-000000000001 {zone=b}" in message


def test_too_few_healthy_matches_are_refused_with_the_states():
    instances = [instance(0, zone="a"), instance(1, state="stopped", zone="a"), instance(2)]
    with pytest.raises(
        ConfigError,
        match=r"count=2 exceeds the blast radius of target 'web' "
        r"tagged zone=a \(1 healthy of 2 instances\)",
    ):
        select_instances(instances, count=2, tags={"zone": "a"}, target="web", rng=random.Random())
    with pytest.raises(ConfigError, match=r"percent=100 means 2 of the 2 .*i-000000000001 stopped"):
        select_instances(
            instances, percent=100, tags={"zone": "a"}, target="web", rng=random.Random()
        )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"count": 2, "percent": 50}, "F(count=2, percent=50): both set how many"),
        ({"count": 0}, "F(count=0)"),
        ({"count": True}, "F(count=True)"),
        ({"percent": 0}, "F(percent=0)"),
        ({"percent": 101}, "F(percent=101)"),
        ({"percent": float("nan")}, "F(percent=nan)"),
        ({"percent": "50%"}, "F(percent='50%')"),
        ({"percent": True}, "F(percent=True)"),
        ({"tags": {}}, "F(tags={}): an empty filter"),
        ({"tags": {"zone": 1}}, "F(tags={'zone': 1})"),
        ({"tags": "zone=a"}, "F(tags='zone=a')"),
    ],
)
def test_bad_selections_are_config_errors_naming_the_argument(arguments, named):
    with pytest.raises(ConfigError) as raised:
        validate_selection(fault="F", **arguments)
    assert named in str(raised.value)


def test_no_count_and_no_percent_means_one_instance():
    selection = validate_selection(fault="F")
    assert (selection.count, selection.percent, selection.tags) == (1, None, None)
    assert validate_selection(percent=25, fault="F").count is None


def test_selections_describe_themselves():
    assert describe_selection(count=1, percent=None, tags=None, target="web") == "1 of web"
    assert describe_selection(count=None, percent=12.5, tags=None, target="web") == "12.5% of web"
    tagged = describe_selection(count=2, percent=None, tags={"zone": "a", "app": "x"}, target="w")
    assert tagged == "2 of w tagged app=x, zone=a"
