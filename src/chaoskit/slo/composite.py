"""Objectives composed with ``&`` (all must hold) and ``|`` (one must hold).

``Composable`` is the base every chaoskit objective derives from: it gives ``&``, ``|`` and
the identity ``key``. ``AllOf`` and ``AnyOf`` are what ``&`` and ``|`` build; nested groups of
the same kind flatten, so ``a & b & c`` is one group of three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from chaoskit.errors import ConfigError
from chaoskit.slo.measurement import Kind, Measurement, Objective, Status, objective_key
from chaoskit.slo.units import ALL_PHASES
from chaoskit.slo.window import PhaseKind, Window


class Composable:
    """``a & b``: both must hold; ``a | b``: at least one must hold. And ``key``, the identity
    derived from the objective's fields (a frozen dataclass' compared fields)."""

    kind: ClassVar[Kind]

    @property
    def key(self) -> str:
        return objective_key(self.kind, self)

    def __and__(self, other: Objective) -> AllOf:
        parts = (*_flatten(self, AllOf), *_flatten(other, AllOf))
        return AllOf(parts=parts, phases=_union_of_phases(parts))

    def __or__(self, other: Objective) -> AnyOf:
        parts = (*_flatten(self, AnyOf), *_flatten(other, AnyOf))
        return AnyOf(parts=parts, phases=_union_of_phases(parts))


@dataclass(frozen=True, kw_only=True)
class _Group(Composable):
    """Parts judged together: one status among the parts decides, else inconclusive wins."""

    parts: tuple[Objective, ...]
    phases: frozenset[PhaseKind] = ALL_PHASES
    kind: ClassVar[Kind] = "composite"
    joiner: ClassVar[str]
    decisive: ClassVar[Status]  # one part with this status decides the group
    otherwise: ClassVar[Status]  # the status when every part was decided the other way

    def describe(self) -> str:
        return "(" + f" {self.joiner} ".join(p.describe() for p in self.parts) + ")"

    def evaluate(self, window: Window) -> Measurement:
        # Each part keeps its own scope: a part for "after" is not judged during the fault.
        results = [p.evaluate(window) for p in self.parts if window.kind in p.phases]
        statuses = {r.status for r in results}
        if self.decisive in statuses:
            return self._combined(window, results, self.decisive)
        status: Status = "inconclusive" if "inconclusive" in statuses else self.otherwise
        return self._combined(window, results, status)

    def _combined(self, window: Window, results: list[Measurement], status: Status) -> Measurement:
        # Each part's own figure, so the table shows why the group held or not.
        shown = f" {self.joiner} ".join(f"{r.shown} ({r.status})" for r in results)
        return Measurement(
            objective=self.describe(),
            objective_key=self.key,
            kind="composite",
            limit=None,
            window=window.name,
            value=None,
            shown=shown or "no part applies",
            status=status,
            samples=max((r.samples for r in results), default=0),
            reason="; ".join(f"{r.objective}: {r.reason}" for r in results if r.status != "pass"),
        )


@dataclass(frozen=True, kw_only=True)
class AllOf(_Group):
    """Every part holds; inconclusive when none breached but one could not be decided."""

    joiner: ClassVar[str] = "&"
    decisive: ClassVar[Status] = "fail"
    otherwise: ClassVar[Status] = "pass"


@dataclass(frozen=True, kw_only=True)
class AnyOf(_Group):
    """At least one part holds; inconclusive when none held and one could not be decided."""

    joiner: ClassVar[str] = "|"
    decisive: ClassVar[Status] = "pass"
    otherwise: ClassVar[Status] = "fail"


def _union_of_phases(parts: tuple[Objective, ...]) -> frozenset[PhaseKind]:
    return frozenset().union(*(part.phases for part in parts))


def _flatten(objective: object, kind: type[AllOf] | type[AnyOf]) -> tuple[Objective, ...]:
    if isinstance(objective, kind):
        return objective.parts
    # The operands are typed, but a user's ``objective & "errors<1%"`` runs all the same.
    if not callable(getattr(objective, "evaluate", None)):
        raise ConfigError(f"{objective!r} is not an objective; combine objectives with & and |.")
    return (cast(Objective, objective),)
