"""The experiment lifecycle and its journal."""

from chaoskit.errors import RevertFailure
from chaoskit.experiment.injections import ActiveFault
from chaoskit.experiment.journal import (
    JournalWriter,
    UnreadableFaultEvent,
    read_events,
    unreadable_fault_events,
    unreverted_intents,
)
from chaoskit.experiment.lifecycle import Experiment, ExperimentSettings
from chaoskit.experiment.result import ExperimentResult, InjectionRecord, Journal, Phase

__all__ = [
    "ActiveFault",
    "Experiment",
    "ExperimentResult",
    "ExperimentSettings",
    "InjectionRecord",
    "Journal",
    "JournalWriter",
    "Phase",
    "RevertFailure",
    "UnreadableFaultEvent",
    "read_events",
    "unreadable_fault_events",
    "unreverted_intents",
]
