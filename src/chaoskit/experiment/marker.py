"""The arguments of ``chaos(...)``, validated before anything runs.

Markers on a module, a class and a test merge key by key, the nearest winning; the plugin
hands the merged keywords here. Every mistake is a ConfigError naming the argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from chaoskit.durations import MAX_PHASE, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.experiment.lifecycle import ExperimentSettings
from chaoskit.experiment.written import AsWritten
from chaoskit.load import Locust
from chaoskit.slo.budget import ErrorBudget
from chaoskit.slo.grammar import parse_objective
from chaoskit.slo.measurement import Objective
from chaoskit.slo.recovery import Band

DEFAULT_BASELINE = 10.0
DEFAULT_RECOVERY = 15.0
RECOVERED_SECONDS = Band().consecutive
DEFAULT_HALT_AFTER = 3


@dataclass(frozen=True, kw_only=True)
class ChaosMarker:
    load: Locust
    steady_state: tuple[Objective, ...]
    baseline: float
    recovery: float
    allow_inconclusive: bool
    rto: float | None
    error_budget: ErrorBudget | None
    guardrail: tuple[Objective, ...]
    halt_after: int

    def settings(self, name: str, *, written: AsWritten | None = None) -> ExperimentSettings:
        """The lifecycle's settings for the experiment called ``name``; ``written``: what
        its author wrote, for the report."""
        return ExperimentSettings(
            name=name,
            objectives=self.steady_state,
            baseline=self.baseline,
            recovery=self.recovery,
            allow_inconclusive=self.allow_inconclusive,
            rto=self.rto,
            error_budget=self.error_budget,
            guardrail=self.guardrail,
            halt_after=self.halt_after,
            written=written or AsWritten(),
            load_target=self.load.target,
        )


_KNOWN = {
    "load": "a load.Locust(...)",
    "steady_state": "a list of objectives such as slo.latency(p=99, below='300ms') or 'p99<300ms'",
    "baseline": "a duration such as '10s'",
    "recovery": "a duration such as '15s'",
    "allow_inconclusive": "True or False",
    "rto": "the longest acceptable recovery after each revert, e.g. '10s'",
    "error_budget": "slo.budget(target='99.9%', period='30d', max_budget='2%')",
    "guardrail": "objectives judged on every second of a hold, e.g. 'errors<5%'",
    "halt_after": "breaching seconds in a row that end a hold early (default 3)",
}


def parse_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> ChaosMarker:
    if args:
        raise ConfigError(
            f"chaos() takes keyword arguments only, got {len(args)} positional; "
            f"write chaos(load=..., steady_state=[...], baseline='10s', recovery='15s')."
        )
    unknown = sorted(set(kwargs) - set(_KNOWN))
    if unknown:
        raise ConfigError(
            f"chaos() got unknown argument(s) {', '.join(unknown)}; the arguments are: "
            + "; ".join(f"{name}= {meaning}" for name, meaning in _KNOWN.items())
            + "."
        )
    load = kwargs.get("load")
    if load is None:
        raise ConfigError(
            "chaos() has no load, so nothing would be measured; add "
            "load=load.Locust('experiments/locustfile.py', users=20)."
        )
    if not isinstance(load, Locust):
        raise ConfigError(
            f"chaos(load={load!r}) is not a load driver; write "
            f"load=load.Locust('experiments/locustfile.py', users=20)."
        )
    objectives = _objectives(kwargs.get("steady_state", ()), argument="steady_state")
    if not objectives:
        raise ConfigError(
            "chaos() has no steady_state objectives, so no verdict could be drawn; add "
            "steady_state=[slo.latency(p=99, below='300ms'), slo.error_rate(below='1%')]."
        )
    allow = kwargs.get("allow_inconclusive", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"chaos(allow_inconclusive={allow!r}) must be True or False.")
    recovery = parse_duration(
        kwargs.get("recovery", DEFAULT_RECOVERY), field="chaos(recovery)", maximum=MAX_PHASE
    )
    rto = kwargs.get("rto")
    if rto is not None:
        rto = parse_duration(rto, field="chaos(rto)", maximum=MAX_PHASE)
        # Recovery is only seen inside the recovery window, and it takes RECOVERED_SECONDS
        # whole seconds back in the band to count.
        if rto + RECOVERED_SECONDS + 1 > recovery:
            raise ConfigError(
                f"chaos(rto={kwargs['rto']!r}) cannot be checked in a recovery window of "
                f"{recovery:g}s: recovery counts once {RECOVERED_SECONDS} seconds in a row are "
                f"back to normal; make recovery at least {rto + RECOVERED_SECONDS + 1:g}s."
            )
    return ChaosMarker(
        load=load,
        steady_state=tuple(objectives),
        baseline=parse_duration(
            kwargs.get("baseline", DEFAULT_BASELINE),
            field="chaos(baseline)",
            allow_zero=False,
            maximum=MAX_PHASE,
        ),
        recovery=recovery,
        allow_inconclusive=allow,
        rto=rto,
        error_budget=_error_budget(kwargs.get("error_budget")),
        guardrail=(
            _objectives(kwargs["guardrail"], argument="guardrail") if "guardrail" in kwargs else ()
        ),
        halt_after=_halt_after(kwargs.get("halt_after", DEFAULT_HALT_AFTER)),
    )


def _objectives(value: object, *, argument: str) -> tuple[Objective, ...]:
    """A list of objectives or objective strings (``"p99<300ms"``); one alone is fine too."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    objectives = []
    for item in items:
        if isinstance(item, str):
            try:
                objectives.append(parse_objective(item))
            except ConfigError as error:
                raise ConfigError(f"chaos({argument}=[...]): {error}") from None
        elif callable(getattr(item, "evaluate", None)) and hasattr(item, "phases"):
            objectives.append(cast(Objective, item))
        else:
            raise ConfigError(
                f"chaos({argument}={value!r}) must be a list of objectives, e.g. "
                f"[slo.latency(p=99, below='300ms'), 'errors<1%']; {item!r} is not one."
            )
    _refuse_twins(objectives)
    return tuple(objectives)


def _refuse_twins(objectives: list[Objective]) -> None:
    """Two objectives that read the same and share a phase would be one row of the verdict
    table, one hiding the other's result."""
    for index, objective in enumerate(objectives):
        for other in objectives[:index]:
            shared = objective.phases & other.phases
            if objective.describe() == other.describe() and shared:
                raise ConfigError(
                    f"the objective {objective.describe()!r} is listed twice for the "
                    f"{'/'.join(sorted(shared))} phase; each objective is one row of the "
                    f"verdict, so remove one, or tell them apart (a Prometheus query by its "
                    f"name=, a custom check by its name)."
                )


def _error_budget(value: object) -> ErrorBudget | None:
    if value is None or isinstance(value, ErrorBudget):
        return value
    raise ConfigError(
        f"chaos(error_budget={value!r}) is not an error budget; write "
        f"error_budget=slo.budget(target='99.9%', period='30d', max_budget='2%')."
    )


def _halt_after(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PHASE:
        raise ConfigError(
            f"chaos(halt_after={value!r}) is a number of seconds in a row, at least 1 and at "
            f"most {MAX_PHASE:.0f} (a day); write halt_after=3."
        )
    return value
