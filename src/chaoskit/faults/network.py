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

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from chaoskit.durations import Duration, format_duration, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.faults._network import NetworkFaultBase, check_network, parse_rate
from chaoskit.faults._provider import provider_of
from chaoskit.faults._removable import RemovableInjection
from chaoskit.typing import DelaysToSources, Environment, Target
from chaoskit.vocabulary import FaultPlan, NetworkFault

__all__ = [
    "Bandwidth",
    "Blackhole",
    "HttpErrors",
    "Latency",
    "ResetConnections",
    "SlowClose",
    "Timeout",
]


@dataclass(frozen=True, kw_only=True)
class _LatencyFields(NetworkFaultBase):
    delay: float  # seconds
    jitter: float  # seconds
    direction: str
    sources: tuple[str, ...] = ()


class Latency(_LatencyFields):
    """Delay each request or response by ``delay`` ± ``jitter`` (uniform), once per exchange
    however many packets it spans.

    ``sources`` (AWS only) limits it to the instances' traffic with those dependencies: IPv4
    addresses, CIDR blocks, domain names, availability zones, ``DYNAMODB`` or ``S3``, as
    SSM's AWSFIS-Run-Network-Latency-Sources document takes them. A provider that cannot
    tell traffic apart by source (the local proxy) refuses it when planned."""

    def __init__(
        self,
        *,
        target: str,
        delay: Duration,
        jitter: Duration = 0.0,
        direction: str = "downstream",
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
        sources: str | Sequence[str] | None = None,
    ) -> None:
        name = type(self).__name__
        shared = check_network(
            name, target=target, count=count, percent=percent, tags=tags, toxicity=toxicity
        )
        super().__init__(
            **shared,
            delay=parse_duration(delay, field=f"{name}(delay)", allow_zero=False),
            jitter=parse_duration(jitter, field=f"{name}(jitter)", allow_zero=True),
            direction=direction,
            sources=_check_sources(name, sources),
        )
        self._check_combination()

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        if self.sources and not isinstance(env.target(self.target), DelaysToSources):
            self._refuse_sources(env)
        return super().plan(env, rng)

    def inject(self, plan: FaultPlan, env: Environment) -> RemovableInjection:
        if self.sources and not isinstance(env.target(plan.target), DelaysToSources):
            self._refuse_sources(env)
        return super().inject(plan, env)

    def _add(self, target: Target, plan: FaultPlan, spec: NetworkFault) -> str:
        if not self.sources:
            return super()._add(target, plan, spec)
        assert isinstance(target, DelaysToSources)  # refused in inject otherwise
        return target.add_latency_to_sources(plan.instance_ids, spec, self.sources)

    def _refuse_sources(self, env: Environment) -> NoReturn:
        raise ConfigError(
            f"{self.describe()}: environment {env.name!r} (provider {provider_of(env)!r}) "
            f"cannot limit a latency to some sources; its latency delays all of an "
            f'instance\'s traffic. Run it with provider = "aws" (--chaos-env NAME), or without '
            f"sources."
        )

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="latency",
            direction=self.direction,
            toxicity=self.toxicity,
            delay=self.delay,
            jitter=self.jitter,
        )

    def _what(self) -> str:
        spread = f" ±{format_duration(self.jitter)}" if self.jitter else ""
        to = f" to {', '.join(self.sources)}" if self.sources else ""
        return f"Latency {format_duration(self.delay)}{spread}{to}"

    def _severity(self) -> float:
        # 1 for a small delay, growing with it: 2 at 500 ms, 3 (the most) from 1 s.
        return 1.0 + min(2.0, 2 * self.delay)


def _check_sources(fault: str, sources: object) -> tuple[str, ...]:
    """One source a string, each without commas or spaces (SSM takes them joined by
    commas); none (None or empty) leaves the latency on all traffic."""
    if sources is None or (isinstance(sources, list | tuple) and not sources):
        return ()
    given = [sources] if isinstance(sources, str) else sources
    if not isinstance(given, list | tuple) or not all(
        isinstance(source, str)
        and source
        and source.strip() == source
        and "," not in source
        and " " not in source
        for source in given
    ):
        raise ConfigError(
            f"{fault}(sources={sources!r}) must be one or more sources, each a string without "
            f"commas or spaces: an IPv4 address or CIDR block, a domain name, an availability "
            f"zone, DYNAMODB or S3, e.g. sources=['DYNAMODB', '10.0.0.0/16']."
        )
    return tuple(given)


@dataclass(frozen=True, kw_only=True)
class _BandwidthFields(NetworkFaultBase):
    rate: float  # bytes per second
    direction: str


class Bandwidth(_BandwidthFields):
    """Limit the transfer rate to ``rate`` (bytes per second, or e.g. ``"100KB/s"``)."""

    def __init__(
        self,
        *,
        target: str,
        rate: float | str,
        direction: str = "downstream",
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        name = type(self).__name__
        shared = check_network(
            name, target=target, count=count, percent=percent, tags=tags, toxicity=toxicity
        )
        super().__init__(
            **shared, rate=parse_rate(rate, field="Bandwidth(rate)"), direction=direction
        )
        self._check_combination()

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="bandwidth", direction=self.direction, toxicity=self.toxicity, rate=self.rate
        )

    def _what(self) -> str:
        return f"Bandwidth {self.rate / 1000:g} KB/s"

    def _severity(self) -> float:
        return 1.5


@dataclass(frozen=True, kw_only=True)
class _BlackholeFields(NetworkFaultBase):
    direction: str


class Blackhole(_BlackholeFields):
    """Accept connections and drop every byte: clients wait until their own timeout."""

    def __init__(
        self,
        *,
        target: str,
        direction: str = "both",
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        shared = check_network(
            type(self).__name__,
            target=target,
            count=count,
            percent=percent,
            tags=tags,
            toxicity=toxicity,
        )
        super().__init__(**shared, direction=direction)
        self._check_combination()

    def network_fault(self) -> NetworkFault:
        return NetworkFault(kind="blackhole", direction=self.direction, toxicity=self.toxicity)

    def _what(self) -> str:
        return "Blackhole"

    def _severity(self) -> float:
        return 3.0


@dataclass(frozen=True, kw_only=True)
class _ResetFields(NetworkFaultBase):
    after: float  # seconds
    direction: str


class ResetConnections(_ResetFields):
    """Reset (TCP RST) each connection ``after`` its bytes first meet the fault (0: at once)."""

    def __init__(
        self,
        *,
        target: str,
        after: Duration = 0.0,
        direction: str = "both",
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        name = type(self).__name__
        shared = check_network(
            name, target=target, count=count, percent=percent, tags=tags, toxicity=toxicity
        )
        super().__init__(
            **shared,
            after=parse_duration(after, field=f"{name}(after)", allow_zero=True),
            direction=direction,
        )
        self._check_combination()

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="reset", direction=self.direction, toxicity=self.toxicity, delay=self.after
        )

    def _what(self) -> str:
        return "ResetConnections" + (f" after {format_duration(self.after)}" if self.after else "")

    def _severity(self) -> float:
        return 2.0


@dataclass(frozen=True, kw_only=True)
class _SlowCloseFields(NetworkFaultBase):
    delay: float  # seconds
    direction: str


class SlowClose(_SlowCloseFields):
    """Pass the end of a stream on ``delay`` late, so peers hold connections open longer."""

    def __init__(
        self,
        *,
        target: str,
        delay: Duration,
        direction: str = "downstream",
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        name = type(self).__name__
        shared = check_network(
            name, target=target, count=count, percent=percent, tags=tags, toxicity=toxicity
        )
        super().__init__(
            **shared,
            delay=parse_duration(delay, field=f"{name}(delay)", allow_zero=False),
            direction=direction,
        )
        self._check_combination()

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="slow_close", direction=self.direction, toxicity=self.toxicity, delay=self.delay
        )

    def _what(self) -> str:
        return f"SlowClose {format_duration(self.delay)}"

    def _severity(self) -> float:
        return 1.0


@dataclass(frozen=True, kw_only=True)
class _TimeoutFields(NetworkFaultBase):
    after: float  # seconds
    direction: str


class Timeout(_TimeoutFields):
    """Drop every byte, then close the connection ``after`` the first dropped one."""

    def __init__(
        self,
        *,
        target: str,
        after: Duration,
        direction: str = "both",
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        name = type(self).__name__
        shared = check_network(
            name, target=target, count=count, percent=percent, tags=tags, toxicity=toxicity
        )
        super().__init__(
            **shared,
            after=parse_duration(after, field=f"{name}(after)", allow_zero=False),
            direction=direction,
        )
        self._check_combination()

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="timeout", direction=self.direction, toxicity=self.toxicity, delay=self.after
        )

    def _what(self) -> str:
        return f"Timeout after {format_duration(self.after)}"

    def _severity(self) -> float:
        return 2.5


@dataclass(frozen=True, kw_only=True)
class _HttpErrorsFields(NetworkFaultBase):
    status: int


class HttpErrors(_HttpErrorsFields):
    """Answer a share of requests (``toxicity``) with ``status`` instead of the instance."""

    def __init__(
        self,
        *,
        target: str,
        status: int = 503,
        toxicity: float | str = 1.0,
        count: int | None = None,
        percent: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        shared = check_network(
            type(self).__name__,
            target=target,
            count=count,
            percent=percent,
            tags=tags,
            toxicity=toxicity,
        )
        super().__init__(**shared, status=status)
        self._check_combination()

    def network_fault(self) -> NetworkFault:
        return NetworkFault(
            kind="http_error", direction="upstream", toxicity=self.toxicity, status=self.status
        )

    def describe(self) -> str:
        return (
            f"HttpErrors {self.status} on {self.toxicity:.0%} of requests to "
            f"{self.selection_text()}"
        )

    def _what(self) -> str:
        return f"HttpErrors {self.status}"

    def _severity(self) -> float:
        return 3.0
