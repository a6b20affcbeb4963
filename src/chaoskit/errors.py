"""The one exception hierarchy of chaoskit.

Every error names the value, why it is wrong and what to do instead. The pytest plugin maps
the classes onto outcomes: ``SteadyStateBroken`` and ``RevertError`` are errors (the
experiment did not run, or left something behind); ``InjectionError``, ``SLOBreached`` and
``Inconclusive`` are failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ChaoskitError(Exception):
    """Root of every exception chaoskit raises on purpose."""


class ConfigError(ChaoskitError):
    """A marker, objective, duration, fault or environment setting is malformed.

    Raised before anything is started or injected.
    """


class EnvironmentRefused(ConfigError):
    """A safety check refused to open the environment (the credentials reach an account
    outside ``allowed_accounts``, ...): nothing was touched, and the run stops."""


class ProviderError(ChaoskitError):
    """The environment (local system, AWS) could not do what was asked of it."""


class LoadError(ChaoskitError):
    """The load generator could not start, or did not deliver its measurements in time."""


class SteadyStateBroken(ChaoskitError):
    """The steady state did not hold before any fault was injected: the experiment did not run."""


class InjectionError(ChaoskitError):
    """A fault could not be injected."""


@dataclass(frozen=True, kw_only=True)
class RevertFailure:
    """A fault that could not be reverted, or may have taken effect without saying so: it may
    still be active. The injection ledger produces these; ``message`` is what users read."""

    injection_id: str
    fault: str
    instance_ids: tuple[str, ...]
    error: str  # the failure as the fault or the provider raised it
    # The error is the fault's own RevertError, whose text already says what may be active.
    error_names_fault: bool = False

    @property
    def message(self) -> str:
        if self.error_names_fault:
            return self.error
        return (
            f"reverting {self.fault} on {', '.join(self.instance_ids)} failed, it may still be "
            f"active: {self.error}"
        )


class RevertError(ChaoskitError):
    """Reverting a fault failed: something may still be active. The message names it.

    ``failures`` holds a record per fault that may still be active, when chaoskit knows them
    (a fault's own revert raises without): code that must act on what is left, such as the
    plugin stopping the run, reads the records instead of parsing the message.
    """

    def __init__(self, *args: object, failures: Sequence[RevertFailure] = ()) -> None:
        super().__init__(*args)
        self.failures = tuple(failures)


class DryRunRefused(ChaoskitError):
    """A call that would change the environment, made in a dry run (``--chaos-dry-run``)."""


class SLOBreached(ChaoskitError):
    """An objective was breached during or after the fault."""


class Inconclusive(ChaoskitError):
    """Too few valid samples to decide whether an objective held."""


class Halted(InjectionError):
    """A stop condition ended the fault before chaoskit reverted it (an AWS FIS experiment
    stopped by a CloudWatch stop alarm, or by someone outside chaoskit): the experiment is
    halted, and no further fault should be injected."""
