"""``from chaoskit.providers import prometheus``, kept working for compatibility.

The Prometheus-backed objective moved to ``chaoskit.prometheus`` (``from chaoskit import
prometheus``): it is an objective that asks a server, not a provider of targets.
"""

from chaoskit.prometheus import (
    ENV_VAR,
    PrometheusClient,
    PrometheusQuery,
    Series,
    default_url,
    longest_range,
    query,
    use_default_url,
)

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
