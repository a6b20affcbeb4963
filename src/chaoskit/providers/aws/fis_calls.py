"""The FIS calls the runner and the recovery share: one request with its error translated,
an experiment's state, and the wait for a state (tenacity, bounded by a deadline on an
injected clock, so tests run on a fake one)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import RetryError, Retrying, retry_if_result, wait_fixed

from chaoskit.errors import ProviderError
from chaoskit.providers.aws.calls import DENIED, paginate
from chaoskit.typing import Clock

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


def call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """``client.<operation>(**params)``; a failure is a FisCallError naming the operation,
    AWS's code and message, and for AccessDenied the permission to grant."""
    try:
        response: dict[str, Any] = getattr(client, operation)(**params)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", error))
        action = "".join(part.capitalize() for part in operation.split("_"))
        hint = ""
        if code in DENIED:
            # AWS names the action it refused (iam:PassRole for the FIS role, say), which
            # need not be the operation's own.
            refused = _NOT_AUTHORIZED.search(message)
            needed = refused.group(1) if refused else f"fis:{action}"
            hint = f" Grant {needed} to the identity chaoskit runs as."
        raise FisCallError(f"FIS {action} failed: {code}: {message}.{hint}", code=code) from error
    except BotoCoreError as error:
        raise FisCallError(f"FIS {operation} could not be sent: {error}", code="") from error
    return response


def status_of(experiment: Mapping[str, Any]) -> str:
    return str(experiment.get("state", {}).get("status", ""))


def reason_of(experiment: Mapping[str, Any]) -> str:
    return str(experiment.get("state", {}).get("reason", "")) or "FIS gave no reason"


def get_experiment(client: Any, experiment_id: str) -> dict[str, Any]:
    experiment: dict[str, Any] = call(client, "get_experiment", id=experiment_id)["experiment"]
    return experiment


def fis_pages(client: Any, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of an FIS listing (ListExperiments returns 100 at most)."""
    return paginate(lambda token: call(client, operation, **params, **token), "nextToken")


def look_at(client: Any, experiment_id: str) -> dict[str, Any]:
    """The experiment now; one that no longer exists (deleted, or expired) has ended: it is
    ``stopped``, with FIS's words as the reason."""
    try:
        return get_experiment(client, experiment_id)
    except FisCallError as error:
        if error.code == "ResourceNotFoundException":
            return {"id": experiment_id, "state": {"status": "stopped", "reason": str(error)}}
        raise


def stop_until_ended(
    client: Any,
    experiment_id: str,
    *,
    seen: Mapping[str, Any] | None,
    clock: Clock,
    timeout: float,
    poll: float,
) -> tuple[dict[str, Any], bool]:
    """Stop the experiment unless it has ended or is stopping (``seen``: as last seen; None:
    ask StopExperiment at once, which answers what it found), then wait until it has ended.
    Returns the experiment as last seen and whether chaoskit's StopExperiment took effect.
    FisCallError or WaitTimeout (after ``timeout`` seconds) when it could not."""
    last = dict(seen) if seen is not None else None
    requested = False
    if last is None or status_of(last) not in ENDED | {"stopping"}:
        try:
            last = call(client, "stop_experiment", id=experiment_id)["experiment"]
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
    look: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    *,
    clock: Clock,
    timeout: float,
    poll: float,
) -> dict[str, Any]:
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

    def __init__(self, last: dict[str, Any], timeout: float) -> None:
        super().__init__(f"still {status_of(last) or 'unknown'} after {timeout:g}s")
        self.last = last
        self.timeout = timeout
