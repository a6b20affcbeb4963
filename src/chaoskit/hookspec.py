"""Hooks with which a conftest.py (or another plugin) replaces what chaoskit runs against.

Each is ``firstresult``: the first implementation returning something other than None wins,
and chaoskit's own default is used when none does. ``chaoskit.testing`` has fakes that fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chaoskit.config import EnvironmentConfig
    from chaoskit.load import Locust
    from chaoskit.typing import Clock, Environment, LoadDriver


@pytest.hookspec(firstresult=True)
def pytest_chaoskit_make_environment(
    config: pytest.Config, env_config: EnvironmentConfig
) -> Environment | None:
    """Return the environment experiments run against (default: from ``env_config``)."""


@pytest.hookspec(firstresult=True)
def pytest_chaoskit_make_load_driver(
    config: pytest.Config, spec: Locust, url: str
) -> LoadDriver | None:
    """Return the load driver for ``spec`` aimed at ``url`` (default: locust workers)."""


@pytest.hookspec(firstresult=True)
def pytest_chaoskit_clock(config: pytest.Config) -> Clock | None:
    """Return the clock the lifecycle waits on (default: the system clock)."""
