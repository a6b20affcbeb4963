"""Faults only AWS FIS can inject: Lambda invocations delayed or failed, and AWS API calls
failed with throttling, internal or unavailable errors.

Each names what it hits by ARN (Lambda functions, or the IAM roles whose calls fail) and
runs as a generated FIS experiment (``fis_builders``). ``max_duration`` is how long the FIS
action lasts if nothing stops it (1 minute to 12 hours, rounded up to whole minutes):
reverting at the end of the hold stops it sooner, and if the run dies FIS still ends it.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypedDict

from chaoskit.durations import Duration, format_duration, name_value, parse_duration
from chaoskit.errors import ConfigError
from chaoskit.faults.fis import DEFAULT_START_TIMEOUT, FisInjection, fis_environment, start_fis
from chaoskit.faults.fis_builders import (
    MAX_ACTION_SECONDS,
    ApiError,
    api_error_template,
    lambda_template,
)
from chaoskit.typing import Environment
from chaoskit.vocabulary import FaultPlan, FisTemplateBody

DEFAULT_MAX_DURATION = 600.0
MAX_STARTUP_DELAY = 900.0  # seconds: FIS's startupDelayMilliseconds goes up to 900,000
API_ERROR_SERVICES = ("ec2", "kinesis")  # the namespaces FIS's API fault actions support


@dataclass(frozen=True, kw_only=True)
class _GeneratedFields:
    percent: int
    max_duration: float  # seconds
    timeout: float  # seconds: how long injecting waits until the experiment runs


class _GeneratedFault(_GeneratedFields, ABC):
    """Plans by building its template; injects by running it in an environment with FIS."""

    @abstractmethod
    def template(self) -> FisTemplateBody:
        """The FIS experiment template (without role) this fault runs."""

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def _resources(self) -> tuple[str, ...]:
        """The ARNs it hits."""

    def _severity(self) -> float:
        return 1.0 + 2.0 * self.percent / 100

    def plan(self, env: Environment, rng: random.Random) -> FaultPlan:
        template = self.template()
        # Refuse a provider without FIS, and ARNs of another account or region, read-only.
        fis_environment(env, self.describe(), template)
        return FaultPlan(
            fault=self.describe(),
            target=type(self).__name__,
            instance_ids=self._resources(),
            details={"template": template},
            severity=self._severity(),
        )

    def inject(self, plan: FaultPlan, env: Environment) -> FisInjection:
        return start_fis(fis_environment(env, self.describe()), plan, timeout=self.timeout)


class _SharedFields(TypedDict):
    """What every generated fault's constructor takes (``_GeneratedFields``)."""

    percent: int
    max_duration: float
    timeout: float


def _shared(
    name: str, *, percent: object, max_duration: Duration, timeout: Duration
) -> _SharedFields:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise ConfigError(
            f"{name}(percent={percent!r}): the share of calls to hit, a whole number of "
            f"percent from 1 to 100."
        )
    seconds = parse_duration(max_duration, field=f"{name}(max_duration)", allow_zero=False)
    if seconds > MAX_ACTION_SECONDS:
        raise ConfigError(
            f"{name}(max_duration={max_duration!r}): an FIS action lasts at most 12 hours."
        )
    return {
        "percent": percent,
        "max_duration": seconds,
        "timeout": parse_duration(timeout, field=f"{name}(timeout)", allow_zero=False),
    }


def _arns(value: object, *, field: str, service: str, kind: str) -> tuple[str, ...]:
    """A non-empty sequence of ``arn:...:<service>:...`` strings naming ``kind``."""
    items = (value,) if isinstance(value, str) else value
    if (
        not isinstance(items, Sequence)
        or not items
        or not all(
            isinstance(arn, str) and arn.startswith("arn:") and arn.split(":")[2:3] == [service]
            for arn in items
        )
    ):
        raise ConfigError(
            f"{name_value(field, value)}: give the ARNs of the {kind} to hit, e.g. "
            f"'arn:aws:{service}:...'; FIS acts on exactly these."
        )
    return tuple(items)


@dataclass(frozen=True, kw_only=True)
class _LambdaFields(_GeneratedFault):
    functions: tuple[str, ...]

    def _resources(self) -> tuple[str, ...]:
        return self.functions


def _functions(name: str, functions: str | Sequence[str]) -> tuple[str, ...]:
    return _arns(functions, field=f"{name}(functions)", service="lambda", kind="Lambda functions")


@dataclass(frozen=True, kw_only=True)
class _LambdaDelayFields(_LambdaFields):
    delay: float  # seconds


class LambdaDelay(_LambdaDelayFields):
    """Delay ``percent`` % of the invocations of Lambda ``functions`` by ``delay`` before
    their code runs (FIS ``aws:lambda:invocation-add-delay``; the functions need the FIS
    Lambda extension layer). A delay past the function's timeout makes them time out."""

    def __init__(
        self,
        *,
        functions: str | Sequence[str],
        delay: Duration,
        percent: int = 100,
        max_duration: Duration = DEFAULT_MAX_DURATION,
        timeout: Duration = DEFAULT_START_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        seconds = parse_duration(delay, field=f"{name}(delay)", allow_zero=True)
        if seconds > MAX_STARTUP_DELAY:
            raise ConfigError(f"{name}(delay={delay!r}): FIS delays an invocation 15 min at most.")
        super().__init__(
            **_shared(name, percent=percent, max_duration=max_duration, timeout=timeout),
            functions=_functions(name, functions),
            delay=seconds,
        )

    def describe(self) -> str:
        return (
            f"LambdaDelay {format_duration(self.delay)} on {self.percent}% of invocations of "
            f"{len(self.functions)} function(s)"
        )

    def template(self) -> FisTemplateBody:
        return lambda_template(
            self.functions,
            description=f"chaoskit: {self.describe()}",
            duration=self.max_duration,
            percent=self.percent,
            startup_delay=self.delay,
        )


@dataclass(frozen=True, kw_only=True)
class _LambdaErrorsFields(_LambdaFields):
    prevent_execution: bool


class LambdaErrors(_LambdaErrorsFields):
    """Fail ``percent`` % of the invocations of Lambda ``functions`` (FIS
    ``aws:lambda:invocation-error``): without running their code (``prevent_execution``,
    the default), or after it ran."""

    def __init__(
        self,
        *,
        functions: str | Sequence[str],
        percent: int = 100,
        prevent_execution: bool = True,
        max_duration: Duration = DEFAULT_MAX_DURATION,
        timeout: Duration = DEFAULT_START_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        if not isinstance(prevent_execution, bool):
            raise ConfigError(f"{name}(prevent_execution={prevent_execution!r}) is True or False.")
        super().__init__(
            **_shared(name, percent=percent, max_duration=max_duration, timeout=timeout),
            functions=_functions(name, functions),
            prevent_execution=prevent_execution,
        )

    def describe(self) -> str:
        return (
            f"LambdaErrors on {self.percent}% of invocations of {len(self.functions)} function(s)"
        )

    def template(self) -> FisTemplateBody:
        return lambda_template(
            self.functions,
            description=f"chaoskit: {self.describe()}",
            duration=self.max_duration,
            percent=self.percent,
            prevent_execution=self.prevent_execution,
        )


@dataclass(frozen=True, kw_only=True)
class _ApiErrorFields(_GeneratedFault):
    roles: tuple[str, ...]
    service: str
    operations: tuple[str, ...]


class _ApiErrorFault(_ApiErrorFields):
    error: ClassVar[ApiError]

    def __init__(
        self,
        *,
        roles: str | Sequence[str],
        operations: str | Sequence[str],
        service: str = "ec2",
        percent: int = 100,
        max_duration: Duration = DEFAULT_MAX_DURATION,
        timeout: Duration = DEFAULT_START_TIMEOUT,
    ) -> None:
        name = type(self).__name__
        if service not in API_ERROR_SERVICES:
            raise ConfigError(
                f"{name}(service={service!r}): FIS injects API errors into "
                f"{' and '.join(API_ERROR_SERVICES)} calls only."
            )
        ops = (operations,) if isinstance(operations, str) else tuple(operations)
        if not ops or not all(isinstance(op, str) and op.isalnum() for op in ops):
            raise ConfigError(
                f"{name}(operations={operations!r}): name the API operations to fail, e.g. "
                f"['DescribeInstances', 'RunInstances']."
            )
        super().__init__(
            **_shared(name, percent=percent, max_duration=max_duration, timeout=timeout),
            roles=_arns(roles, field=f"{name}(roles)", service="iam", kind="IAM roles"),
            service=service,
            operations=ops,
        )

    def describe(self) -> str:
        return (
            f"{type(self).__name__} on {self.percent}% of {self.service} "
            f"{', '.join(self.operations)} calls of {len(self.roles)} role(s)"
        )

    def _resources(self) -> tuple[str, ...]:
        return self.roles

    def template(self) -> FisTemplateBody:
        return api_error_template(
            self.error,
            self.roles,
            description=f"chaoskit: {self.describe()}",
            service=self.service,
            operations=self.operations,
            percent=self.percent,
            duration=self.max_duration,
        )


class ApiThrottle(_ApiErrorFault):
    """Throttle ``percent`` % of the ``service`` API calls ``roles`` make to ``operations``
    (FIS ``aws:fis:inject-api-throttle-error``)."""

    error = "throttle"


class ApiInternalError(_ApiErrorFault):
    """Answer ``percent`` % of those calls with an internal error
    (FIS ``aws:fis:inject-api-internal-error``)."""

    error = "internal"


class ApiUnavailable(_ApiErrorFault):
    """Answer ``percent`` % of those calls with a service-unavailable error
    (FIS ``aws:fis:inject-api-unavailable-error``)."""

    error = "unavailable"
