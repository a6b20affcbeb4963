"""Network faults on the traffic of some instances of a target (the local proxy's "toxics").

Every fault picks its instances like ``TerminateInstances`` (``count``, default 1, or
``percent``, among instances carrying all of ``tags``) and takes:

- ``direction``: ``"upstream"`` (requests, client to instance), ``"downstream"`` (responses)
  or ``"both"``;
- ``toxicity``: the share of connections it applies to, drawn once per connection (for
  ``HttpErrors``, the share of requests), as ``0.5`` or ``"50%"``.

What each one does, and what ``delay`` means for it, is in ``docs/local-proxy.md``.
"""

from __future__ import annotations

import dataclasses
import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from chaoskit.durations import format_duration
from chaoskit.errors import ConfigError
from chaoskit.faults._removable import RemovableInjection, add_fault
from chaoskit.faults._selection import SelectsInstances
from chaoskit.typing import Environment
from chaoskit.vocabulary import FaultPlan, NetworkFault

DurationLike = str | float | timedelta

_RATE_UNITS = {
    "b/s": Decimal(1),
    "kb/s": Decimal(1000),
    "mb/s": Decimal(1000**2),
    "gb/s": Decimal(1000**3),
    "kib/s": Decimal(1024),
    "mib/s": Decimal(1024**2),
    "gib/s": Decimal(1024**3),
    "kbit/s": Decimal(1000) / 8,
    "mbit/s": Decimal(1000**2) / 8,
    "gbit/s": Decimal(1000**3) / 8,
}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+/s)\s*")


def parse_rate(value: object, *, field: str) -> float:
    """Bytes per second from a number or a string such as ``"100KB/s"`` or ``"8Mbit/s"``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        if value != value or value == float("inf"):
            raise ConfigError(f"{field}={value!r} must be a finite number of bytes per second.")
        return float(value)
    if isinstance(value, str) and (match := _RATE.fullmatch(value)):
        unit = _RATE_UNITS.get(match.group(2).lower())
        if unit is not None and Decimal(match.group(1)) > 0:
            return float(Decimal(match.group(1)) * unit)
    raise ConfigError(
        f"{field}={value!r} is not a transfer rate; pass bytes per second as a number or a "
        f"string with a unit such as '100KB/s', '1MiB/s' or '8Mbit/s' "
        f"(units: {', '.join(_RATE_UNITS)})."
    )


def parse_toxicity(value: object, *, field: str) -> float:
    """A share as ``0.5`` or ``"50%"``, above 0 and at most 1."""
    share: Decimal | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        share = Decimal(str(value)) if value == value else None
    elif isinstance(value, str):
        text = value.strip()
        try:
            share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
        except InvalidOperation:
            share = None
    if share is None or not 0 < share <= 1:
        raise ConfigError(
            f"{field}={value!r} must be a share above 0 and at most 1, such as 0.5 or '50%'."
        )
    return float(share)


@dataclass(frozen=True, kw_only=True)
class _NetworkFaultBase(SelectsInstances, ABC):
    toxicity: float | str = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        toxicity = parse_toxicity(self.toxicity, field=f"{name}(toxicity)")
        object.__setattr__(self, "toxicity", toxicity)
        self._normalise()
        try:
            self.network_fault()  # checks the combination of fields once, at definition
        except ConfigError as error:
            raise ConfigError(f"{name}(target={self.target!r}, ...): {error}") from None

    def _normalise(self) -> None:
        """Turn the fault's own durations and rates into numbers (subclasses)."""

    @abstractmethod
    def network_fault(self) -> NetworkFault:
        """What the proxy is asked to do."""

    @abstractmethod
    def _what(self) -> str:
        """The fault's own part of ``describe()``, e.g. ``Latency 200ms``."""

    @abstractmethod
    def _severity(self) -> float:
        """How hard it hits, 1 (mild) to 3 (severe), before toxicity scales it."""

    def describe(self) -> str:
        share = f", {self._toxicity():.0%} of connections" if self._toxicity() < 1 else ""
        return f"{self._what()}{share} on {self.selection_text()}"

    def _toxicity(self) -> float:
        assert isinstance(self.toxicity, float)
        return self.toxicity

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        target = env.target(self.target)
        chosen = self.choose(target.instances(), rng)
        spec = self.network_fault()
        # A fault on a share of connections weighs between mild (1) and its full severity.
        severity = 1.0 + (self._severity() - 1.0) * spec.toxicity
        return FaultPlan(
            fault=self.describe(),
            target=self.target,
            instance_ids=chosen,
            # The fault's own settings, the ones that are set (kind, direction, delay, ...).
            details={key: value for key, value in dataclasses.asdict(spec).items() if value},
            severity=severity,
        )

    def inject(self, plan: FaultPlan, env: Environment) -> RemovableInjection:
        target = env.target(plan.target)
        spec = self.network_fault()
        handle = add_fault(target, plan, lambda: target.add_network_fault(plan.instance_ids, spec))
        return RemovableInjection(plan=plan, target=target, handle=handle)


@dataclass(frozen=True, kw_only=True)
class Latency(_NetworkFaultBase):
    """Delay each request or response by ``delay`` ± ``jitter`` (uniform), once per exchange
    however many packets it spans."""

    delay: DurationLike
    jitter: DurationLike = 0.0
    direction: str = "downstream"

    def _normalise(self) -> None:
        self._set_duration("delay", allow_zero=False)
        self._set_duration("jitter", allow_zero=True)

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="latency",
            direction=self.direction,
            toxicity=self._toxicity(),
            delay=self._seconds("delay"),
            jitter=self._seconds("jitter"),
        )

    @property
    def delay_seconds(self) -> float:
        return self._seconds("delay")

    @property
    def jitter_seconds(self) -> float:
        return self._seconds("jitter")

    def _what(self) -> str:
        jitter = self._seconds("jitter")
        spread = f" ±{format_duration(jitter)}" if jitter else ""
        return f"Latency {format_duration(self._seconds('delay'))}{spread}"

    def _severity(self) -> float:
        # 1 for a small delay, growing with it: 2 at 500 ms, 3 (the most) from 1 s.
        return 1.0 + min(2.0, 2 * self._seconds("delay"))


@dataclass(frozen=True, kw_only=True)
class Bandwidth(_NetworkFaultBase):
    """Limit the transfer rate to ``rate`` (bytes per second, or e.g. ``"100KB/s"``)."""

    rate: float | str
    direction: str = "downstream"

    def _normalise(self) -> None:
        object.__setattr__(self, "rate", parse_rate(self.rate, field="Bandwidth(rate)"))

    def network_fault(self) -> NetworkFault:
        assert isinstance(self.rate, float)
        return NetworkFault(
            kind="bandwidth", direction=self.direction, toxicity=self._toxicity(), rate=self.rate
        )

    def _what(self) -> str:
        assert isinstance(self.rate, float)
        return f"Bandwidth {self.rate / 1000:g} KB/s"

    def _severity(self) -> float:
        return 1.5


@dataclass(frozen=True, kw_only=True)
class Blackhole(_NetworkFaultBase):
    """Accept connections and drop every byte: clients wait until their own timeout."""

    direction: str = "both"

    def network_fault(self) -> NetworkFault:
        return NetworkFault(kind="blackhole", direction=self.direction, toxicity=self._toxicity())

    def _what(self) -> str:
        return "Blackhole"

    def _severity(self) -> float:
        return 3.0


@dataclass(frozen=True, kw_only=True)
class ResetConnections(_NetworkFaultBase):
    """Reset (TCP RST) each connection ``after`` its bytes first meet the fault (0: at once)."""

    after: DurationLike = 0.0
    direction: str = "both"

    def _normalise(self) -> None:
        self._set_duration("after", allow_zero=True)

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="reset",
            direction=self.direction,
            toxicity=self._toxicity(),
            delay=self._seconds("after"),
        )

    def _what(self) -> str:
        after = self._seconds("after")
        return "ResetConnections" + (f" after {format_duration(after)}" if after else "")

    def _severity(self) -> float:
        return 2.0


@dataclass(frozen=True, kw_only=True)
class SlowClose(_NetworkFaultBase):
    """Pass the end of a stream on ``delay`` late, so peers hold connections open longer."""

    delay: DurationLike
    direction: str = "downstream"

    def _normalise(self) -> None:
        self._set_duration("delay", allow_zero=False)

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="slow_close",
            direction=self.direction,
            toxicity=self._toxicity(),
            delay=self._seconds("delay"),
        )

    def _what(self) -> str:
        return f"SlowClose {format_duration(self._seconds('delay'))}"

    def _severity(self) -> float:
        return 1.0


@dataclass(frozen=True, kw_only=True)
class Timeout(_NetworkFaultBase):
    """Drop every byte, then close the connection ``after`` the first dropped one."""

    after: DurationLike
    direction: str = "both"

    def _normalise(self) -> None:
        self._set_duration("after", allow_zero=False)

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="timeout",
            direction=self.direction,
            toxicity=self._toxicity(),
            delay=self._seconds("after"),
        )

    def _what(self) -> str:
        return f"Timeout after {format_duration(self._seconds('after'))}"

    def _severity(self) -> float:
        return 2.5


@dataclass(frozen=True, kw_only=True)
class HttpErrors(_NetworkFaultBase):
    """Answer a share of requests (``toxicity``) with ``status`` instead of the instance."""

    status: int = 503

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="http_error", direction="upstream", toxicity=self._toxicity(), status=self.status
        )

    def describe(self) -> str:
        return (
            f"HttpErrors {self.status} on {self._toxicity():.0%} of requests to "
            f"{self.selection_text()}"
        )

    def _what(self) -> str:
        return f"HttpErrors {self.status}"

    def _severity(self) -> float:
        return 3.0
