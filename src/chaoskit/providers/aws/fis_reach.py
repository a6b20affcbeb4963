"""Whether an FIS template stays within its environment (DESIGN §4: the allow-list and the
blast radius, before any mutating call), checked when a fault is planned, with read-only
calls, so that a dry-run checks it too:

- every ARN a template target names is of the account checked when the environment opened
  and of its region (global resources, such as IAM roles, have no region);
- an ``aws:ec2:instance`` target could select only instances of one configured target: its
  ARNs, or what its tags and filters select now (DescribeInstances), must all be live
  instances of that target, and what its ``selectionMode`` picks among them (ALL, COUNT(n),
  PERCENT(n) rounded up, as FIS does) must be within that target's ``max_count`` and
  ``max_percent``.

Each template target is judged on its own, then the template as a whole: the template targets
that fall in one configured target together hit at most the sum of their selections (no more
than all they could select), and that too must be within its blast radius. Other resource
types are resolved by FIS only, so only their ARNs can be checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaoskit.errors import ConfigError
from chaoskit.faults.fis_template import selection_count
from chaoskit.providers.aws.clients import AwsClients
from chaoskit.providers.aws.fis_targets import INSTANCE, selectable_instances
from chaoskit.providers.aws.target import AwsTarget
from chaoskit.vocabulary import FisTarget, FisTemplateBody


@dataclass(frozen=True, kw_only=True)
class _Selection:
    """What one template target could hit: ``hits`` of ``candidates``, all of ``holder``."""

    name: str
    holder: str
    hits: int
    candidates: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class Reach:
    """Where an environment's FIS experiments may act."""

    env: str
    region: str
    account: str
    allowed_accounts: tuple[str, ...]
    clients: AwsClients
    targets: Mapping[str, AwsTarget]

    def check(self, fault: str, template: FisTemplateBody) -> None:
        """ConfigError naming ``fault``, the template target, the limit and where it is set
        when ``template`` could act outside the environment (see the module)."""
        targets = template.get("targets") or {}
        problems = [
            problem
            for name, target in targets.items()
            for problem in self._arn_problems(name, target.get("resourceArns") or ())
        ]
        if problems:
            raise ConfigError(f"{fault}: " + " ".join(problems))
        live = {
            name: {instance.id for instance in target.instances()}
            for name, target in self.targets.items()
            if target.spec.resource_type == INSTANCE
        }
        reached: dict[str, list[_Selection]] = {}
        for name, target in targets.items():
            if target.get("resourceType") == INSTANCE:
                selection = self._check_instances(fault, name, target, live)
                if selection is not None:
                    reached.setdefault(selection.holder, []).append(selection)
        for holder, selections in reached.items():
            if len(selections) > 1:
                self._check_together(fault, holder, selections, live)

    def _check_together(
        self,
        fault: str,
        holder: str,
        selections: Sequence[_Selection],
        live: Mapping[str, set[str]],
    ) -> None:
        could_select = set().union(*(selection.candidates for selection in selections))
        hits = min(sum(selection.hits for selection in selections), len(could_select))
        limit = self.targets[holder].blast_radius(len(live[holder]))
        if hits > limit:
            each = ", ".join(f"{s.name!r} {s.hits}" for s in selections)
            raise ConfigError(
                f"{fault}: template targets {each} together could hit {hits} instance(s) of "
                f"target {holder!r}, which exceeds its blast radius (max {limit} of "
                f"{len(live[holder])} instances: {self.targets[holder].limits_text()}); raise it "
                f"in [tool.chaoskit.env.{self.env}.targets.{holder}] or narrow the template "
                f"targets' selectionMode (COUNT(n), PERCENT(n))."
            )

    def _arn_problems(self, name: str, arns: Sequence[str]) -> list[str]:
        problems = []
        for arn in arns:
            parts = str(arn).split(":")
            region, account = (parts[3], parts[4]) if len(parts) > 5 else ("", "")
            why = []
            if account and account != self.account:
                why.append(f"of account {account}, not {self.account}")
            if region and region != self.region:
                why.append(f"in region {region}, not {self.region}")
            if why:
                problems.append(
                    f"template target {name!r} names {arn}, {' and '.join(why)}: environment "
                    f"{self.env!r} acts in account {self.account} (allowed_accounts = "
                    f"{list(self.allowed_accounts)}) and region {self.region} only. Name "
                    f"resources of that account and region, or use an environment of theirs."
                )
        return problems

    def _check_instances(
        self,
        fault: str,
        name: str,
        target: FisTarget,
        live: Mapping[str, set[str]],
    ) -> _Selection | None:
        """What template target ``name`` could hit, once it is within one configured target's
        blast radius on its own; None when it selects nothing now."""
        mode = str(target.get("selectionMode", "ALL"))
        candidates = selectable_instances(self.clients, target)
        if not candidates:
            return None  # nothing to hit now; FIS fails an experiment whose target selects nothing
        holders = [t for t, ids in live.items() if set(candidates) <= ids]
        if not holders:
            held = set().union(*live.values()) if live else set()
            strangers = sorted(set(candidates) - held) or sorted(candidates)
            defined = (
                "; ".join(f"{t}: {self.targets[t].selector_text()}" for t in sorted(live)) or "none"
            )
            raise ConfigError(
                f"{fault}: template target {name!r} ({mode}) could select "
                f"{', '.join(strangers)}, which no target of environment {self.env!r} holds "
                f"(all it could select must be instances of one target; targets: {defined}). "
                f"Narrow the template target's resourceArns, resourceTags or filters, or "
                f"define the instances as a target in [tool.chaoskit.env.{self.env}.targets."
                f"NAME] with its blast radius."
            )
        hits = selection_count(mode, len(candidates), field=f"targets.{name}.selectionMode")
        judged = [(self.targets[t].blast_radius(len(live[t])), t) for t in sorted(holders)]
        limit, holder = max(judged)
        if hits > limit:
            spec = self.targets[holder]
            raise ConfigError(
                f"{fault}: template target {name!r} ({mode}) could hit {hits} instance(s), "
                f"which exceeds the blast radius of target {holder!r} (max {limit} of "
                f"{len(live[holder])} instances: {spec.limits_text()}); raise it in "
                f"[tool.chaoskit.env.{self.env}.targets.{holder}] or narrow the template "
                f"target's selectionMode (COUNT(n), PERCENT(n))."
            )
        return _Selection(name=name, holder=holder, hits=hits, candidates=frozenset(candidates))
