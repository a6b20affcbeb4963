"""Why a task run raised, as the cause its failure is counted under: the exception's class
and its message, ``ValueError: the backend config is missing key XYZ``.

A request's failure is named by its class or status alone (``recorder.failure_reason``): its
message carries urls, ids and addresses, different for every request. A task's own exception
is different: it is the locustfile saying what is wrong ("missing key XYZ", "unexpected
body"), and its class alone (``ValueError``) says nothing a reader can act on. So its message
is kept, in the key the failure is counted under, and reaches the report's failures by cause
and the verdict's reason as it is.

The keys stay few, since every second of every worker counts its failures by them: a message
is cut to ``MAX_MESSAGE`` characters, on one line; long numbers and hex ids in it are
replaced by ``<id>`` (``order 81723 not found`` and ``order 81724 not found`` are one
cause); and past ``MAX_MESSAGES`` distinct keys in one worker, further messages are counted
under their class alone.

Runs in a load worker process, only when a task raised: a successful request or task run
never reaches it.
"""

from __future__ import annotations

import re
from typing import Final

from chaoskit.load._locust.recorder import failure_reason

MAX_MESSAGE: Final = 120
# Distinct "Class: message" keys one worker counts; later ones fall back to the class alone.
MAX_MESSAGES: Final = 20
# A long number, or a run of hex digits holding a digit (a uuid, a commit, a request id).
_ID: Final = re.compile(r"\b(?=[0-9a-fA-F-]*\d)[0-9a-fA-F][0-9a-fA-F-]{7,}\b|\d{4,}")
_SPACE: Final = re.compile(r"\s+")


class TaskFailureReasons:
    """The cause each raising task run is counted under, with at most ``most`` distinct
    messages kept in one process."""

    def __init__(self, *, most: int = MAX_MESSAGES) -> None:
        self._most = most
        self._kept: set[str] = set()

    def reason(self, error: BaseException) -> str:
        """``Class: message`` for ``error`` (the class alone without a message, or past the
        limit of distinct messages)."""
        cause = failure_reason(error, None)
        message = _short(str(_cause_of(error)))
        if not message:
            return cause
        key = f"{cause}: {message}"
        if key in self._kept:
            return key
        if len(self._kept) >= self._most:
            return cause
        self._kept.add(key)
        return key


def _cause_of(error: BaseException) -> BaseException:
    # As failure_reason names it: an HTTP client's wrapper names the real cause in "original".
    original = getattr(error, "original", None)
    return original if isinstance(original, BaseException) else error


def _short(message: str) -> str:
    text = _ID.sub("<id>", _SPACE.sub(" ", message).strip())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1].rstrip() + "…"
