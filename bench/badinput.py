"""Bad input, generated: every malformed marker, objective string, duration, fault argument,
``[tool.chaoskit]`` table or damaged journal must be a clean chaoskit error naming the field,
within a second, never a traceback nor a hang.

Hypothesis generates the inputs (``--inputs N`` in all, default 10,000, spread over the six
kinds). An input counts as a ``traceback`` when it raises anything but a chaoskit error, or a
chaoskit error that does not name the field it is about; as a ``hang`` when it takes longer
than ``--limit`` seconds (default 2).

    python bench/badinput.py [--inputs N] [--limit SECONDS]
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from _support import bench_line, machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit import faults, load, slo
from chaoskit.config import resolve_environment
from chaoskit.config_checks import check_tool_table
from chaoskit.durations import parse_duration
from chaoskit.errors import ChaoskitError
from chaoskit.experiment.journal_checks import DamagedJournal, check_journal
from chaoskit.experiment.marker import parse_marker
from chaoskit.experiment.result import Journal

KINDS = ("marker", "objective", "duration", "fault", "pyproject", "journal")


class Hang(BaseException):
    """Raised by the alarm: an input took longer than the limit."""


@dataclass
class Tally:
    inputs: int = 0
    tracebacks: int = 0
    hangs: int = 0
    examples: Counter[str] = field(default_factory=Counter)


# -- values ----------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["", "10s", "1e308", "nan", "-1s", "300ms", "1h", "inf", "0", "99%", "p99"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
durations = st.one_of(
    values,
    st.timedeltas(),
    st.from_regex(r"\A-?[0-9]{0,400}(\.[0-9]{0,5})?(e[0-9]{1,4})?\s?(us|ms|s|m|h|d|)\Z"),
)
objective_text = st.one_of(
    st.text(max_size=60),
    st.from_regex(
        r"\A\(*(p[0-9]{1,3}(\.[0-9])?|errors|availability|rps)\s?[<>]=?\s?[0-9.e]{0,8}"
        r"(ms|s|%|/s)?\)*(\s?(&|\||and|or)\s?\(*p99<1s\)*)?\Z"
    ),
    st.integers(min_value=1, max_value=2000).map(lambda n: "(" * n + "p99<1s" + ")" * n),
)
MARKER_KEYS = (
    "load",
    "steady_state",
    "baseline",
    "recovery",
    "allow_inconclusive",
    "rto",
    "error_budget",
    "guardrail",
    "halt_after",
)
FAULT_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "Latency": ("delay", "jitter", "count", "percent", "target", "tags"),
    "TerminateInstances": ("count", "percent", "target", "tags"),
    "StopInstances": ("count", "percent", "target"),
    "Blackhole": ("count", "percent", "target", "toxicity"),
    "StressCpu": ("workers", "count", "target"),
}
FAULT_DEFAULTS: dict[str, dict[str, Any]] = {
    "Latency": {"target": "web", "delay": "10ms"},
    "StressCpu": {"target": "web"},
}
TABLE_KEYS = ("default_env", "env", "report_dir", "redact", "defualt_env", "prometeus")
ENV_KEYS = ("provider", "targets", "region", "prometheus", "allowed_accounts", "max_count")
JOURNAL = {
    "chaoskit_journal": 1,
    "run_id": "r",
    "env": "local",
    "started": 1.0,
    "finished": 2.0,
    "seed": 1,
    "resilience_score": None,
    "experiments": [
        {
            "name": "t",
            "env": "local",
            "outcome": "passed",
            "reason": "",
            "cause": "",
            "started": 1.0,
            "finished": 2.0,
            "objectives": ["p99 < 1s"],
            "phases": [],
            "injections": [],
            "measurements": [],
            "seconds": [],
            "expected_to_fail": False,
        }
    ],
}


# -- what is run -----------------------------------------------------------------------------


def a_marker(key: str, value: object) -> str:
    kwargs: dict[str, object] = {
        "load": load.Locust(__file__, users=1),
        "steady_state": [slo.error_rate(below="1%")],
        key: value,
    }
    parse_marker((), kwargs)
    return key


def an_objective(text: str) -> str:
    slo.parse(text)
    return ""  # the string is the field: any ConfigError about it is named


def a_duration(value: object) -> str:
    parse_duration(value, field="chaos(baseline)")
    return "chaos(baseline)"


def a_fault(name: str, argument: str, value: object) -> str:
    kwargs = {"target": "web", **FAULT_DEFAULTS.get(name, {}), argument: value}
    getattr(faults, name)(**kwargs)
    return argument


def a_table(key: str, value: object, env_key: str, env_value: object) -> str:
    table: dict[str, object] = {key: value}
    if key != "env":
        table["env"] = {"staging": {env_key: env_value}}
    check_tool_table(table, source="pyproject.toml")
    for name in ("local", "staging"):
        resolve_environment(table, name)
    return ""  # several fields at once: the key is checked below, not the value


def a_journal(path: tuple[str | int, ...], value: object) -> str:
    data: Any = _copy(JOURNAL)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    try:
        check_journal(data)
    except DamagedJournal as error:  # `chaoskit report` says it is damaged, naming the field
        raise ChaoskitError(str(error)) from error
    Journal.from_json(data)  # what passed the check must be readable
    return ""


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


JOURNAL_PATHS = [
    ("run_id",),
    ("started",),
    ("finished",),
    ("seed",),
    ("experiments",),
    ("resilience_score",),
    ("experiments", 0),
    ("experiments", 0, "outcome"),
    ("experiments", 0, "started"),
    ("experiments", 0, "phases"),
    ("experiments", 0, "injections"),
    ("experiments", 0, "measurements"),
    ("experiments", 0, "seconds"),
    ("experiments", 0, "objectives"),
]


# -- the harness -----------------------------------------------------------------------------


def judge(tally: Tally, kind: str, call: Callable[[], str], limit: float) -> None:
    tally.inputs += 1
    named = ""
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        named = call()
    except Hang:
        tally.hangs += 1
        tally.examples[f"{kind}: hang"] += 1
        return
    except ChaoskitError as error:
        named = getattr(error, "_named", named)
        field_name = _field_of(call)
        if field_name and field_name.split("(")[-1].rstrip(")") not in str(error):
            tally.tracebacks += 1
            tally.examples[f"{kind}: unnamed {field_name}: {str(error)[:90]}"] += 1
        return
    except RecursionError as error:
        tally.tracebacks += 1
        tally.examples[f"{kind}: {type(error).__name__}"] += 1
        return
    except Exception as error:
        tally.tracebacks += 1
        tally.examples[f"{kind}: {type(error).__name__}: {str(error)[:80]}"] += 1
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _field_of(call: Callable[[], str]) -> str:
    return getattr(call, "field", "")


def named(field_name: str, call: Callable[[], str]) -> Callable[[], str]:
    call.field = field_name  # type: ignore[attr-defined]
    return call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=2.0)
    args = parser.parse_args()
    per_kind = max(1, -(-args.inputs // len(KINDS)))  # at least --inputs in all
    limit = args.limit

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    print(f"machine: {machine()}; {per_kind} inputs of each of {', '.join(KINDS)}")
    tally = Tally()
    budget = settings(
        max_examples=per_kind,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )

    @budget
    @given(st.sampled_from(MARKER_KEYS), st.one_of(values, durations, objective_text))
    def markers(key: str, value: object) -> None:
        judge(tally, "marker", named(key, lambda: a_marker(key, value)), limit)

    @budget
    @given(objective_text)
    def objectives(text: str) -> None:
        judge(tally, "objective", lambda: an_objective(text), limit)

    @budget
    @given(durations)
    def duration_values(value: object) -> None:
        judge(tally, "duration", named("baseline", lambda: a_duration(value)), limit)

    @budget
    @given(st.data())
    def fault_arguments(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(FAULT_ARGUMENTS)))
        argument = data.draw(st.sampled_from(FAULT_ARGUMENTS[name]))
        value = data.draw(st.one_of(values, durations))
        judge(tally, "fault", named(argument, lambda: a_fault(name, argument, value)), limit)

    @budget
    @given(st.sampled_from(TABLE_KEYS), values, st.sampled_from(ENV_KEYS), values)
    def tables(key: str, value: object, env_key: str, env_value: object) -> None:
        judge(tally, "pyproject", lambda: a_table(key, value, env_key, env_value), limit)

    @budget
    @given(st.sampled_from(JOURNAL_PATHS), st.one_of(values, st.just(float("inf"))))
    def journals(path: tuple[str | int, ...], value: object) -> None:
        judge(tally, "journal", lambda: a_journal(path, value), limit)

    began = time.monotonic()
    for run in (markers, objectives, duration_values, fault_arguments, tables, journals):
        run()
    print(f"{tally.inputs} inputs in {time.monotonic() - began:.0f}s")
    for example, count in tally.examples.most_common(20):
        print(f"  {count:5d} x {example}")
    print(
        bench_line("badinput", inputs=tally.inputs, tracebacks=tally.tracebacks, hangs=tally.hangs)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
