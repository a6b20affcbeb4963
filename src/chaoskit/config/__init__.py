"""Environments from ``[tool.chaoskit]`` in pyproject.toml: which provider, which targets.

The default environment is ``local``: the embedded demo system, no account, no network.
An ``aws`` environment's settings are checked here too (``chaoskit.config.aws``), so a bad
value stops pytest before anything runs.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.config.aws import AwsSettings, parse_aws_settings
from chaoskit.config_checks import check_tool_table
from chaoskit.errors import ConfigError

DEFAULT_ENV = "local"
PROVIDERS = ("local", "aws")


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    name: str
    provider: str
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Run a Prometheus server scraping the targets (local provider), for Prometheus SLIs.
    prometheus: bool = False
    # provider "aws": its checked settings (targets are in there, not in ``targets``).
    aws: AwsSettings | None = None

    @property
    def destructive(self) -> bool:
        """Whether its faults reach real resources (anything but the embedded local system)."""
        return self.provider != "local"


def read_tool_table(rootdir: Path) -> Mapping[str, Any]:
    """``[tool.chaoskit]`` of ``rootdir/pyproject.toml``, or an empty table."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    table = document.get("tool", {}).get("chaoskit", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.chaoskit] in {path} must be a table.")
    check_tool_table(table, source=str(path))
    return table


DEFAULT_REPORT_DIR = "reports"


def report_dir_of(table: Mapping[str, Any]) -> str:
    """``[tool.chaoskit] report_dir`` as written (relative to the project's root), else
    ``reports``."""
    return str(table.get("report_dir", DEFAULT_REPORT_DIR))


def project_report_dir(rootdir: Path) -> Path:
    """The report folder of the project at ``rootdir``."""
    return rootdir / report_dir_of(read_tool_table(rootdir))


def resolve_environment(table: Mapping[str, Any], name: str | None) -> EnvironmentConfig:
    """The environment called ``name`` (or the default one), validated."""
    chosen = name or table.get("default_env") or DEFAULT_ENV
    if not isinstance(chosen, str):
        raise ConfigError(
            f"[tool.chaoskit] default_env={chosen!r} must be the name of an environment, "
            f'such as "local".'
        )
    environments = table.get("env", {})
    if not isinstance(environments, Mapping):
        raise ConfigError("[tool.chaoskit.env] must be a table of environments.")
    if chosen not in environments:
        if chosen == DEFAULT_ENV:
            return EnvironmentConfig(name=DEFAULT_ENV, provider="local")
        known = ", ".join(sorted({DEFAULT_ENV, *environments}))
        raise ConfigError(
            f"--chaos-env {chosen!r} is not defined; known environments: {known}. "
            f"Define it as [tool.chaoskit.env.{chosen}] in pyproject.toml."
        )
    settings = environments[chosen]
    if not isinstance(settings, Mapping):
        raise ConfigError(f"[tool.chaoskit.env.{chosen}] must be a table (provider, targets, ...).")
    provider = settings.get("provider", "local")
    if provider not in PROVIDERS:
        raise ConfigError(
            f"[tool.chaoskit.env.{chosen}] provider={provider!r} is not available in this "
            f"version of chaoskit; available providers: {', '.join(PROVIDERS)}."
        )
    if provider == "aws":
        return EnvironmentConfig(
            name=chosen, provider="aws", aws=parse_aws_settings(chosen, settings)
        )
    targets = settings.get("targets", {})
    if not isinstance(targets, dict):
        raise ConfigError(f"[tool.chaoskit.env.{chosen}.targets] must be a table of targets.")
    prometheus = settings.get("prometheus", False)
    if not isinstance(prometheus, bool):
        raise ConfigError(
            f"[tool.chaoskit.env.{chosen}] prometheus={prometheus!r} must be true or false "
            f"(true runs a Prometheus server scraping the local targets)."
        )
    return EnvironmentConfig(name=chosen, provider=provider, targets=targets, prometheus=prometheus)
