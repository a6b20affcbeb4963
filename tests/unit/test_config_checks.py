"""``[tool.chaoskit]`` is checked as a whole when pytest starts: an unknown key or a value of
the wrong type is a ConfigError naming it, never a traceback or a setting silently ignored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chaoskit.config import read_tool_table, resolve_environment
from chaoskit.config_checks import TARGET_KEYS
from chaoskit.errors import ConfigError
from chaoskit.providers.local.config import TargetSpec


def table(tmp_path: Path, toml: str) -> object:
    (tmp_path / "pyproject.toml").write_text("[tool.chaoskit]\n" + toml, encoding="utf-8")
    return read_tool_table(tmp_path)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('env = "local"', r"\[tool.chaoskit\] env = 'local' .* must be a table of environments"),
        ("env = 5", r"env = 5 .* must be a table of environments"),
        ("env = { local = 5 }", r"\[tool.chaoskit.env.local\] in .* is 5; an environment is a"),
        ('default_env = ["local"]', r"default_env = \['local'\] .* must be a non-empty string"),
        ("default_env = 5", r"default_env = 5 .* must be a non-empty string"),
        ("report_dir = 5", r"report_dir = 5 .* must be a non-empty string"),
        ("report_dir = true", r"report_dir = True .* must be a non-empty string"),
        ("report_dir = []", r"report_dir = \[\] .* must be a non-empty string"),
        ("redact = 'x'", r"redact = 'x' .* must be a list of regular expressions"),
        ('default_env = "staging"', r"default_env = 'staging' .* names no environment"),
        ("[tool.chaoskit.env.local]\nprovider = 5", r"provider = 5 .* must be a provider's name"),
        ("[tool.chaoskit.env.local]\ntargets = 5", r"targets = 5 .* must be a table of targets"),
        (
            "[tool.chaoskit.env.local.targets]\nweb = 5",
            r"\[tool.chaoskit.env.local.targets.web\] in .* is 5; a target is a table",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_a_config_error_naming_it(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        table(tmp_path, toml)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'defualt_env = "local"',
            r"\[tool.chaoskit\] in .*pyproject.toml has an unknown key 'defualt_env'; "
            r"did you mean 'default_env'\? the keys are: default_env, env, redact, report_dir",
        ),
        ('reports_dir = "x"', r"unknown key 'reports_dir'; did you mean 'report_dir'\?"),
        (
            "[tool.chaoskit.env.local]\nprometeus = true",
            r"\[tool.chaoskit.env.local\] .* unknown key 'prometeus'; did you mean 'prometheus'\?",
        ),
        (
            "[tool.chaoskit.env.local.targets.web]\nreplica = 3",
            r"\[tool.chaoskit.env.local.targets.web\] .* unknown key 'replica'; "
            r"did you mean 'replicas'\?",
        ),
        (
            '[tool.chaoskit.env.staging]\nprovider = "aws"\nregoin = "eu-west-1"',
            r"unknown key 'regoin'; did you mean 'region'\?",
        ),
        ("zzz = 1", r"unknown key 'zzz'; the keys are"),
    ],
)
def test_an_unknown_key_is_refused_naming_the_nearest_known_one(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        table(tmp_path, toml)


def test_a_well_formed_table_reads_and_resolves(tmp_path: Path) -> None:
    read = table(
        tmp_path,
        'default_env = "local"\nreport_dir = "out"\nredact = ["internal-[0-9]+"]\n'
        "[tool.chaoskit.env.local]\nprometheus = false\n"
        '[tool.chaoskit.env.local.targets.web]\nreplicas = 2\nreplace_delay = "1s"\n',
    )
    assert isinstance(read, dict)
    environment = resolve_environment(read, None)
    assert environment.name == "local" and environment.targets["web"]["replicas"] == 2


def test_the_local_target_keys_are_the_local_target_settings() -> None:
    assert TARGET_KEYS["local"] == {field.name for field in dataclasses.fields(TargetSpec)}
