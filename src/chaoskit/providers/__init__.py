"""Providers turn an environment's configuration into real targets."""

from __future__ import annotations

from chaoskit.config import EnvironmentConfig
from chaoskit.typing import Environment


def open_environment(config: EnvironmentConfig) -> Environment:
    """Start (local) or connect to the environment ``config`` describes."""
    from chaoskit.providers.local import LocalEnvironment

    return LocalEnvironment.start(name=config.name, targets=config.targets or None)
