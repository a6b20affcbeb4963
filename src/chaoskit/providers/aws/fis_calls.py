"""The FIS calls the runner and the recovery share: one request with its error translated,
an experiment's state, and the wait for a state (tenacity, bounded by a deadline on an
injected clock, so tests run on a fake one)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import RetryError, Retrying, retry_if_result, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.aws.calls import DENIED, P, R, error_code, operation_name, paginate
from chaoskit.typing import Clock

if TYPE_CHECKING:
    from mypy_boto3_fis import FISClient
    from mypy_boto3_fis.type_defs import ExperimentSummaryTypeDef, ExperimentTypeDef

T = TypeVar("T")
# An experiment as seen: GetExperiment's whole one, or a ListExperiments summary.
Seen = TypeVar("Seen", "ExperimentTypeDef", "ExperimentSummaryTypeDef")

RUN_ID_TAG = "chaoskit:run-id"
# How AWS words an access denial: "... is not authorized to perform: iam:PassRole on ...".
_NOT_AUTHORIZED = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)")
# ExperimentStatus values (FIS API reference): an experiment in one of these has ended.
ENDED = frozenset({"completed", "stopped", "failed", "cancelled"})
# Still on its way to running: FIS is resolving targets and preparing the actions.
STARTING = frozenset({"pending", "initiating"})


class FisCallError(ProviderError):
    """An FIS request failed; ``code`` is AWS's error code ('' when AWS did not answer).
    Transient failures were retried before it, by the client (``calls.RetryingClient``: the
    one retry policy)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def call(method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``method`` (an operation of the FIS client: ``fis.get_experiment``) with its
    arguments; a failure is a FisCallError naming the operation, AWS's code and message, and
    for AccessDenied the permission to grant."""
    try:
        return method(*args, **kwargs)
    except ClientError as error:
        code = error_code(error)
        message = str(error.response.get("Error", {}).get("Message", error))
        action = operation_name(method)
        hint = ""
        if code in DENIED:
            # AWS names the action it refused (iam:PassRole for the FIS role, say), which
            # need not be the operation's own.
            refused = _NOT_AUTHORIZED.search(message)
            needed = refused.group(1) if refused else f"fis:{action}"
            hint = f" Grant {needed} to the identity chaoskit runs as."
        raise FisCallError(f"FIS {action} failed: {code}: {message}.{hint}", code=code) from error
    except BotoCoreError as error:
        name = getattr(method, "__name__", "call")
        raise FisCallError(f"FIS {name} could not be sent: {error}", code="") from error


def status_of(experiment: ExperimentTypeDef | ExperimentSummaryTypeDef) -> str:
    return str(experiment.get("state", {}).get("status", ""))


def reason_of(experiment: ExperimentTypeDef | ExperimentSummaryTypeDef) -> str:
    return str(experiment.get("state", {}).get("reason", "")) or "FIS gave no reason"


def get_experiment(client: FISClient, experiment_id: str) -> ExperimentTypeDef:
    return call(client.get_experiment, id=experiment_id)["experiment"]


def fis_pages(method: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
    """Every page of an FIS listing (ListExperiments returns 100 at most)."""

    def page(*more: P.args, **given: P.kwargs) -> R:
        return call(method, *more, **given)

    return paginate(page, "nextToken", *args, **kwargs)


def look_at(client: FISClient, experiment_id: str) -> ExperimentTypeDef:
    """The experiment now; one that no longer exists (deleted, or expired) has ended: it is
    ``stopped``, with FIS's words as the reason."""
    try:
        return get_experiment(client, experiment_id)
    except FisCallError as error:
        if error.code == "ResourceNotFoundException":
            return {"id": experiment_id, "state": {"status": "stopped", "reason": str(error)}}
        raise


def stop_until_ended(
    client: FISClient,
    experiment_id: str,
    *,
    seen: Seen | None,
    clock: Clock,
    timeout: float,
    poll: float,
) -> tuple[Seen | ExperimentTypeDef, bool]:
    """Stop the experiment unless it has ended or is stopping (``seen``: as last seen; None:
    ask StopExperiment at once, which answers what it found), then wait until it has ended.
    Returns the experiment as last seen and whether chaoskit's StopExperiment took effect.
    FisCallError or WaitTimeout (after ``timeout`` seconds) when it could not."""
    last: Seen | ExperimentTypeDef | None = seen
    requested = False
    if last is None or status_of(last) not in ENDED | {"stopping"}:
        try:
            last = call(client.stop_experiment, id=experiment_id)["experiment"]
            # An experiment that had ended is answered as it is, and left alone.
            requested = status_of(last) not in ENDED
        except FisCallError as error:
            # It ended (or went away) before the stop: nothing left to stop.
            if error.code not in ("ConflictException", "ResourceNotFoundException"):
                raise
            last = None
    if last is None or status_of(last) not in ENDED:
        last = wait_for(
            lambda: look_at(client, experiment_id),
            lambda state: status_of(state) in ENDED,
            clock=clock,
            timeout=timeout,
            poll=poll,
        )
    return last, requested


def wait_for(
    look: Callable[[], ExperimentTypeDef],
    done: Callable[[ExperimentTypeDef], bool],
    *,
    clock: Clock,
    timeout: float,
    poll: float,
) -> ExperimentTypeDef:
    """Call ``look`` every ``poll`` seconds until ``done`` holds for what it returns, and
    return that. WaitTimeout (carrying the last experiment seen) once ``timeout`` seconds
    have gone by; a failing ``look`` raises at once."""
    deadline = clock.now() + timeout
    retrying = Retrying(
        stop=lambda state: clock.now() >= deadline,
        wait=wait_fixed(poll),
        sleep=clock.sleep,
        # Only the state is waited on: a failing look was retried by the client already
        # (``calls.RetryingClient``), so retrying it here too would nest one policy in another.
        retry=retry_if_result(lambda seen: not done(seen)),
        reraise=True,
    )
    try:
        return retrying(look)
    except RetryError as error:
        last = error.last_attempt.result()
        raise WaitTimeout(last, timeout) from None


class WaitTimeout(Exception):
    """``wait_for`` ran out of time; ``last`` is what it saw last."""

    def __init__(self, last: ExperimentTypeDef, timeout: float) -> None:
        super().__init__(f"still {status_of(last) or 'unknown'} after {timeout:g}s")
        self.last = last
        self.timeout = timeout
