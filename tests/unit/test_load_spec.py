"""``load.Locust``: every bad argument is a ConfigError naming it, before anything runs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit.errors import ConfigError
from chaoskit.load import Locust, default_workers


@pytest.fixture
def locustfile(tmp_path: Path) -> Path:
    path = tmp_path / "locustfile.py"
    path.write_text("# a locust file\n")
    return path


def test_defaults(locustfile: Path) -> None:
    spec = Locust(locustfile)
    assert (spec.users, spec.spawn_rate, spec.workers, spec.target) == (
        10,
        10.0,
        default_workers(),
        "web",
    )
    assert spec.users_per_second == 10.0
    assert (spec.rate, spec.rate_per_user, spec.remote_workers, spec.master_port) == (
        None,
        None,
        0,
        0,
    )


def test_rate_is_shared_by_the_users_and_remote_workers_need_a_known_port(
    locustfile: Path,
) -> None:
    assert Locust(locustfile, users=20, rate=300).rate_per_user == 15.0
    remote = Locust(locustfile, remote_workers=2)
    assert (remote.workers, remote.master_port) == (0, 5557)
    with pytest.raises(ConfigError, match=r"^master_port=0 with remote_workers=2"):
        Locust(locustfile, remote_workers=2, master_port=0)
    with pytest.raises(ConfigError, match=r"^rate=0 is not a positive rate"):
        Locust(locustfile, rate=0)
    with pytest.raises(ConfigError, match=r"^workers=0 is not a positive number"):
        Locust(locustfile, workers=0)


def test_locustfile_is_resolved_once_to_an_absolute_path(
    locustfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(locustfile.parent)
    spec = Locust("locustfile.py", users=3, spawn_rate=1.5, workers=2, target="api")
    assert spec.path == locustfile.absolute()
    assert spec.path.is_absolute()
    assert (spec.users, spec.spawn_rate, spec.workers, spec.target) == (3, 1.5, 2, "api")


def test_spec_is_frozen_and_hashable(locustfile: Path) -> None:
    spec = Locust(locustfile, users=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.users = 6  # type: ignore[misc]
    # The default spawn rate is filled in, so equal loads are equal specs (and share drivers).
    assert spec == Locust(str(locustfile), users=5, spawn_rate=5)
    assert hash(spec) == hash(Locust(str(locustfile), users=5, spawn_rate=5))


def test_spec_holds_normalised_values_that_are_valid_input_again(locustfile: Path) -> None:
    spec = Locust(str(locustfile), users=4, rate=8)
    assert isinstance(spec.locustfile, Path)
    assert (spec.spawn_rate, spec.rate, spec.master_port) == (4.0, 8.0, 0)
    assert isinstance(spec.workers, int)
    # Rebuilt from its own fields, the spec checks them again and is the same spec.
    assert dataclasses.replace(spec) == spec
    assert dataclasses.replace(spec, users=8).rate_per_user == 1.0
    with pytest.raises(ConfigError, match=r"^users=0 is not a positive number"):
        dataclasses.replace(spec, users=0)


def test_only_the_locustfile_is_positional(locustfile: Path) -> None:
    with pytest.raises(TypeError):
        Locust(locustfile, 10)  # type: ignore[misc]


def test_missing_locustfile_names_the_field_and_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"locustfile='.*nope\.py' does not exist") as caught:
        Locust(tmp_path / "nope.py")
    assert str(tmp_path) in str(caught.value)


def test_locustfile_must_be_a_python_file(tmp_path: Path) -> None:
    text = tmp_path / "locustfile.txt"
    text.write_text("")
    with pytest.raises(ConfigError, match=r"locustfile=.* is not a Python file"):
        Locust(text)
    with pytest.raises(ConfigError, match=r"locustfile=.* is a directory"):
        Locust(tmp_path)
    with pytest.raises(ConfigError, match="locustfile=3 is not a path"):
        Locust(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [65536, 99_999])
def test_a_master_port_past_the_tcp_range_is_refused_naming_it(locustfile: Path, port: int) -> None:
    with pytest.raises(ConfigError, match=rf"^master_port={port} is more than 65535"):
        Locust(locustfile, master_port=port)


def test_zero_users_message(locustfile: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Locust(locustfile, users=0)
    assert str(caught.value) == ("users=0 is not a positive number of users; pass users=1 or more.")


@given(users=st.integers(max_value=0))
def test_any_non_positive_users_is_a_config_error_naming_users(users: int) -> None:
    with pytest.raises(ConfigError, match=rf"^users={users} is not a positive number"):
        Locust(Path(__file__), users=users)


@given(
    users=st.one_of(st.floats(allow_nan=True), st.booleans(), st.text(), st.none(), st.decimals())
)
def test_users_that_are_not_ints_are_a_config_error_naming_users(users: object) -> None:
    with pytest.raises(ConfigError, match=r"^users=.* is not a whole number of users"):
        Locust(Path(__file__), users=users)  # type: ignore[arg-type]


@given(workers=st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text()))
def test_bad_workers_is_a_config_error_naming_workers(workers: object) -> None:
    with pytest.raises(ConfigError, match=r"^workers=.* worker processes; pass"):
        Locust(Path(__file__), workers=workers)  # type: ignore[arg-type]


@given(
    spawn_rate=st.one_of(
        st.floats(max_value=0.0),
        st.integers(max_value=0),
        st.sampled_from([math.nan, math.inf, -math.inf]),
        st.booleans(),
        st.text(),
    )
)
def test_bad_spawn_rate_is_a_config_error_naming_spawn_rate(spawn_rate: object) -> None:
    with pytest.raises(ConfigError, match=r"^spawn_rate=.* is not a (positive rate|number)"):
        Locust(Path(__file__), spawn_rate=spawn_rate)  # type: ignore[arg-type]


@given(spawn_rate=st.floats(min_value=1e-6, max_value=1e6) | st.integers(1, 10**6))
def test_any_positive_spawn_rate_is_kept_as_a_float(spawn_rate: float) -> None:
    spec = Locust(Path(__file__), spawn_rate=spawn_rate)
    assert spec.spawn_rate == float(spawn_rate)
    assert isinstance(spec.spawn_rate, float)


@pytest.mark.parametrize("locust_stats", ["yes", 1, 0])
def test_locust_stats_other_than_true_or_false_is_a_config_error_naming_it(
    locustfile: Path, locust_stats: object
) -> None:
    assert Locust(locustfile).locust_stats is None
    with pytest.raises(ConfigError, match=r"^locust_stats=.* is not True or False"):
        Locust(locustfile, locust_stats=locust_stats)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["", "   ", None, 7])
def test_bad_target_is_a_config_error_naming_target(locustfile: Path, target: object) -> None:
    with pytest.raises(ConfigError, match=r"^target=.* is not a target name"):
        Locust(locustfile, target=target)  # type: ignore[arg-type]


def test_driver_refuses_a_bad_worker_count_before_starting_anything(locustfile: Path) -> None:
    from chaoskit.load.driver import LocustDriver

    with pytest.raises(ConfigError, match=r"^workers=0 is not a positive number"):
        LocustDriver(Locust(locustfile), host="http://127.0.0.1:1", workers=0)


def test_max_users_defaults_to_ten_times_the_users_within_bounds_and_is_checked(
    locustfile: Path,
) -> None:
    assert Locust(locustfile, users=10).max_users == 1_000
    assert Locust(locustfile, users=300).max_users == 3_000
    assert Locust(locustfile, users=5_000).max_users == 10_000
    assert Locust(locustfile, users=20_000).max_users == 20_000
    assert Locust(locustfile, users=10, max_users=10).max_users == 10
    with pytest.raises(ConfigError, match=r"^max_users=5 is fewer than users=10: .*max_users=10"):
        Locust(locustfile, users=10, max_users=5)
    with pytest.raises(ConfigError, match=r"^max_users=2.5 is not a whole number of users"):
        Locust(locustfile, users=1, max_users=2.5)  # type: ignore[arg-type]  # bad on purpose
