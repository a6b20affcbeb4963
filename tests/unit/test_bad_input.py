"""Bad input is a ConfigError naming the field and what to write instead: never a traceback
from chaoskit's own code, and never a value accepted now that fails once load is running."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from tests.strategies import anything

from chaoskit import faults, load, slo
from chaoskit.durations import parse_duration
from chaoskit.errors import ConfigError
from chaoskit.experiment.marker import parse_marker

MAX_PHASE = 86400  # a day: the longest baseline, hold, recovery or RTO (documented)
MAX_DURATION = 366 * 86400  # a year: the longest duration of any kind
LOCUSTFILE = Path(__file__).resolve().parents[2] / "experiments" / "locustfile.py"


def marker(**arguments: object) -> object:
    return parse_marker(
        (), {"load": load.Locust(LOCUSTFILE), "steady_state": ["p99<1s"], **arguments}
    )


def test_deeply_nested_objective_strings_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"nested more than \d+ parentheses deep"):
        slo.parse("(" * 400 + "p99<1s" + ")" * 400)
    # As deep as anyone writes still reads.
    assert slo.parse("(" * 20 + "p99<1s" + ")" * 20).describe() == "p99 < 1s"


@pytest.mark.parametrize("phases", [None, 5, 2.5, b"during", object()])
def test_phases_that_are_not_words_are_a_config_error(phases: object) -> None:
    with pytest.raises(ConfigError, match=r"phases=.* use 'all', 'before', 'during'"):
        slo.latency(p=99, below="1s", phases=phases)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="phases="):
        slo.parse("errors<1%", phases=phases)  # type: ignore[arg-type]


@pytest.mark.parametrize("toxicity", ["nan", "NaN%", "sNaN", "-nan", "snan%", float("nan")])
def test_a_toxicity_that_is_not_a_number_is_a_config_error(toxicity: object) -> None:
    with pytest.raises(ConfigError, match=r"toxicity\)=.* must be a share above 0"):
        faults.Latency(target="web", delay="1ms", toxicity=toxicity)


@pytest.mark.parametrize("argument", ["baseline", "recovery"])
@pytest.mark.parametrize(
    "value", [1e308, pytest.param(10**400, id="10**400"), MAX_PHASE + 1, "25h", "2d"]
)
def test_a_phase_longer_than_a_day_is_refused_before_anything_runs(
    argument: str, value: object
) -> None:
    with pytest.raises(ConfigError, match=rf"chaos\({argument}=.*\) is longer than 1d"):
        marker(**{argument: value})


def test_an_rto_longer_than_a_day_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"chaos\(rto=1e\+308\) is longer than 1d"):
        marker(rto=1e308)


def test_every_duration_has_an_upper_bound() -> None:
    assert parse_duration("366d", field="x") == MAX_DURATION
    for value in (MAX_DURATION + 1, 1e308, "367d", 10**400):
        with pytest.raises(ConfigError, match=r"x=.* is longer than 366d"):
            parse_duration(value, field="x")
    with pytest.raises(ConfigError, match=r"slo.budget\(period=1e\+308\) is longer than 366d"):
        slo.budget(target="99.9%", period=1e308, max_budget="2%")
    with pytest.raises(ConfigError, match=r"Latency\(delay=1e\+308\) is longer than 366d"):
        faults.Latency(target="web", delay=1e308)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: load.Locust(LOCUSTFILE, users=10**12), r"users=10+ is more than 100000"),
        (lambda: load.Locust(LOCUSTFILE, workers=10**9), r"workers=10+ is more than 256"),
        (lambda: load.Locust(LOCUSTFILE, remote_workers=10**6), r"remote_workers=.* more than"),
        (lambda: load.Locust(LOCUSTFILE, rate=1e308), r"rate=1e\+308 is more than 1000000"),
        (lambda: load.Locust(LOCUSTFILE, spawn_rate=1e308), r"spawn_rate=1e\+308 is more than"),
        (lambda: faults.TerminateInstances(target="web", count=10**30), r"count=10+\).* 10000"),
        (lambda: marker(halt_after=10**30), r"halt_after=10+\) .*at most 86400"),
    ],
)
def test_every_count_has_an_upper_bound(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_a_hold_longer_than_a_day_is_refused_before_anything_is_injected(tmp_path: Path) -> None:
    from tests.unit.test_lifecycle import make

    experiment = make(tmp_path)
    experiment.start()
    fault = faults.Latency(target="web", delay="1ms")
    with pytest.raises(ConfigError, match=r"inject\(hold=1e\+308\) is longer than 1d"):
        experiment.inject(fault, hold=1e308)
    assert experiment.env.target("web").faults == {}  # nothing was injected


@pytest.mark.parametrize("argument", ["guardrail", "steady_state"])
def test_a_bad_objective_list_is_named_by_its_own_argument(argument: str) -> None:
    with pytest.raises(ConfigError, match=rf"^chaos\({argument}=None\) must be a list"):
        marker(**{argument: None})


@given(value=anything)
def test_any_value_of_any_marker_argument_is_accepted_or_a_config_error(value: object) -> None:
    for argument in ("baseline", "recovery", "rto", "guardrail", "halt_after", "steady_state"):
        with contextlib.suppress(ConfigError):
            marker(**{argument: value})
