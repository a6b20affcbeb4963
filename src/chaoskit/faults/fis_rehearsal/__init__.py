"""Rehearsing AWS FIS templates on an environment that stands in for AWS (the local system):
the template's targets resolved to its instances, its actions run as chaoskit's own faults
on them, in FIS's order and states, its alarms judged as objectives.

``documents`` reads the AWSFIS SSM documents (durations: ``chaoskit.faults.fis_durations``),
``actions`` turns each action into a ``Recipe`` (or refuses it), ``targets`` resolves
targets, ``plan`` puts it all together before anything is injected, ``effects`` applies one
action's effect and ``run`` runs the graph. ``FisExperiment`` (``chaoskit.faults.fis``) is
the way in.
"""

from chaoskit.faults.fis_durations import format_iso_duration, parse_iso_duration
from chaoskit.faults.fis_rehearsal.plan import (
    RehearsalPlan,
    RehearsalSettings,
    describe_scale,
    plan_rehearsal,
)
from chaoskit.faults.fis_rehearsal.run import Rehearsal
from chaoskit.faults.fis_template import selection_count

__all__ = [
    "Rehearsal",
    "RehearsalPlan",
    "RehearsalSettings",
    "describe_scale",
    "format_iso_duration",
    "parse_iso_duration",
    "plan_rehearsal",
    "selection_count",
]
