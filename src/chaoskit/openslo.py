"""``from chaoskit import openslo``, kept working for compatibility: OpenSLO files are read by
``chaoskit.slo.openslo``, beside the objectives they become."""

from chaoskit.slo.openslo import SUPPORTED_SOURCES, OpenSLOSpec, from_objects, load

__all__ = ["SUPPORTED_SOURCES", "OpenSLOSpec", "from_objects", "load"]
