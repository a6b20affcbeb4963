"""A template planned for a rehearsal: every action's recipe (or the refusal naming each
action that cannot be rehearsed), every target resolved with the run's random stream, the
stop conditions mapped onto objectives, and the schedule FIS would follow, in local seconds.

Planning makes read-only calls only (each target's instances), so ``--chaos-dry-run`` shows
it all, and an unrehearsable action is refused here, before anything is injected.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from chaoskit.durations import format_duration
from chaoskit.errors import ConfigError
from chaoskit.faults.fis_durations import format_iso_duration
from chaoskit.faults.fis_rehearsal.actions import Recipe, Unrehearsable, recipe_for, skipped
from chaoskit.faults.fis_rehearsal.targets import ResolvedTarget, resolve_target
from chaoskit.slo.measurement import Objective
from chaoskit.typing import Fault, RehearsesFis
from chaoskit.vocabulary import FaultPlan, FisAction, FisTarget, FisTemplateBody

Unsupported = Literal["error", "skip"]
# Effects that act on instances, and so need a target with instances in it.
_ON_INSTANCES = ("terminate", "stop", "reboot", "network", "cpu")


@dataclass(frozen=True, kw_only=True)
class RehearsalSettings:
    """What ``FisExperiment`` is told for rehearsals, checked (see ``FisExperiment``)."""

    targets: Mapping[str, str] = field(default_factory=dict)
    stop_conditions: Mapping[str, Objective] = field(default_factory=dict)
    time_scale: float = 1.0
    unsupported: Unsupported = "error"
    actions: Mapping[str, Fault] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RehearsalPlan:
    """Everything the rehearsal will do; ``starts`` and ``length`` are local seconds."""

    label: str
    settings: RehearsalSettings
    recipes: tuple[Recipe, ...]  # in the template's order
    after: Mapping[str, tuple[str, ...]]  # startAfter
    targets: Mapping[str, ResolvedTarget]
    fault_plans: Mapping[str, FaultPlan]  # the mapped actions' own plans
    stop_objectives: Mapping[str, Objective]  # alarm name -> objective, those mapped
    unwatched_alarms: tuple[str, ...]  # the template's alarms nothing stands for
    failure: str  # why FIS would fail the experiment as it starts ("": it would not)
    starts: Mapping[str, float]
    length: float

    def scaled(self, template_seconds: float) -> float:
        return template_seconds * self.settings.time_scale

    def instances_of(self, recipe: Recipe) -> Mapping[str, tuple[str, ...]]:
        """Local target -> instance ids the recipe's effect hits."""
        if recipe.fault is not None:
            plan = self.fault_plans[recipe.name]
            return {plan.target: plan.instance_ids}
        if recipe.target is None or recipe.effect not in _ON_INSTANCES:
            return {}
        return self.targets[recipe.target].hits

    def outline(self) -> tuple[str, ...]:
        """The plan in lines, for ``--chaos-dry-run`` and the journal."""
        lines = [f"time scale {describe_scale(self.settings.time_scale)}"]
        lines += [f"target {resolved.describe()}" for resolved in self.targets.values()]
        for recipe in self.recipes:
            start = self.starts[recipe.name]
            end = start + self.scaled(recipe.length)
            hit = "; ".join(
                f"{', '.join(ids)} of {name}" for name, ids in self.instances_of(recipe).items()
            )
            what = f"skipped: {recipe.skipped}" if recipe.skipped else recipe.shown
            lines.append(
                f"action {recipe.name} ({recipe.action_id}) +{start:.1f}s..+{end:.1f}s: {what}"
                + (f" on {hit}" if hit else "")
            )
        for alarm, objective in self.stop_objectives.items():
            lines.append(f"stop condition {alarm}: {objective.describe()}")
        for alarm in self.unwatched_alarms:
            lines.append(
                f"stop condition {alarm}: not watched (map it: stop_conditions={{{alarm!r}: "
                f"'errors<5%'}})"
            )
        if self.failure:
            lines.append(f"would fail: {self.failure}")
        return tuple(lines)


def short_scale(scale: float) -> str:
    """``1/20`` for a scale that is one over a whole number, ``0.3`` otherwise."""
    inverse = 1 / scale
    return f"1/{round(inverse)}" if abs(inverse - round(inverse)) < 1e-9 else f"{scale:g}"


def describe_scale(scale: float) -> str:
    if scale == 1:
        return "1 (real time)"
    return f"{short_scale(scale)} (a template minute takes {format_duration(60 * scale)})"


def plan_rehearsal(
    body: FisTemplateBody,
    *,
    label: str,
    settings: RehearsalSettings,
    env: RehearsesFis,
    rng: random.Random,
) -> RehearsalPlan:
    """The rehearsal of ``body``; ConfigError naming every action it cannot rehearse."""
    actions: Mapping[str, FisAction] = body.get("actions") or {}
    template_targets: Mapping[str, FisTarget] = body.get("targets") or {}
    _check_names(settings, actions, template_targets, env)
    recipes: list[Recipe] = []
    refused: list[Unrehearsable] = []
    for name, action in actions.items():
        mapped = settings.actions.get(name) or settings.actions.get(str(action["actionId"]))
        found = recipe_for(name, action, mapped=mapped)
        if isinstance(found, Unrehearsable):
            if settings.unsupported == "skip":
                recipes.append(skipped(name, found.action_id, found.why))
            else:
                refused.append(found)
        else:
            recipes.append(found)
    if refused:
        raise ConfigError(
            f"{label}: {len(refused)} action(s) cannot be rehearsed on the local system:\n"
            + "\n".join(f"  {r.describe()}" for r in refused)
            + "\nMap each onto a chaoskit fault (FisExperiment(..., actions={"
            + f"{refused[0].name!r}: faults.RebootInstances(target='web')}})), or skip them "
            + "(unsupported='skip'). Nothing was injected."
        )
    used = {r.target for r in recipes if r.target is not None and r.effect in _ON_INSTANCES}
    resolved = {
        name: resolve_target(
            name, template_targets[name], env=env, mapped=settings.targets.get(name), rng=rng
        )
        for name in template_targets
        if name in used
    }
    empty = [name for name, target in resolved.items() if not target.instance_ids]
    options = body.get("experimentOptions") or {}
    failure = ""
    if empty and options.get("emptyTargetResolutionMode", "fail") != "skip":
        failure = "; ".join(
            f"Target resolution of {name} ({resolved[name].how}) found no resources"
            for name in empty
        ) + (
            ". The template's emptyTargetResolutionMode is 'fail': tag a local target alike, "
            "map the target (targets={'" + empty[0] + "': 'web'}), or set "
            "experimentOptions.emptyTargetResolutionMode to 'skip'."
        )
    recipes = [
        skipped(r.name, r.action_id, f"its target {r.target} identified no resources")
        if r.target in empty
        else r
        for r in recipes
    ]
    fault_plans = {r.name: r.fault.plan(env, rng) for r in recipes if r.fault is not None}
    stop_objectives, unwatched = _stop_conditions(body, settings, label=label)
    after = {name: tuple(a.get("startAfter") or ()) for name, a in actions.items()}
    starts, length = _schedule(recipes, after, settings.time_scale)
    return RehearsalPlan(
        label=label,
        settings=settings,
        recipes=tuple(recipes),
        after=after,
        targets=resolved,
        fault_plans=fault_plans,
        stop_objectives=stop_objectives,
        unwatched_alarms=unwatched,
        failure=failure,
        starts=starts,
        length=length,
    )


def _check_names(
    settings: RehearsalSettings,
    actions: Mapping[str, FisAction],
    targets: Mapping[str, FisTarget],
    env: RehearsesFis,
) -> None:
    for name, local in settings.targets.items():
        if name not in targets:
            raise ConfigError(
                f"FisExperiment(targets={{{name!r}: {local!r}}}): the template has no target "
                f"{name!r}; its targets are {', '.join(sorted(targets)) or 'none'}."
            )
        env.target(local)  # ConfigError naming the environment's targets
    ids = {str(a["actionId"]) for a in actions.values()}
    for key in settings.actions:
        if key not in actions and key not in ids:
            raise ConfigError(
                f"FisExperiment(actions={{{key!r}: ...}}): the template has no action named "
                f"{key!r} and no action of that id; its actions are "
                f"{', '.join(sorted(actions))}."
            )


def _stop_conditions(
    body: FisTemplateBody, settings: RehearsalSettings, *, label: str
) -> tuple[dict[str, Objective], tuple[str, ...]]:
    """The template's alarms mapped onto objectives, and those left unwatched."""
    alarms = {}
    for condition in body.get("stopConditions") or ():
        if condition.get("source") == "aws:cloudwatch:alarm":
            arn = str(condition.get("value", ""))
            alarms[arn.rpartition(":alarm:")[2] or arn] = arn
    mapped: dict[str, Objective] = {}
    for key, objective in settings.stop_conditions.items():
        name = next((n for n, arn in alarms.items() if key in (n, arn)), None)
        if name is None:
            raise ConfigError(
                f"FisExperiment(stop_conditions={{{key!r}: ...}}): {label} has no stop "
                f"condition on alarm {key!r}; its alarms are "
                f"{', '.join(sorted(alarms)) or 'none (its stopConditions are source none)'}. "
                f"Name an alarm of the template, or add the alarm to its stopConditions."
            )
        mapped[name] = objective
    return mapped, tuple(name for name in alarms if name not in mapped)


def _schedule(
    recipes: list[Recipe], after: Mapping[str, tuple[str, ...]], scale: float
) -> tuple[dict[str, float], float]:
    """When each action starts if every one runs its full length, in local seconds: as FIS
    does, an action starts once every action in its startAfter has ended, the rest at once."""
    lengths = {r.name: r.length * scale for r in recipes}
    starts: dict[str, float] = {}

    def start(name: str) -> float:
        if name not in starts:  # the template was checked for cycles when it was read
            starts[name] = max((start(b) + lengths[b] for b in after.get(name, ())), default=0.0)
        return starts[name]

    for recipe in recipes:
        start(recipe.name)
    length = max((starts[n] + lengths[n] for n in lengths), default=0.0)
    return starts, length


def template_length(plan: RehearsalPlan) -> str:
    """The template's own length, as FIS would run it: ``PT10M``."""
    return format_iso_duration(plan.length / plan.settings.time_scale)
