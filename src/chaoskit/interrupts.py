"""SIGTERM handled like Ctrl-C, and the clean-up after either shielded from the next press.

A run stopped by SIGTERM (a CI job cancelled, ``kill``, a container stopping) must revert
what it injected, close its journal and write its report, as after Ctrl-C; by default Python
dies at once on SIGTERM. And the clean-up after an interrupt (reverting, collecting what was
measured, writing the report) must not be cut short by a second Ctrl-C pressed out of
impatience: a revert cut short is the one way chaoskit can leave a fault behind.

So, while ``InterruptHandler`` is installed: the first SIGINT or SIGTERM raises
``KeyboardInterrupt`` (with the signal's name), which unwinds the run like Ctrl-C; the next
``ABANDON_AFTER - 1`` are noted on stderr and otherwise ignored; the one after that raises
again, for a clean-up that hangs (every revert has a deadline, so it should not).
Signal handlers can only be set in the main thread, and one the process already had of its
own (not Python's default) is left as it is.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Final, TypeAlias

# What a signal can be handled by, as signal.signal takes it (a function, SIG_DFL or SIG_IGN).
_Handler: TypeAlias = "Callable[[int, FrameType | None], object] | int"

ABANDON_AFTER: Final = 4
NAMES: Final = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


def describe(error: KeyboardInterrupt) -> str:
    """What interrupted the run, for a person: ``Ctrl-C (SIGINT)`` or ``SIGTERM``."""
    name = str(error) or "SIGINT"  # a KeyboardInterrupt of Python's own carries no name
    return "Ctrl-C (SIGINT)" if name == "SIGINT" else name


@dataclass(kw_only=True)
class InterruptHandler:
    received: list[str] = field(default_factory=list)
    _previous: dict[int, _Handler] = field(default_factory=dict)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        defaults: dict[int, _Handler] = {
            signal.SIGINT: signal.default_int_handler,
            signal.SIGTERM: signal.SIG_DFL,
        }
        for signum, default in defaults.items():
            current = signal.getsignal(signum)
            if current is default:
                self._previous[signum] = default  # the very handler found
                signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = NAMES.get(signal.Signals(signum), str(signum))
        self.received.append(name)
        presses = len(self.received)
        if presses == 1 or presses >= ABANDON_AFTER:
            raise KeyboardInterrupt(name)
        left = ABANDON_AFTER - presses
        sys.stderr.write(
            f"\nchaoskit: interrupted again ({name}); reverting faults and writing the report "
            f"first. {left} more to abandon them (faults may stay active: then run "
            f"chaoskit recover).\n"
        )
        sys.stderr.flush()
