"""chaoskit: chaos and resilience experiments as pytest tests."""

from __future__ import annotations

__version__ = "0.1.0"
