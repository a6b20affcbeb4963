"""SLOs from OpenSLO v1 YAML files, as chaoskit objectives and error budgets.

    spec = openslo.load("experiments/slo/shop.yaml")
    pytestmark = pytest.mark.chaos(
        steady_state=spec.objectives, error_budget=spec.error_budget, ...
    )

What is read, per ``kind: SLO`` document (an SLI may be inline under ``spec.indicator`` or a
separate ``kind: SLI`` document named by ``spec.indicatorRef``):

- ``ratioMetric`` (good/total or bad/total) with ``objectives[].target`` (e.g. 0.995): the share
  of requests that must succeed, i.e. an error-rate objective below ``1 - target``;
- ``thresholdMetric`` with ``objectives[].op`` and ``value``: a latency percentile
  (``metricSource.spec.percentile``, default 99, value in seconds) bounded by ``lt``/``lte``;
- ``timeWindow[0].duration`` with the first objective's ``target``: the error budget's period
  (units m, h, d, w, M = 30 days, Q = 90 days, Y = 365 days).

The SLI must be one chaoskit measures: ``metricSource.type: chaoskit`` (the load's own
requests). Other sources (Prometheus, Datadog, ...) are refused with a clear error rather than
silently judged on something else. ``budgetingMethod: Timeslices`` is refused the same way:
chaoskit counts occurrences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaoskit.errors import ConfigError
from chaoskit.slo.budget import ErrorBudget
from chaoskit.slo.measurement import Objective
from chaoskit.slo.objectives import ErrorRateObjective, LatencyObjective

# A YAML document as safe_load returns it: mappings of names to anything YAML holds.
Document = Mapping[str, object]

_DURATION = re.compile(r"^(\d+)([mhdwMQY])$")
_UNIT_SECONDS = {
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "M": 30 * 86400,
    "Q": 90 * 86400,
    "Y": 365 * 86400,
}
SUPPORTED_SOURCES = ("chaoskit",)


@dataclass(frozen=True, kw_only=True)
class OpenSLOSpec:
    """What the file's SLOs ask for, ready for ``chaos(steady_state=..., error_budget=...)``."""

    objectives: tuple[Objective, ...]
    error_budget: ErrorBudget | None
    names: tuple[str, ...]


def load(path: str | Path) -> OpenSLOSpec:
    """Read an OpenSLO v1 file (one or several YAML documents, or a list of objects)."""
    import yaml  # only when a file is read: pytest --co stays light

    file = Path(path)
    try:
        documents = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
    except OSError as error:
        raise ConfigError(f"cannot read OpenSLO file {str(path)!r}: {error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    objects: list[object] = []
    for document in documents:
        objects.extend(document if isinstance(document, list) else [document])
    return from_objects(objects, source=str(path))


def from_objects(objects: Sequence[object], *, source: str = "OpenSLO") -> OpenSLOSpec:
    """The objectives and error budget of already parsed OpenSLO objects."""
    slis: dict[str, object] = {
        _name(o, source): o["spec"]
        for o in objects
        if isinstance(o, Mapping) and o.get("kind") == "SLI"
    }
    objectives: list[Objective] = []
    budget: ErrorBudget | None = None
    names = []
    for document in objects:
        if not isinstance(document, Mapping):
            raise ConfigError(f"{source}: every document must be a mapping, not {document!r}.")
        if document.get("apiVersion") != "openslo/v1":
            raise ConfigError(
                f"{source}: apiVersion {document.get('apiVersion')!r} is not supported; "
                f"chaoskit reads apiVersion: openslo/v1."
            )
        if document.get("kind") != "SLO":
            continue
        name = _name(document, source)
        where = f"{source}: SLO {name!r}"
        spec = _mapping(document.get("spec"), f"{where}: spec")
        if spec.get("budgetingMethod", "Occurrences") != "Occurrences":
            raise ConfigError(
                f"{where}: budgetingMethod {spec['budgetingMethod']!r} is not supported; "
                f"chaoskit counts requests (budgetingMethod: Occurrences)."
            )
        indicator = _indicator(spec, slis, where)
        slo_objectives = spec.get("objectives")
        if not isinstance(slo_objectives, list) or not slo_objectives:
            raise ConfigError(f"{where}: spec.objectives must list at least one objective.")
        for index, objective in enumerate(slo_objectives):
            objectives.append(
                _objective(
                    indicator,
                    _mapping(objective, f"{where}: objectives[{index}]"),
                    f"{where}: objectives[{index}]",
                )
            )
        if budget is None and "ratioMetric" in indicator:
            first = _mapping(slo_objectives[0], f"{where}: objectives[0]")
            budget = _budget(spec, first, where)
        names.append(name)
    if not names:
        raise ConfigError(f"{source} holds no kind: SLO document.")
    return OpenSLOSpec(objectives=tuple(objectives), error_budget=budget, names=tuple(names))


def _indicator(spec: Document, slis: Mapping[str, object], where: str) -> Document:
    if "indicator" in spec:
        indicator = _mapping(spec["indicator"], f"{where}: spec.indicator")
        return _mapping(indicator.get("spec"), f"{where}: spec.indicator.spec")
    reference = spec.get("indicatorRef")
    if not isinstance(reference, str) or reference not in slis:
        raise ConfigError(
            f"{where}: indicatorRef {reference!r} names no kind: SLI document in the file; "
            f"known SLIs: {', '.join(sorted(slis)) or 'none'}."
        )
    return _mapping(slis[reference], f"{where}: SLI {reference!r} spec")


def _objective(indicator: Document, objective: Document, where: str) -> Objective:
    if "ratioMetric" in indicator:
        ratio = _mapping(indicator["ratioMetric"], f"{where}: ratioMetric")
        for part in ("good", "bad", "total"):
            if part in ratio:
                _check_source(_mapping(ratio[part], f"{where}: {part}").get("metricSource"), where)
        target = _fraction(objective.get("target"), f"{where}: target")
        return ErrorRateObjective(below=round(1 - target, 12), inclusive=True)
    if "thresholdMetric" in indicator:
        threshold = _mapping(indicator["thresholdMetric"], f"{where}: thresholdMetric")
        source = _check_source(threshold.get("metricSource"), where)
        op, value = objective.get("op"), objective.get("value")
        if op not in ("lt", "lte"):
            raise ConfigError(
                f"{where}: op {op!r} is not supported for latency; write op: lt or op: lte."
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{where}: value {value!r} must be a latency in seconds, e.g. 0.3.")
        # OpenSLO's "target: 0.95" with "op: lt, value: 0.3" means 95 % of requests under 300 ms:
        # the 95th percentile. Without a target, metricSource.spec.percentile (default 99).
        share = objective.get("target")
        source_spec = _mapping(source.get("spec", {}), f"{where}: metricSource.spec")
        percentile: object = source_spec.get("percentile", 99)
        if share is not None:
            from_target = round(_fraction(share, f"{where}: target") * 100, 9)
            if "percentile" in source_spec and percentile != from_target:
                raise ConfigError(
                    f"{where}: target {share} means p{from_target:g} but metricSource.spec."
                    f"percentile says {percentile}; keep one of them."
                )
            percentile = from_target
        if not isinstance(percentile, int | float) or not 0 < percentile < 100:
            raise ConfigError(f"{where}: metricSource.spec.percentile {percentile!r} is not 0-100.")
        return LatencyObjective(
            percentile=float(percentile), below=float(value), inclusive=op == "lte"
        )
    raise ConfigError(f"{where}: the SLI has neither ratioMetric nor thresholdMetric.")


def _check_source(source: object, where: str) -> Document:
    found = _mapping(source, f"{where}: metricSource")
    if found.get("type") not in SUPPORTED_SOURCES:
        raise ConfigError(
            f"{where}: metricSource type {found.get('type')!r} is not one chaoskit can judge; "
            f"use type: chaoskit (the load's own requests)."
        )
    return found


def _budget(spec: Document, objective: Document, where: str) -> ErrorBudget | None:
    windows = spec.get("timeWindow")
    if not windows:
        return None
    if not isinstance(windows, list):
        raise ConfigError(f"{where}: timeWindow must be a list, not {windows!r}.")
    duration = _mapping(windows[0], f"{where}: timeWindow[0]").get("duration")
    match = _DURATION.match(str(duration))
    if match is None:
        raise ConfigError(
            f"{where}: timeWindow duration {duration!r} is not an OpenSLO duration such as 30d."
        )
    target = _fraction(objective.get("target"), f"{where}: target")
    return ErrorBudget(
        target=target, period=float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    )


def _fraction(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ConfigError(f"{where} {value!r} must be a fraction below 1, e.g. 0.995.")
    return float(value)


def _name(document: Document, source: str) -> str:
    metadata = document.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise ConfigError(f"{source}: a {document.get('kind')} document has no metadata.name.")
    return str(metadata["name"])


def _mapping(value: object, where: str) -> Document:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, not {value!r}.")
    return value
