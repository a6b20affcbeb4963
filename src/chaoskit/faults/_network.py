"""What every network fault shares: its checked fields (selection and toxicity), the readers
of rates and shares users write, and planning and injecting through the target's proxy.
The faults themselves are in ``chaoskit.faults.network``."""

from __future__ import annotations

import dataclasses
import math
import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from typing import ClassVar

from chaoskit.errors import ConfigError
from chaoskit.faults._removable import RemovableInjection, add_fault
from chaoskit.faults._selection import SelectionArgs, SelectsInstances, check_selection
from chaoskit.typing import Environment, Target
from chaoskit.vocabulary import FaultPlan, NetworkFault

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
        rate = _as_float(value)
        if not 0 < rate < math.inf:
            raise ConfigError(f"{field}={value!r} must be a finite number of bytes per second.")
        return rate
    if isinstance(value, str) and (match := _RATE.fullmatch(value)):
        unit = _RATE_UNITS.get(match.group(2).lower())
        try:
            rate = float(Decimal(match.group(1)) * unit) if unit is not None else 0.0
        except DecimalException:  # any decimal trouble is the user's number, to name
            rate = 0.0
        # Digits past float's range or below its least value are no rate a proxy can pace.
        if 0 < rate < math.inf:
            return rate
    raise ConfigError(
        f"{field}={value!r} is not a transfer rate; pass bytes per second as a number or a "
        f"string with a unit such as '100KB/s', '1MiB/s' or '8Mbit/s' "
        f"(units: {', '.join(_RATE_UNITS)})."
    )


def parse_toxicity(value: object, *, field: str) -> float:
    """A share as ``0.5`` or ``"50%"``, above 0 and at most 1."""
    share: float | None = None
    # Whatever decimal trouble (an exponent that overflows a division, NaN that cannot compare, a
    # string that is no number) is the user's value, to name: DecimalException covers them.
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            share = _as_float(value)
        elif isinstance(value, str):
            text = value.strip()
            exact = Decimal(text[:-1]) if text.endswith("%") else Decimal(text)
            exact = exact / 100 if text.endswith("%") and exact.is_finite() else exact
            # A NaN compares by raising (decimal.InvalidOperation), not by being False.
            share = float(exact) if exact.is_finite() and 0 < exact <= 1 else None
    except DecimalException:
        share = None
    # Checked as the float used: a share too small for a float is 0.0, no share at all.
    if share is None or not 0 < share <= 1:
        raise ConfigError(
            f"{field}={value!r} must be a share above 0 and at most 1, such as 0.5 or '50%'."
        )
    return share


def _as_float(value: int | float) -> float:
    """``value`` as a float, NaN for an int past float's range (refused by every caller)."""
    try:
        return float(value)
    except OverflowError:
        return math.nan


class NetworkArgs(SelectionArgs):
    """The fields every network fault shares, checked."""

    toxicity: float


def check_network(
    fault: str,
    *,
    target: object,
    count: object,
    percent: object,
    tags: object,
    toxicity: object,
) -> NetworkArgs:
    """The selection and toxicity ``fault`` was given, checked and normalised, or ConfigError."""
    selection = check_selection(fault, target=target, count=count, percent=percent, tags=tags)
    return NetworkArgs(**selection, toxicity=parse_toxicity(toxicity, field=f"{fault}(toxicity)"))


@dataclass(frozen=True, kw_only=True)
class NetworkFaultBase(SelectsInstances, ABC):
    action: ClassVar[str] = "add_network_fault"

    toxicity: float  # the share of connections (requests, for HttpErrors) it applies to

    def _check_combination(self) -> None:
        """Ask for the proxy's spec once, at definition: it refuses a bad combination of
        fields (an unknown direction, ...) with the fault's name in front."""
        try:
            self.network_fault()
        except ConfigError as error:
            raise ConfigError(
                f"{type(self).__name__}(target={self.target!r}, ...): {error}"
            ) from None

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
        share = f", {self.toxicity:.0%} of connections" if self.toxicity < 1 else ""
        return f"{self._what()}{share} on {self.selection_text()}"

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        target = env.target(self.target)
        chosen = self.choose_on(target, target.instances(), rng)
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
        handle, record = add_fault(target, plan, lambda: self._add(target, plan, spec))
        return RemovableInjection(plan=plan, target=target, handle=handle, record=record)

    def _add(self, target: Target, plan: FaultPlan, spec: NetworkFault) -> str:
        """Add ``spec`` on the plan's instances; the handle that removes it."""
        return target.add_network_fault(plan.instance_ids, spec)
