"""``[tool.chaoskit]`` checked as a whole before anything reads it: every key known, every
value of the type it must have.

A misspelt key (``defualt_env``, ``prometeus``) would otherwise be ignored and its default
used in silence, and a value of the wrong type (``env = "local"``, ``report_dir = 5``) would
surface as a traceback from whatever reads it first. Each is a ConfigError naming the key,
its table and the file, with the nearest known key when one is close.

The keys known per provider are the tables below: a provider adds its environment keys to
``ENV_KEYS`` and its target keys to ``TARGET_KEYS``. An environment whose provider has no
entry is left to ``chaoskit.config``, which refuses providers it does not know.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Set
from typing import Final

from chaoskit.errors import ConfigError

DEFAULT_PROVIDER: Final = "local"
TOP_LEVEL_KEYS: Final = frozenset({"default_env", "report_dir", "env", "redact"})
ENV_KEYS: Final[Mapping[str, Set[str]]] = {
    "local": frozenset({"provider", "targets", "prometheus"}),
    "aws": frozenset(
        {
            "provider",
            "targets",
            "region",
            "profile",
            "endpoint_url",
            "allowed_accounts",
            "fis_role_arn",
            "stop_alarms",
            "instance_faults",
        }
    ),
}
TARGET_KEYS: Final[Mapping[str, Set[str]]] = {
    # The fields of chaoskit.providers.local.config.TargetSpec.
    "local": frozenset(
        {
            "replicas",
            "replace_delay",
            "tags",
            "command",
            "health_path",
            "replica_tags",
            "upstreams",
            "protocol",
            "port",
        }
    ),
    "aws": frozenset(
        {
            "resource_type",
            "tags",
            "asg",
            "availability_zones",
            "max_count",
            "max_percent",
            "url",
        }
    ),
}


def check_tool_table(table: Mapping[str, object], *, source: str) -> None:
    """Refuse ``table`` (``[tool.chaoskit]`` of ``source``) unless every key is known and every
    value has its type; ConfigError naming the first that is not."""
    _refuse_unknown(table, TOP_LEVEL_KEYS, where="[tool.chaoskit]", source=source)
    for key in ("default_env", "report_dir"):
        value = table.get(key)
        if key in table and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(
                f"[tool.chaoskit] {key} = {value!r} in {source} must be a non-empty string, "
                f"e.g. {key} = {'local' if key == 'default_env' else 'reports'!r}."
            )
    redact = table.get("redact", [])
    if not isinstance(redact, list) or not all(isinstance(p, str) for p in redact):
        raise ConfigError(
            f"[tool.chaoskit] redact = {redact!r} in {source} must be a list of regular "
            f"expressions, e.g. redact = ['internal-[0-9]+']."
        )
    environments = table.get("env", {})
    if not isinstance(environments, dict):
        raise ConfigError(
            f"[tool.chaoskit] env = {environments!r} in {source} must be a table of "
            f"environments, each its own table: [tool.chaoskit.env.staging]."
        )
    for name, settings in environments.items():
        _check_environment(name, settings, source=source)
    default = table.get("default_env")
    if isinstance(default, str) and default not in environments and default != "local":
        known = ", ".join(sorted({"local", *environments}))
        raise ConfigError(
            f"[tool.chaoskit] default_env = {default!r} in {source} names no environment "
            f"(known: {known}); define [tool.chaoskit.env.{default}] or name one of them."
        )


def _check_environment(name: str, settings: object, *, source: str) -> None:
    where = f"[tool.chaoskit.env.{name}]"
    if not isinstance(settings, dict):
        raise ConfigError(
            f"{where} in {source} is {settings!r}; an environment is a table of settings, "
            f'e.g. {where} with provider = "local".'
        )
    provider = settings.get("provider", DEFAULT_PROVIDER)
    if not isinstance(provider, str):
        raise ConfigError(
            f"{where} provider = {provider!r} in {source} must be a provider's name, "
            f'e.g. provider = "local".'
        )
    known = ENV_KEYS.get(provider)
    if known is not None:
        _refuse_unknown(settings, known, where=where, source=source)
    targets = settings.get("targets", {})
    if not isinstance(targets, dict):
        raise ConfigError(
            f"{where} targets = {targets!r} in {source} must be a table of targets, each its "
            f"own table: [tool.chaoskit.env.{name}.targets.web]."
        )
    for target, spec in targets.items():
        target_where = f"[tool.chaoskit.env.{name}.targets.{target}]"
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{target_where} in {source} is {spec!r}; a target is a table of settings."
            )
        known_target = TARGET_KEYS.get(provider)
        if known_target is not None:
            _refuse_unknown(spec, known_target, where=target_where, source=source)


def _refuse_unknown(
    table: Mapping[str, object], known: Set[str], *, where: str, source: str
) -> None:
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where} in {source} has an unknown key {key!r}; {hint}the keys are: "
            f"{', '.join(sorted(known))}."
        )
