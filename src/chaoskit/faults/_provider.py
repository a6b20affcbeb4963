"""The provider of an environment, in words, for errors about what it cannot do."""

from __future__ import annotations

from chaoskit.typing import Environment


def provider_of(env: Environment) -> str:
    """``env``'s ``provider`` ("aws", "local"), or its class name without "Environment"."""
    provider = getattr(env, "provider", None)
    return str(provider or type(env).__name__.removesuffix("Environment").lower() or "unknown")
