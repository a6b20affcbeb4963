"""``FisExperiment``: run an AWS FIS experiment template as a chaoskit fault.

The template is checked when the fault is made (a file or a dict) or planned (the id of a
template in the account, fetched read-only). Injecting creates chaoskit's own copy of it, with
the environment's role, stop alarms and run id tag, starts it and waits until it runs;
reverting stops it unless it has ended and deletes the copy. The user's template, and an
existing template named by id, are never changed.

On an environment that rehearses FIS templates instead (``chaoskit.typing.RehearsesFis``,
the local system), the same template is interpreted there: see ``chaoskit.faults.
fis_rehearsal`` and docs/fis-rehearsal.md. The rehearsal's own settings (``targets``,
``stop_conditions``, ``time_scale``, ``unsupported``, ``actions``) are not used when FIS
runs the template in an account: there its alarms are real and its targets are AWS's.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.durations import Duration, parse_duration
from chaoskit.errors import ConfigError, InjectionError, ProviderError
from chaoskit.faults._provider import provider_of
from chaoskit.faults.fis_rehearsal import Rehearsal, RehearsalSettings, plan_rehearsal
from chaoskit.faults.fis_rehearsal.plan import short_scale
from chaoskit.faults.fis_rehearsal.settings import check_rehearsal_settings
from chaoskit.faults.fis_template import FisTemplate, read_template
from chaoskit.slo.measurement import Objective
from chaoskit.typing import Environment, Fault, FisRun, PlansFis, RehearsesFis, RunsFis
from chaoskit.vocabulary import FaultPlan, FisAction, FisTarget, FisTemplateBody, JsonObject

# How long injecting waits for FIS to resolve targets and start the actions.
DEFAULT_START_TIMEOUT = 120.0


def fis_environment(
    env: Environment, fault: str, template: FisTemplateBody | None = None
) -> RunsFis:
    """``env`` as one that runs FIS experiments, or ConfigError naming the fault and the
    environment's provider (or, from an environment that checks, the setting it lacks, or
    where ``template`` would reach beyond the environment)."""
    if isinstance(env, RunsFis):
        if isinstance(env, PlansFis):
            env.check_fis(fault)
            if template is not None:
                env.check_fis_reach(fault, template)
        return env
    provider = provider_of(env)
    raise ConfigError(
        f"{fault} runs as an AWS FIS experiment, which environment {env.name!r} (provider "
        f'{provider!r}) cannot run. Choose an environment with provider = "aws" '
        f"(--chaos-env NAME), or a fault the {provider!r} provider supports."
    )


def start_fis(fis: RunsFis, plan: FaultPlan, *, timeout: float) -> FisInjection:
    """Run the plan's template; a provider's failure is the fault's InjectionError."""
    try:
        run = fis.run_fis(plan.details["template"], timeout=timeout)
    except ProviderError as error:
        raise InjectionError(f"{plan.fault}: {error}") from error
    return FisInjection(plan=plan, run=run)


@dataclass(kw_only=True)
class FisInjection:
    """An FIS experiment as an active fault (``chaoskit.typing.Injection``)."""

    plan: FaultPlan
    run: FisRun

    @property
    def undo(self) -> JsonObject:
        return self.run.undo

    @property
    def details(self) -> JsonObject:
        """Experiment id, template id, final state and each action's, for the journal."""
        return self.run.details

    def halt_reason(self) -> str | None:
        """Why a stop condition ended the experiment during the hold, or None."""
        return self.run.halt_reason()

    def revert(self) -> None:
        self.run.revert()


@dataclass(frozen=True, kw_only=True)
class _FisExperimentFields:
    template: FisTemplate | None  # None: ``template_id`` names one in the account
    template_id: str | None
    timeout: float  # seconds
    # Read only where the template is rehearsed (the local system); not hashed (mappings).
    rehearsal: RehearsalSettings = field(default_factory=RehearsalSettings, hash=False)


class FisExperiment(_FisExperimentFields):
    """Run an AWS FIS experiment: ``template`` is a file (JSON or YAML, as `aws fis
    create-experiment-template --cli-input-json` takes it), a dict of the same, or the id of
    a template in the account (``"EXT..."``). ``timeout`` bounds the wait until it runs.

    Where the environment rehearses templates (the local system), these say how:

    - ``targets``: template target -> local target it stands for (``{"Instances": "web"}``);
      unmapped targets are found by their ``resourceTags`` among the local instances' tags;
    - ``stop_conditions``: alarm name (or ARN) -> objective (``{"web-5xx": "errors<5%"}``),
      judged every second of the hold by the guardrail; a breach stops the experiment;
    - ``time_scale``: local seconds per template second, above 0 and at most 1 (``1/20``
      runs a PT5M action for 15 s);
    - ``unsupported``: ``"error"`` (the default: actions the local system cannot rehearse
      are refused by name before anything is injected) or ``"skip"`` (shown as skipped);
    - ``actions``: action name (or action id) -> the chaoskit fault that stands for it.
    """

    def __init__(
        self,
        *,
        template: str | Path | Mapping[str, Any],
        timeout: Duration = DEFAULT_START_TIMEOUT,
        targets: Mapping[str, str] | None = None,
        stop_conditions: Mapping[str, str | Objective] | None = None,
        time_scale: float = 1.0,
        unsupported: str = "error",
        actions: Mapping[str, Fault] | None = None,
    ) -> None:
        name = type(self).__name__
        read = read_template(template, field=f"{name}(template)")
        super().__init__(
            template=read if isinstance(read, FisTemplate) else None,
            template_id=read if isinstance(read, str) else None,
            timeout=parse_duration(timeout, field=f"{name}(timeout)", allow_zero=False),
            rehearsal=check_rehearsal_settings(
                name,
                targets=targets,
                stop_conditions=stop_conditions,
                time_scale=time_scale,
                unsupported=unsupported,
                actions=actions,
            ),
        )

    @property
    def label(self) -> str:
        return self.template.label if self.template is not None else str(self.template_id)

    def describe(self) -> str:
        return f"FisExperiment {self.label}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        if isinstance(env, RehearsesFis) and not isinstance(env, RunsFis):
            return self._plan_rehearsal(env, rng)
        fis = fis_environment(env, self.describe())
        if self.template is not None:
            body = self.template.body
        else:
            assert self.template_id is not None
            body = fis.fis_template(self.template_id)
        # Within the account, the region and the targets' blast radius (read-only).
        fis_environment(env, self.describe(), body)
        targets = body.get("targets") or {}
        actions = body.get("actions") or {}
        # What each target would hit now, read-only, where the environment can tell.
        resolved = dict(env.fis_targets(body)) if isinstance(env, PlansFis) else {}
        return FaultPlan(
            fault=self.describe(),
            target=self.label,
            # What the template names outright; tag-selected targets are resolved by FIS.
            instance_ids=tuple(
                arn for target in targets.values() for arn in target.get("resourceArns") or ()
            ),
            details={
                "template": body,
                "actions": {name: a["actionId"] for name, a in actions.items()},
                "targets": {name: _describe_target(t) for name, t in targets.items()},
                "resolved": {name: list(found) for name, found in resolved.items()},
            },
            # chaoskit cannot tell how hard an arbitrary template hits: the middle of the scale.
            severity=2.0,
            preview=_preview(actions, targets, resolved),
        )

    def inject(self, plan: FaultPlan, env: Environment) -> FisInjection | Rehearsal:
        rehearsal = plan.details.get("rehearsal")
        if rehearsal is not None:
            running = Rehearsal(plan=plan, rehearsal=rehearsal, env=env)
            running.start()
            return running
        return start_fis(fis_environment(env, self.describe()), plan, timeout=self.timeout)

    def _plan_rehearsal(self, env: RehearsesFis, rng: random.Random) -> FaultPlan:
        if self.template is None:
            raise ConfigError(
                f"{self.describe()} names a template by id, which only an AWS account holds; "
                f"environment {env.name!r} rehearses templates from a file or a dict. Give the "
                f"template's file (aws fis get-experiment-template --id ... gives its content)."
            )
        rehearsal = plan_rehearsal(
            self.template.body, label=self.label, settings=self.rehearsal, env=env, rng=rng
        )
        scale = self.rehearsal.time_scale
        scaled = f" at time scale {short_scale(scale)}" if scale != 1 else ""
        return FaultPlan(
            fault=f"{self.describe()} rehearsed{scaled}",
            target=self.label,
            instance_ids=tuple(
                dict.fromkeys(
                    i
                    for recipe in rehearsal.recipes
                    for ids in rehearsal.instances_of(recipe).values()
                    for i in ids
                )
            ),
            details={"rehearsal": rehearsal},
            severity=2.0,
            preview=rehearsal.outline(),
        )


def _preview(
    actions: Mapping[str, FisAction],
    targets: Mapping[str, FisTarget],
    resolved: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    """``action stop: aws:ec2:stop-instances on Instances=web (startInstancesAfterDuration=PT2M)``
    and ``target web: aws:ec2:instance tagged app=shop, COUNT(1) -> i-1, i-2``."""
    lines = []
    for name, action in actions.items():
        on = ", ".join(f"{key}={value}" for key, value in (action.get("targets") or {}).items())
        parameters = ", ".join(
            f"{key}={value}" for key, value in sorted((action.get("parameters") or {}).items())
        )
        lines.append(
            f"action {name}: {action['actionId']}"
            + (f" on {on}" if on else "")
            + (f" ({parameters})" if parameters else "")
        )
    for name, target in targets.items():
        if name not in resolved:
            found = ""
        elif resolved[name]:
            found = f" -> {', '.join(resolved[name])}"
        elif target.get("resourceArns"):
            found = ""
        else:
            found = " -> nothing found now (FIS resolves it when the experiment starts)"
        lines.append(f"target {name}: {_describe_target(target)}{found}")
    return tuple(lines)


def _describe_target(target: FisTarget) -> str:
    """``aws:ec2:instance tagged app=shop, COUNT(1)`` or ``... 2 ARNs, ALL``."""
    chosen = []
    if target.get("resourceArns"):
        chosen.append(f"{len(target['resourceArns'])} ARN(s)")
    if target.get("resourceTags"):
        tags = ", ".join(f"{k}={v}" for k, v in sorted(target["resourceTags"].items()))
        chosen.append(f"tagged {tags}")
    for found in target.get("filters") or ():
        chosen.append(f"{found['path']} in {', '.join(found['values'])}")
    if target.get("parameters"):
        chosen.append(f"parameters {dict(target['parameters'])}")
    return f"{target['resourceType']} {' '.join(chosen) or 'all'}, {target['selectionMode']}"
