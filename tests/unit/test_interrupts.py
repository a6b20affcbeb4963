"""SIGTERM is a KeyboardInterrupt that names it; presses after the first are noted, not
raised, until a clean-up that hangs may be abandoned."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from chaoskit.interrupts import ABANDON_AFTER, InterruptHandler, describe


@pytest.fixture
def handler() -> Iterator[InterruptHandler]:
    # The suite's own chaoskit plugin holds the signals: hand them back to Python's defaults
    # for the handler under test, and the suite's afterwards.
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    handler = InterruptHandler()
    handler.install()
    try:
        yield handler
    finally:
        handler.uninstall()
        for signum, previous in before.items():
            signal.signal(signum, previous)


def test_sigterm_unwinds_like_ctrl_c_and_says_which(handler: InterruptHandler) -> None:
    with pytest.raises(KeyboardInterrupt) as raised:
        os.kill(os.getpid(), signal.SIGTERM)
    assert describe(raised.value) == "SIGTERM"
    assert describe(KeyboardInterrupt()) == "Ctrl-C (SIGINT)"


def test_presses_during_the_clean_up_are_noted_until_it_may_be_abandoned(
    handler: InterruptHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    for _ in range(ABANDON_AFTER - 2):
        os.kill(os.getpid(), signal.SIGINT)  # reverting: not cut short
    assert capsys.readouterr().err.count("interrupted again (SIGINT)") == ABANDON_AFTER - 2
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_handler_of_the_programs_own_is_left_alone() -> None:
    def own(signum: int, frame: object) -> None:
        pass

    before = signal.signal(signal.SIGTERM, own)
    try:
        handler = InterruptHandler()
        handler.install()
        assert signal.getsignal(signal.SIGTERM) is own
        handler.uninstall()
    finally:
        signal.signal(signal.SIGTERM, before)
