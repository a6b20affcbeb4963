"""SLIs read from a Prometheus server: ``from chaoskit import prometheus``.

``prometheus.query(name=..., promql=..., below=...)`` is an objective judged on a PromQL range
query per phase window (``objective.py``), asking the server through ``client.py``;
``promql.py`` reads what the objective needs from the expression itself. It is an objective
that does I/O, not a provider, hence a package of its own beside ``chaoskit.slo``, whose
public names it builds on.
"""

from chaoskit.prometheus.client import (
    ENV_VAR,
    PrometheusClient,
    Series,
    default_url,
    use_default_url,
)
from chaoskit.prometheus.objective import PrometheusQuery
from chaoskit.prometheus.objective import promql_objective as query
from chaoskit.prometheus.promql import longest_range

__all__ = [
    "ENV_VAR",
    "PrometheusClient",
    "PrometheusQuery",
    "Series",
    "default_url",
    "longest_range",
    "query",
    "use_default_url",
]
