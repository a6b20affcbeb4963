"""Providers turn an environment's configuration into real targets.

Kept free of imports at module level: every local replica process imports this package, and
boto3 is imported only when an AWS environment opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit.errors import ConfigError

if TYPE_CHECKING:
    from chaoskit.config import EnvironmentConfig
    from chaoskit.typing import Environment


def load_targets(config: EnvironmentConfig) -> dict[str, bool]:
    """The targets ``config`` defines, each with whether it can take load (has a url), its
    settings checked without starting or reaching anything; ConfigError naming the field."""
    if config.provider == "aws":
        assert config.aws is not None  # resolve_environment sets it for every aws environment
        return {name: spec.url is not None for name, spec in config.aws.targets.items()}
    from chaoskit.providers.local.config import DEFAULT_TARGETS, parse_targets

    try:
        targets = parse_targets(config.targets or DEFAULT_TARGETS)
    except ConfigError as error:
        raise ConfigError(f"[tool.chaoskit.env.{config.name}] {error}") from None
    # A local target's url is the proxy chaoskit starts for it: every one takes load.
    return dict.fromkeys(targets, True)


def open_environment(config: EnvironmentConfig, *, run_id: str = "") -> Environment:
    """Start (local) or connect to the environment ``config`` describes, for the run
    ``run_id`` (what the resources a run changes are tagged with)."""
    if config.provider == "aws":
        from chaoskit.providers.aws.environment import AwsEnvironment

        assert config.aws is not None  # resolve_environment sets it for every aws environment
        return AwsEnvironment.open(name=config.name, settings=config.aws, run_id=run_id)
    from chaoskit.providers.local.environment import LocalEnvironment

    return LocalEnvironment.start(
        config.targets or None, name=config.name, prometheus=config.prometheus
    )
