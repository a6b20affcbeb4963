"""Suite-wide set-up."""

from __future__ import annotations

import signal

import pytest
from hypothesis import settings

# Property tests check results, not speed: on a busy 2-core machine an example can take longer
# than Hypothesis's default 200 ms deadline (the histogram property tests did), and a suite
# that fails on a slow moment is one people stop trusting.
settings.register_profile("chaoskit", deadline=None)
settings.load_profile("chaoskit")


def pytest_configure(config: pytest.Config) -> None:
    # A suite started as a background job (``cmd &`` in a script) inherits SIGINT ignored,
    # and so would every pytest it starts: the tests that press Ctrl-C on one would see it
    # run on. A child gets the default back at exec once this process handles SIGINT.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def own_list_of_runs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test's runs list themselves in a folder of the test's own (its subprocesses
    inherit it), not in the machine's list that `chaoskit stop` and `chaoskit recover` read,
    and no test's `chaoskit recover` settles another test's runs."""
    monkeypatch.setenv("CHAOSKIT_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
