"""Providers turn an environment's configuration into real targets.

Kept free of imports at module level: every local replica process imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.config import EnvironmentConfig
    from chaoskit.typing import Environment


def open_environment(config: EnvironmentConfig) -> Environment:
    """Start (local) or connect to the environment ``config`` describes."""
    from chaoskit.providers.local.environment import LocalEnvironment

    return LocalEnvironment.start(
        config.targets or None, name=config.name, prometheus=config.prometheus
    )
