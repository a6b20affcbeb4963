"""``FisExperiment``: run an AWS FIS experiment template as a chaoskit fault.

The template is checked when the fault is made (a file or a dict) or planned (the id of a
template in the account, fetched read-only). Injecting creates chaoskit's own copy of it, with
the environment's role, stop alarms and run id tag, starts it and waits until it runs;
reverting stops it unless it has ended and deletes the copy. The user's template, and an
existing template named by id, are never changed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoskit.durations import Duration, parse_duration
from chaoskit.errors import ConfigError, InjectionError, ProviderError
from chaoskit.faults.fis_template import FisTemplate, read_template
from chaoskit.typing import Environment, FisRun, PlansFis, RunsFis
from chaoskit.vocabulary import FaultPlan

# How long injecting waits for FIS to resolve targets and start the actions.
DEFAULT_START_TIMEOUT = 120.0


def fis_environment(env: Environment, fault: str) -> RunsFis:
    """``env`` as one that runs FIS experiments, or ConfigError naming the fault and the
    environment's provider (or, from an environment that checks, the setting it lacks)."""
    if isinstance(env, RunsFis):
        if isinstance(env, PlansFis):
            env.check_fis(fault)
        return env
    provider = getattr(env, "provider", None) or (
        type(env).__name__.removesuffix("Environment").lower() or "unknown"
    )
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
    def undo(self) -> Mapping[str, Any]:
        return self.run.undo

    @property
    def details(self) -> Mapping[str, Any]:
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


class FisExperiment(_FisExperimentFields):
    """Run an AWS FIS experiment: ``template`` is a file (JSON or YAML, as `aws fis
    create-experiment-template --cli-input-json` takes it), a dict of the same, or the id of
    a template in the account (``"EXT..."``). ``timeout`` bounds the wait until it runs.
    """

    def __init__(
        self,
        *,
        template: str | Path | Mapping[str, Any],
        timeout: Duration = DEFAULT_START_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        read = read_template(template, field=f"{name}(template)")
        super().__init__(
            template=read if isinstance(read, FisTemplate) else None,
            template_id=read if isinstance(read, str) else None,
            timeout=parse_duration(timeout, field=f"{name}(timeout)", allow_zero=False),
        )

    @property
    def label(self) -> str:
        return self.template.label if self.template is not None else str(self.template_id)

    def describe(self) -> str:
        return f"FisExperiment {self.label}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        fis = fis_environment(env, self.describe())
        if self.template is not None:
            body = self.template.body
        else:
            assert self.template_id is not None
            body = fis.fis_template(self.template_id)
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

    def inject(self, plan: FaultPlan, env: Environment) -> FisInjection:
        return start_fis(fis_environment(env, self.describe()), plan, timeout=self.timeout)


def _preview(
    actions: Mapping[str, Any],
    targets: Mapping[str, Any],
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


def _describe_target(target: Mapping[str, Any]) -> str:
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
