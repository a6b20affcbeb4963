"""Local targets are validated, with the bad field named, before any process starts."""

from __future__ import annotations

import pytest

from chaoskit.errors import ConfigError
from chaoskit.providers.local import LocalEnvironment
from chaoskit.providers.local.config import DEFAULT_TARGETS, TargetSpec, parse_targets
from chaoskit.providers.local.startup import parse_config
from chaoskit.providers.local.system.external import ExternalService
from chaoskit.providers.local.system.replica import render_argv


def test_settings_as_a_mapping_become_a_target_spec_with_seconds():
    targets = parse_targets(
        {"web": {"replicas": 2, "replace_delay": "500ms", "tags": {"app": "shop"}}}
    )
    assert targets == {
        "web": TargetSpec(replicas=2, replace_delay=0.5, tags={"app": "shop"}, command=None)
    }


def test_the_default_is_three_shop_replicas_named_web_replaced_after_two_seconds():
    ((name, spec),) = parse_targets(DEFAULT_TARGETS).items()
    assert (name, spec.replicas, spec.replace_delay, spec.command) == ("web", 3, 2.0, None)
    assert spec.tags == {"app": "shop", "tier": "web"}


def test_a_spec_survives_the_trip_to_the_system_process():
    spec = TargetSpec(replicas=4, replace_delay=1.5, tags={"a": "b"}, command=("srv", "{port}"))
    assert parse_targets({"api": spec.to_json()}) == {"api": spec}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"replicas": 0}, "targets.web.replicas=0"),
        ({"replicas": True}, "targets.web.replicas=True"),
        ({"replicas": "3"}, "targets.web.replicas='3'"),
        ({"replicas": 100_000_000}, "targets.web.replicas=100000000 is more than 64"),
        ({"replicas": 65}, "targets.web.replicas=65 is more than 64"),
        ({"replace_delay": "soon"}, "targets.web.replace_delay='soon'"),
        ({"replace_delay": -1}, "targets.web.replace_delay=-1"),
        ({"tags": {"app": 1}}, "targets.web.tags="),
        ({"command": ["server"]}, "never mentions {port}"),
        ({"command": []}, "targets.web.command=()"),
        ({"health_path": "health"}, "targets.web.health_path='health'"),
        ({"replica": 3}, "unknown setting(s) 'replica'"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(settings, named):
    with pytest.raises(ConfigError) as raised:
        parse_targets({"web": settings})
    assert named in str(raised.value)


@pytest.mark.parametrize("targets", [{}, [], "web", {"": {}}, {"web": 3}])
def test_bad_target_tables_are_config_errors(targets):
    with pytest.raises(ConfigError):
        parse_targets(targets)


def test_start_refuses_bad_settings_before_starting_anything():
    with pytest.raises(ConfigError, match=r"targets\.web\.replicas=-2"):
        LocalEnvironment.start({"web": {"replicas": -2}})


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"targets": {"web": {}}, "ready_timeout": 0}, "ready_timeout=0"),
        ({"targets": {"web": {}}, "parent_pid": "1"}, "parent_pid='1'"),
        ({"targets": {"web": {}}, "extra": 1}, "'extra'"),
        ({}, "targets=None"),
    ],
)
def test_the_system_config_is_checked_too(raw, named):
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    assert named in str(raised.value)


def test_command_placeholders_are_filled_and_other_braces_left_alone():
    argv = render_argv(
        ["srv", "--listen=127.0.0.1:{port}", "--name", "{instance_id}", '{"json": true}'],
        port=8080,
        instance_id="i-abc",
    )
    assert argv == ["srv", "--listen=127.0.0.1:8080", "--name", "i-abc", '{"json": true}']


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"replicas": 2}, "sets replicas together with upstreams"),
        ({"replicas": 3}, "sets replicas together with upstreams"),  # the default, still said
        ({"replace_delay": "1s"}, "sets replace_delay together with upstreams"),
        ({"command": ["srv", "{port}"]}, "sets command together with upstreams"),
        ({"command": ["srv", "{port}"], "replicas": 2}, "sets command and replicas together"),
    ],
)
def test_settings_for_a_fleet_are_refused_next_to_upstreams(settings, named):
    with pytest.raises(ConfigError) as raised:
        parse_targets({"db": {"upstreams": ["127.0.0.1:5432"], **settings}})
    message = str(raised.value)
    assert message.startswith(f"targets.db {named}")
    assert "fronts a service that already runs" in message
    assert "does not run its processes, count them or replace them" in message


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (TargetSpec(upstreams=("127.0.0.1:5432",), replicas=5), "replicas"),
        (TargetSpec(upstreams=("127.0.0.1:5432",), replace_delay="9s"), "replace_delay"),  # type: ignore[arg-type]
        (TargetSpec(upstreams=("127.0.0.1:5432",), command=("srv", "{port}")), "command"),
    ],
)
def test_a_target_spec_with_upstreams_refuses_fleet_settings_too(spec, named):
    with pytest.raises(ConfigError, match=rf"^targets\.db sets {named} together with upstreams"):
        parse_targets({"db": spec})


def test_an_external_target_keeps_its_tags_per_slot_and_survives_the_trip_to_the_system():
    (spec,) = parse_targets(
        {
            "db": {
                "upstreams": ["127.0.0.1:5432", "127.0.0.1:5433", "127.0.0.1:5434"],
                "tags": {"app": "db"},
                "replica_tags": [{"zone": "a"}, {"zone": "b"}],
            }
        }
    ).values()
    assert parse_targets({"db": spec.to_json()}) == {"db": spec}

    class Healthy:
        def add_upstream(self, upstream_id: str, host: str, port: int) -> None: ...

        def remove_upstream(self, upstream_id: str) -> None: ...

        def is_healthy(self, upstream_id: str) -> bool:
            return True

    replicas = ExternalService("db", spec, Healthy()).replicas()
    assert [(r.id, r.address, r.tags) for r in replicas] == [
        ("db-1", "127.0.0.1:5432", {"app": "db", "zone": "a", "chaoskit:slot": "0"}),
        ("db-2", "127.0.0.1:5433", {"app": "db", "zone": "b", "chaoskit:slot": "1"}),
        ("db-3", "127.0.0.1:5434", {"app": "db", "zone": "a", "chaoskit:slot": "2"}),
    ]
