"""A dry run on the real local system: the body runs, and the environment it is handed
refuses every change."""

from __future__ import annotations

import pytest
from test_game_day import HEADER, no_stray_processes  # noqa: F401

# no_stray_processes: every process a run started is gone after it.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def test_a_dry_run_body_that_terminates_by_hand_kills_no_replica(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_dry=HEADER
        + """
def test_kills_by_hand(chaos, chaos_env):
    web = chaos_env.target("web")
    chaos.inject(faults.TerminateInstances(target="web"), hold="5s")
    web.terminate([web.instances()[0].id])

def test_kills_through_the_control_connection(chaos, chaos_env):
    # The local provider's own connection to its system: private, refused.
    chaos_env.target("web")._control.request({"op": "terminate"})

def test_all_three_replicas_still_run(chaos_env):
    instances = chaos_env.target("web").instances()
    assert len(instances) == 3 and {i.state for i in instances} == {"healthy"}
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--chaos-dry-run")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*target 'web'.terminate was refused: this is a dry run*"])
    result.stdout.fnmatch_lines(["*target 'web'._control was refused: this is a dry run*"])
