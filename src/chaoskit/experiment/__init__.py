"""The experiment lifecycle and its journal."""

from chaoskit.errors import RevertFailure
from chaoskit.experiment.journal import JournalWriter, read_events, unreverted_intents
from chaoskit.experiment.lifecycle import ActiveFault, Experiment, ExperimentSettings
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
    "read_events",
    "unreverted_intents",
]
