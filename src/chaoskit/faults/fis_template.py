"""AWS FIS experiment templates as users hand them to chaoskit, checked before anything runs.

A template is the input of FIS's CreateExperimentTemplate, exactly as
``aws fis create-experiment-template --cli-input-json file://t.json`` takes it: a JSON (or
YAML) file, a dict, or the id of a template that already exists in the account.

``check_template`` validates one against botocore's FIS service model with botocore's own
``ParamValidator`` (what boto3 and the AWS CLI run before sending), so an invalid template is
refused with the CLI's words ("Missing required parameter in targets.web: ..."), naming the
file, the field and its place. It then checks what the model cannot express: an action's
``targets`` and ``startAfter`` must name targets and actions the template defines, and
``startAfter`` must not go round in a circle.

botocore is imported inside the functions that need it: this module belongs to the fault
layer, which must not pull the AWS SDK into a process that never opens an AWS environment
(``pytest --co``, the local provider).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from chaoskit.errors import ConfigError
from chaoskit.faults._selection import share_of
from chaoskit.faults.fis_documents import send_command_problems
from chaoskit.faults.fis_durations import parse_iso_duration
from chaoskit.vocabulary import FisAction, FisTemplateBody

if TYPE_CHECKING:
    from botocore.model import Shape, StructureShape

# Real FIS template ids look like EXTa1b2c3de5f6g7h; moto and LocalStack, which an environment
# may point ``endpoint_url`` at, give 32 hex digits.
TEMPLATE_ID = re.compile(r"^(EXT[0-9A-Za-z]{4,60}|[0-9a-f]{32})$")
# botocore fills CreateExperimentTemplate's idempotency token itself; a template file need
# not carry one, so validation supplies a stand-in for it.
_TOKEN_STAND_IN = "chaoskit-validation"
_YAML_SUFFIXES = (".yaml", ".yml")
_MODE = re.compile(r"^(ALL|COUNT\((\d+)\)|PERCENT\((\d+(?:\.\d+)?)\))$")
# Action parameters that FIS reads as ISO 8601 durations.
DURATION_PARAMETERS = (
    "duration",
    "maxDuration",
    "startInstancesAfterDuration",
    "durationBeforeInterruption",
)


@dataclass(frozen=True, kw_only=True)
class FisTemplate:
    """A template that passed ``check_template``. ``source`` names where it came from, for
    errors and reports: a file path, ``"template dict"`` or ``"template EXT..."``."""

    body: FisTemplateBody
    source: str

    @property
    def label(self) -> str:
        """A short name: the file's stem, the template's id, or its description."""
        if self.source.startswith("template ") and self.source != "template dict":
            return self.source.removeprefix("template ")
        if self.source != "template dict":
            return Path(self.source).stem
        return str(self.body.get("description", "inline template"))[:60]


def read_template(template: object, *, field: str) -> FisTemplate | str:
    """What ``template=`` holds: a checked ``FisTemplate`` (a file or a dict), or the id of an
    existing template (a ``str``), which can only be checked once an environment fetches it."""
    if isinstance(template, Mapping):
        return check_template(template, source="template dict")
    if isinstance(template, Path):
        return _from_file(template, field=field)
    if isinstance(template, str):
        if Path(template).is_file():
            return _from_file(Path(template), field=field)
        if TEMPLATE_ID.match(template):
            return template
        raise ConfigError(
            f"{field}={template!r} is neither an existing file nor a FIS template id "
            f"(EXT followed by letters and digits). Give the path of a template file as "
            f"`aws fis create-experiment-template --cli-input-json` takes it, a dict, or the "
            f"id of a template in the account."
        )
    raise ConfigError(
        f"{field}={template!r} must be a template file path, a dict or a template id "
        f"(EXT...), not {type(template).__name__}."
    )


def _from_file(path: Path, *, field: str) -> FisTemplate:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{field}: cannot read {path}: {error.strerror or error}.") from error
    if path.suffix.lower() in _YAML_SUFFIXES:
        body = _parse_yaml(text, path)
    else:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{path}: not valid JSON at line {error.lineno} column {error.colno}: "
                f"{error.msg}. A template file holds one JSON object, as "
                f"`aws fis create-experiment-template --cli-input-json` reads it."
            ) from error
    if not isinstance(body, Mapping):
        raise ConfigError(
            f"{path}: a template is a JSON object of CreateExperimentTemplate fields "
            f"(description, roleArn, targets, actions, stopConditions, ...), not a "
            f"{type(body).__name__}."
        )
    return check_template(body, source=str(path))


def _parse_yaml(text: str, path: Path) -> object:
    import yaml  # only templates written as YAML need it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}.") from error


def check_template(body: Mapping[str, object], *, source: str) -> FisTemplate:
    """``body`` as a ``FisTemplate``, or ConfigError naming ``source``, the field and why."""
    if not isinstance(body, Mapping):
        raise ConfigError(f"{source}: a template is a mapping of CreateExperimentTemplate fields.")
    report = model_report(body)
    if report:
        raise ConfigError(
            f"{source}: Parameter validation failed:\n{report}\nFix the field named above: a "
            f"template is CreateExperimentTemplate input, as `aws fis "
            f"create-experiment-template --cli-input-json` takes it."
        )
    # botocore's validator has just checked every field against FIS's model: it is one.
    checked = cast("FisTemplateBody", _plain(body))
    problems = semantic_problems(checked)
    if problems:
        raise ConfigError(
            f"{source}: the template is well formed but FIS would refuse it:\n"
            + "\n".join(problems)
        )
    return FisTemplate(body=checked, source=source)


def model_report(body: Mapping[str, object]) -> str:
    """botocore's validation report for ``body`` as CreateExperimentTemplate input ('' if
    valid), one problem a line, each naming the field as ``actions.stop.targets``."""
    from botocore.validate import ParamValidator

    params = dict(body)
    params.setdefault("clientToken", _TOKEN_STAND_IN)
    shape = _create_input_shape()
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        return str(report.generate_report())
    # botocore leaves the model's maximum lengths to the service; FIS enforces them, and a
    # generated documentParameters string can outgrow its 1024 characters. (The model's
    # patterns are unanchored Smithy patterns such as [\S]+: nothing worth checking here.)
    return "\n".join(_limit_problems(params, shape, "input"))


def _limit_problems(value: object, shape: Shape, path: str) -> list[str]:
    """The model's ``max`` constraints ``value`` breaks, as botocore words its own
    minimums: ``Invalid length for parameter actions.a.parameters.x, value: 1100, ...``."""
    from botocore.model import ListShape, MapShape, StructureShape

    problems = []
    limit = shape.metadata.get("max")
    name = path.removeprefix("input.")
    if shape.type_name == "string" and isinstance(value, str):
        if limit is not None and len(value) > limit:
            problems.append(
                f"Invalid length for parameter {name}, value: {len(value)}, valid max length: "
                f"{limit}"
            )
    elif isinstance(shape, StructureShape) and isinstance(value, Mapping):
        for key, item in value.items():
            problems += _limit_problems(item, shape.members[key], f"{path}.{key}")
    elif isinstance(shape, MapShape) and isinstance(value, Mapping):
        if limit is not None and len(value) > limit:
            problems.append(f"Too many entries in {name}: {len(value)}, at most {limit}")
        for key, item in value.items():
            problems += _limit_problems(key, shape.key, f"{path} key {key!r}")
            problems += _limit_problems(item, shape.value, f"{path}.{key}")
    elif isinstance(shape, ListShape) and isinstance(value, Sequence):
        if limit is not None and len(value) > limit:
            problems.append(f"Too many items in {name}: {len(value)}, at most {limit}")
        for index, item in enumerate(value):
            problems += _limit_problems(item, shape.member, f"{path}[{index}]")
    return problems


def semantic_problems(body: FisTemplateBody) -> list[str]:
    """What the model cannot express and FIS (or SSM) refuses: references to undefined
    targets and actions, a ``startAfter`` cycle, an alarm stop condition without an alarm,
    a duration that is not ISO 8601, a selection mode FIS does not know, an AWSFIS document
    parameter the document does not declare."""
    targets = body.get("targets") or {}
    actions = body.get("actions") or {}
    problems = []
    for name, action in actions.items():
        for kind, target in (action.get("targets") or {}).items():
            if target not in targets:
                defined = ", ".join(sorted(targets)) or "none"
                problems.append(
                    f'actions.{name}.targets.{kind}: names target "{target}", which the '
                    f"template does not define (its targets: {defined})."
                )
        for before in action.get("startAfter") or ():
            if before not in actions:
                problems.append(
                    f'actions.{name}.startAfter: names action "{before}", which the template '
                    f"does not define (its actions: {', '.join(sorted(actions))})."
                )
        parameters = action.get("parameters") or {}
        for key in DURATION_PARAMETERS:
            if key in parameters:
                problems += _problem(
                    parse_iso_duration, parameters[key], field=f"actions.{name}.parameters.{key}"
                )
        if action.get("actionId") == "aws:ssm:send-command":
            problems += send_command_problems(name, action.get("parameters") or {})
    for name, spec in targets.items():
        if "selectionMode" in spec:
            problems += _problem(
                selection_count, spec["selectionMode"], 0, field=f"targets.{name}.selectionMode"
            )
    cycle = _start_after_cycle(actions)
    if cycle:
        problems.append(
            f"actions: startAfter goes round in a circle ({' -> '.join(cycle)}), so none of "
            f"those actions could ever start."
        )
    for index, condition in enumerate(body.get("stopConditions") or ()):
        if condition.get("source") == "aws:cloudwatch:alarm" and not condition.get("value"):
            problems.append(
                f"stopConditions[{index}]: source aws:cloudwatch:alarm needs the alarm's ARN "
                f"as value."
            )
    return problems


def _problem(check: Callable[..., object], *args: object, field: str) -> list[str]:
    """What ``check(*args, field=field)`` refuses, as a problem; [] when it accepts."""
    try:
        check(*args, field=field)
    except ConfigError as error:
        return [str(error)]
    return []


def selection_count(mode: str, identified: int, *, field: str = "selectionMode") -> int:
    """How many of ``identified`` resources ``mode`` picks: ALL of them, COUNT(n) (all of
    them when fewer are identified), PERCENT(n) rounded up (at least one of a non-empty set)."""
    match = _MODE.match(mode) if isinstance(mode, str) else None
    if match is None:
        raise ConfigError(
            f"{field}={mode!r} is not a FIS selection mode; write ALL, COUNT(n) or PERCENT(n), "
            f"e.g. COUNT(1) or PERCENT(25)."
        )
    if match.group(2) is not None:
        return min(int(match.group(2)), identified)
    if match.group(3) is not None:
        percent = float(match.group(3))
        if not 0 < percent <= 100:
            raise ConfigError(f"{field}={mode!r}: PERCENT(n) takes n above 0 and at most 100.")
        return share_of(percent, identified) if identified else 0
    return identified


def _start_after_cycle(actions: Mapping[str, FisAction]) -> list[str]:
    """A circle of ``startAfter`` references (its names, first repeated last), or []."""
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, path: list[str]) -> list[str]:
        state[name] = "visiting"
        for before in actions[name].get("startAfter") or ():
            if before not in actions:
                continue
            if state.get(before) == "visiting":
                return [*path[path.index(before) :], before]
            if before not in state:
                found = visit(before, [*path, before])
                if found:
                    return found
        state[name] = "done"
        return []

    for name in actions:
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return []


def as_create_input(template: Mapping[str, object]) -> dict[str, object]:
    """GetExperimentTemplate's ``experimentTemplate`` as CreateExperimentTemplate input: the
    fields the input shape has, all the way down (ids, times and counts are dropped)."""
    result = _prune(template, _create_input_shape())
    assert isinstance(result, dict)
    result.pop("clientToken", None)
    return result


def _prune(value: object, shape: Shape) -> object:
    from botocore.model import ListShape, MapShape, StructureShape

    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {
            key: _prune(item, shape.members[key])
            for key, item in value.items()
            if key in shape.members
        }
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {key: _prune(item, shape.value) for key, item in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list | tuple):
        return [_prune(item, shape.member) for item in value]
    return value


@functools.cache
def _create_input_shape() -> StructureShape:
    import botocore.session

    model = botocore.session.get_session().get_service_model("fis")
    shape = model.operation_model("CreateExperimentTemplate").input_shape
    assert shape is not None  # the operation takes input
    return shape


def _plain(value: object) -> object:
    """A deep copy in plain dicts and lists, so the caller's later changes cannot reach it."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
