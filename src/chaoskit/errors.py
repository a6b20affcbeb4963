"""The one exception hierarchy of chaoskit.

Every error names the value, why it is wrong and what to do instead. The pytest plugin maps
the classes onto outcomes: ``SteadyStateBroken`` and ``RevertError`` are errors (the
experiment did not run, or left something behind); ``InjectionError``, ``SLOBreached`` and
``Inconclusive`` are failures.
"""

from __future__ import annotations


class ChaoskitError(Exception):
    """Root of every exception chaoskit raises on purpose."""


class ConfigError(ChaoskitError):
    """A marker, objective, duration, fault or environment setting is malformed.

    Raised before anything is started or injected.
    """


class ProviderError(ChaoskitError):
    """The environment (local system, AWS) could not do what was asked of it."""


class LoadError(ChaoskitError):
    """The load generator could not start, or did not deliver its measurements in time."""


class SteadyStateBroken(ChaoskitError):
    """The steady state did not hold before any fault was injected: the experiment did not run."""


class InjectionError(ChaoskitError):
    """A fault could not be injected."""


class RevertError(ChaoskitError):
    """Reverting a fault failed: something may still be active. The message names it."""


class SLOBreached(ChaoskitError):
    """An objective was breached during or after the fault."""


class Inconclusive(ChaoskitError):
    """Too few valid samples to decide whether an objective held."""
