"""What the ``chaos`` fixture yields and the plugin drives: an experiment, or a dry run of one.

``Experiment`` (``lifecycle.py``) runs it; ``DryRun`` (``dry_run.py``) plans it and changes
nothing. The plugin drives both the same way: ``start`` before the test body, the body's
``inject`` calls, then ``finish`` after it (or ``abort`` when it raised). A dry run draws no
verdict: its ``finish`` returns None and ``summary`` says what it would have done.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Literal, Protocol

from chaoskit.experiment.result import ExperimentResult
from chaoskit.typing import Fault

# How an experiment tells the user what happens, one line at a time, as it happens.
Notify = Callable[[str], None]


class FaultHandle(Protocol):
    """What ``inject`` returns; as a context manager it reverts on exit."""

    @property
    def instance_ids(self) -> tuple[str, ...]: ...

    def revert(self) -> None: ...

    def __enter__(self) -> FaultHandle: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ChaosExperiment(Protocol):
    @property
    def result(self) -> ExperimentResult | None:
        """The verdict, once drawn (also when ``start`` found the steady state broken)."""

    def start(self) -> None:
        """Before the body: the baseline and the steady-state-before check."""

    def inject(self, fault: Fault, *, hold: object = None) -> FaultHandle: ...

    def finish(self) -> ExperimentResult | None:
        """After the body: the verdict; None when nothing ran to judge (a dry run)."""

    def abort(
        self, error: BaseException, *, during: Literal["setup", "body"] = "body"
    ) -> ExperimentResult | None:
        """Something raised: revert at once and record why; None when nothing ran."""

    def skip(self, reason: str) -> ExperimentResult | None:
        """The body skipped itself: revert at once and record it as skipped; None when
        nothing ran."""

    def summary(self) -> str:
        """One line: what the experiment did, or would do."""
