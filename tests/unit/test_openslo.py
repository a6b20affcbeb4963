"""OpenSLO v1 files become chaoskit objectives and error budgets, or clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit import slo
from chaoskit.errors import ConfigError
from chaoskit.slo import ErrorRateObjective, LatencyObjective, openslo

EXAMPLE = Path(__file__).resolve().parents[2] / "experiments" / "slo" / "shop.yaml"


def test_the_example_file_gives_an_availability_objective_a_latency_one_and_a_budget() -> None:
    spec = openslo.load(EXAMPLE)
    assert spec.names == ("shop-availability", "shop-latency")
    assert spec.objectives == (
        ErrorRateObjective(below=0.001, inclusive=True),
        LatencyObjective(percentile=99, below=0.3),
    )
    assert spec.error_budget == slo.budget(target="99.9%", period="30d")
    assert [o.describe() for o in spec.objectives] == ["errors <= 0.1%", "p99 < 300ms"]


SLO = """
apiVersion: openslo/v1
kind: SLO
metadata: {{name: web}}
spec:
  budgetingMethod: {method}
  timeWindow: [{{duration: {duration}, isRolling: true}}]
  indicator:
    metadata: {{name: ok}}
    spec:
      ratioMetric:
        good: {{metricSource: {{type: {source}}}}}
        total: {{metricSource: {{type: {source}}}}}
  objectives: [{{target: {target}}}]
"""


def write(
    tmp_path: Path,
    method: str = "Occurrences",
    duration: str = "1w",
    source: str = "chaoskit",
    target: str = "0.995",
) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(SLO.format(method=method, duration=duration, source=source, target=target))
    return path


def test_periods_in_openslo_units(tmp_path: Path) -> None:
    assert openslo.load(write(tmp_path, duration="1w")).error_budget == slo.budget(
        target="99.5%", period="7d"
    )
    budget = openslo.load(write(tmp_path, duration="1M")).error_budget
    assert budget is not None and budget.period == 30 * 86400


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "Prometheus"}, "metricSource type 'Prometheus' is not one chaoskit can judge"),
        ({"method": "Timeslices"}, "budgetingMethod 'Timeslices' is not supported"),
        ({"duration": "a-month"}, "timeWindow duration 'a-month' is not an OpenSLO duration"),
        ({"target": "1.5"}, "target 1.5 must be a fraction below 1"),
    ],
)
def test_what_cannot_be_judged_is_refused_by_name(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        openslo.load(write(tmp_path, **kwargs))
    assert message in str(caught.value)
    assert "SLO 'web'" in str(caught.value)


def test_broken_files_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        openslo.load(broken)
    with pytest.raises(ConfigError, match="cannot read OpenSLO file"):
        openslo.load(tmp_path / "missing.yaml")
    other = tmp_path / "v2.yaml"
    other.write_text("apiVersion: openslo/v2alpha\nkind: SLO\nmetadata: {name: x}\n")
    with pytest.raises(ConfigError, match="apiVersion 'openslo/v2alpha' is not supported"):
        openslo.load(other)


def test_a_missing_sli_reference_names_the_known_ones() -> None:
    objects = [
        {
            "apiVersion": "openslo/v1",
            "kind": "SLI",
            "metadata": {"name": "fast"},
            "spec": {"thresholdMetric": {"metricSource": {"type": "chaoskit"}}},
        },
        {
            "apiVersion": "openslo/v1",
            "kind": "SLO",
            "metadata": {"name": "web"},
            "spec": {"indicatorRef": "quick", "objectives": [{"op": "lt", "value": 0.2}]},
        },
    ]
    with pytest.raises(ConfigError, match=r"indicatorRef 'quick' names no kind: SLI .* fast"):
        openslo.from_objects(objects)


def test_a_threshold_target_is_the_share_of_requests_under_the_value() -> None:
    def slo_with(objective: dict[str, object], spec: dict[str, object]) -> list[object]:
        return [
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {"name": "web"},
                "spec": {
                    "indicator": {
                        "metadata": {"name": "fast"},
                        "spec": {
                            "thresholdMetric": {"metricSource": {"type": "chaoskit", "spec": spec}}
                        },
                    },
                    "objectives": [objective],
                },
            },
        ]

    spec = openslo.from_objects(slo_with({"op": "lt", "value": 0.3, "target": 0.95}, {}))
    assert spec.objectives == (LatencyObjective(percentile=95, below=0.3),)
    with pytest.raises(ConfigError, match=r"target 0\.95 means p95 but"):
        openslo.from_objects(
            slo_with({"op": "lt", "value": 0.3, "target": 0.95}, {"percentile": 99})
        )


def test_the_old_import_path_gives_the_same_objects() -> None:
    # ``from chaoskit import openslo`` still works in users' code written before the module
    # moved into chaoskit.slo.
    import chaoskit.openslo as old

    assert old.__all__ == ["SUPPORTED_SOURCES", "OpenSLOSpec", "from_objects", "load"]
    assert [name for name in old.__all__ if getattr(old, name) is not getattr(openslo, name)] == []
