"""What the coordinator and worker processes share: loading the locust file, client timeouts,
and reading commands from a pipe without blocking gevent's hub.

Imports locust, and so gevent-patches the process: only the two locust-side entry points
(``coordinator``, ``worker``) import this module, never the pytest process.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Final

import locust
from gevent.fileobject import FileObjectPosix
from locust.contrib.fasthttp import FastHttpUser
from locust.shape import LoadTestShape
from locust.user.wait_time import constant_pacing
from locust.util.load_locustfile import load_locustfile as load_locustfile_classes

# FastHttpUser waits 60 s by default and HttpUser forever: a black-holed target would stall
# users (and the measurements) for that long. Classes that set their own timeouts keep them.
DEFAULT_REQUEST_TIMEOUT: Final = 10.0
# Stopping waits this much longer than the slowest possible request, so requests in flight
# at stop are recorded rather than killed.
STOP_MARGIN: Final = 2.0

_TIMEOUT_ATTRIBUTES: Final = ("connection_timeout", "network_timeout")
# Every constant_pacing()/constant_throughput() wait time is a closure over this code.
_CONSTANT_PACING_CODE: Final = constant_pacing(1.0).__code__


class LocustfileError(Exception):
    """The locust file cannot be used; the message names the file and says why."""


def configure_logging() -> None:
    # Library mode sets up no logging; show locust's warnings and errors on stderr, which the
    # driver keeps the tail of for its error messages.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s: %(message)s"
    )


def load_locustfile(path: str) -> tuple[list[type[locust.User]], LoadTestShape | None]:
    """The runnable User classes of the locust file at ``path``, in definition order, and
    its load shape (an instance of its LoadTestShape class), if it defines one."""
    try:
        user_classes, shapes = load_locustfile_classes(path)
    except SyntaxError as error:
        raise LocustfileError(
            f"{path} has a syntax error: {error.msg} (line {error.lineno}); fix the locust file."
        ) from error
    except (Exception, SystemExit) as error:
        raise LocustfileError(
            f"{path} failed while being imported: {type(error).__name__}: {error}; "
            f"fix the locust file (it is imported in every load process)."
        ) from error
    if not user_classes:
        raise LocustfileError(
            f"{path} defines no locust User class; define a class deriving from "
            f"locust.FastHttpUser (or HttpUser) with at least one @task."
        )
    if len(shapes) > 1:
        names = ", ".join(type(shape).__name__ for shape in shapes)
        raise LocustfileError(
            f"{path} defines several load shapes ({names}); keep one LoadTestShape class."
        )
    return list(user_classes.values()), (shapes[0] if shapes else None)


def schedule_interval(wait_time: object) -> float | None:
    """The fixed interval between task runs that ``wait_time`` asks for, when it is locust's
    ``constant_pacing(interval)`` or ``constant_throughput(rate)`` (which is
    ``constant_pacing(1 / rate)``); None for any other wait time."""
    code = getattr(wait_time, "__code__", None)
    closure = getattr(wait_time, "__closure__", None)
    if code is None or closure is None or code is not _CONSTANT_PACING_CODE:
        return None
    interval = closure[code.co_freevars.index("wait_time")].cell_contents
    if isinstance(interval, int | float) and not isinstance(interval, bool) and interval > 0:
        return float(interval)
    return None


def apply_request_timeouts(user_classes: list[type[locust.User]]) -> float:
    """Give FastHttpUser classes without their own timeouts the default ones; return how
    long the slowest request of these classes can take (connect plus response)."""
    longest = 0.0
    for user_class in user_classes:
        if issubclass(user_class, FastHttpUser):
            for attribute in _TIMEOUT_ATTRIBUTES:
                if not _set_below_fasthttpuser(user_class, attribute):
                    setattr(user_class, attribute, DEFAULT_REQUEST_TIMEOUT)
            duration = float(user_class.connection_timeout) + float(user_class.network_timeout)
        else:
            # HttpUser gets the default (connect, read) timeouts from the worker; other clients
            # are assumed to bound their requests the same way.
            duration = 2 * DEFAULT_REQUEST_TIMEOUT
        longest = max(longest, duration)
    return longest


def _set_below_fasthttpuser(user_class: type[FastHttpUser], attribute: str) -> bool:
    for klass in user_class.__mro__:
        if klass is FastHttpUser:
            return False
        if attribute in vars(klass):
            return True
    return False


def stdin_lines() -> Iterator[bytes]:
    """Lines from stdin, read cooperatively; ends at end of file (the parent closed the pipe
    or died)."""
    pipe = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
    while True:
        line = pipe.readline()
        if not line:
            return
        yield line
