"""Per-replica tags of a local target: validated with the field named, cycled over the slots."""

from __future__ import annotations

import pytest

from chaoskit.errors import ConfigError
from chaoskit.providers.local.config import TargetSpec, parse_targets
from chaoskit.providers.local.system.replica import SLOT_TAG, slot_tags


def test_replica_tags_from_toml_cycle_over_the_slots_after_the_target_tags():
    (spec,) = parse_targets(
        {
            "web": {
                "replicas": 5,
                "tags": {"app": "shop", "zone": "none"},
                "replica_tags": [{"zone": "a"}, {"zone": "b", "rack": "2"}],
            }
        }
    ).values()
    assert spec.replica_tags == ({"zone": "a"}, {"zone": "b", "rack": "2"})
    assert [slot_tags(spec, slot) for slot in range(3)] == [
        {"app": "shop", "zone": "a", SLOT_TAG: "0"},
        {"app": "shop", "zone": "b", "rack": "2", SLOT_TAG: "1"},
        {"app": "shop", "zone": "a", SLOT_TAG: "2"},
    ]


def test_without_replica_tags_each_replica_has_the_target_tags_and_its_slot():
    spec = TargetSpec(tags={"app": "shop"})
    assert slot_tags(spec, 1) == {"app": "shop", "chaoskit:slot": "1"}


def test_replica_tags_survive_the_trip_to_the_system_process():
    spec = TargetSpec(replicas=2, replica_tags=({"zone": "a"}, {"zone": "b"}))
    assert parse_targets({"web": spec.to_json()}) == {"web": spec}
    assert parse_targets({"web": TargetSpec(replica_tags=[{"zone": "a"}])})[  # type: ignore[arg-type]
        "web"
    ].replica_tags == ({"zone": "a"},)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"replica_tags": {"zone": "a"}}, "targets.web.replica_tags={'zone': 'a'} must be a list"),
        ({"replica_tags": ["zone=a"]}, "targets.web.replica_tags=('zone=a',)"),
        ({"replica_tags": [{"zone": 1}]}, "targets.web.replica_tags=({'zone': 1},)"),
        ({"replica_tags": "a,b"}, "targets.web.replica_tags='a,b'"),
        ({"replica_tags": [{}, {"chaoskit:slot": "9"}]}, "targets.web.replica_tags[1] sets"),
        ({"tags": {"chaoskit:zone": "a"}}, "targets.web.tags sets 'chaoskit:zone'"),
    ],
)
def test_bad_replica_tags_are_config_errors_naming_the_field(settings, named):
    with pytest.raises(ConfigError) as raised:
        parse_targets({"web": settings})
    assert named in str(raised.value)
