"""The per-experiment timeline as a reader finds it in the page: every moment, in order,
with its time (rendered with jinja2 alone)."""

from __future__ import annotations

from dataclasses import replace

from tests.report_journals import T0, journal, result
from tests.unit.test_report import _read

from chaoskit.report import render_html


def _timeline(html: str) -> list[list[str]]:
    [table] = [t for t in _read(html).tables if t and t[0] == ["At", "What happened"]]
    return table[1:]


def test_the_timeline_lists_phases_injection_hold_revert_and_recovery_in_order() -> None:
    base = result()
    [injection] = base.injections
    healed = replace(injection, details={"time_to_self_heal": 3.5})
    rows = _timeline(render_html(journal(replace(base, injections=(healed,)))))
    assert rows == [
        ["+0.0s", "baseline began"],
        ["+5.4s", "fault 1 began"],
        ["+5.4s", "injected TerminateInstances 1 of web on i-0abc"],
        [
            "+6.4s",
            "users affected by TerminateInstances 1 of web: first second outside the baseline",
        ],
        ["+8.9s", "web at healthy capacity again (replacements up)"],
        ["+11.0s", "fault 1 ended after 5.6s"],
        ["+11.0s", "reverted TerminateInstances 1 of web"],
        ["+11.3s", "recovery began"],
        ["+13.0s", "users back inside the baseline's band"],
    ]


def test_a_halt_and_a_failed_revert_stand_out_in_the_timeline() -> None:
    base = result(outcome="failed", cause="halted", reason="halted: errors < 5% breached 3s")
    [injection] = base.injections
    broken = replace(injection, status="revert failed", error="i-0abc did not answer")
    html = render_html(journal(replace(base, injections=(broken,))))
    rows = _timeline(html)
    assert ["+11.0s", "halted: halted: errors < 5% breached 3s"] in rows
    assert [
        "+11.0s",
        "revert of TerminateInstances 1 of web FAILED: i-0abc did not answer; may still be active",
    ] in rows
    assert 'class="moment halt"' in html and 'class="moment problem"' in html


def test_fis_actions_slot_into_the_same_timeline() -> None:
    base = result()
    [injection] = base.injections
    fis = replace(
        injection,
        details={
            "kind": "fis_rehearsal",
            "template": "stop-web.json",
            "state": {"status": "completed", "reason": ""},
            "actions": [
                {
                    "name": "stopWeb",
                    "action_id": "aws:ec2:stop-instances",
                    "state": "completed",
                    "instances": {"web": ["i-0abc"]},
                    "started": T0 + 6.0,
                    "ended": T0 + 9.0,
                }
            ],
        },
    )
    rows = _timeline(render_html(journal(replace(base, injections=(fis,)))))
    whats = [what for _, what in rows]
    started = whats.index("FIS action stopWeb (aws:ec2:stop-instances) started on i-0abc of web")
    ended = whats.index("FIS action stopWeb completed")
    assert whats.index("injected TerminateInstances 1 of web on i-0abc") < started < ended
    assert whats.index("fault 1 ended after 5.6s") > ended
    assert rows[started][0] == "+6.0s" and rows[ended][0] == "+9.0s"


def test_a_skipped_experiment_shows_its_reason_and_no_timeline() -> None:
    skipped = replace(
        result(duration=0, injections=()),
        outcome="skipped",
        cause="skipped",
        reason="needs two regions",
        phases=(),
        seconds=(),
    )
    html = render_html(journal(skipped))
    assert "needs two regions" in html
    assert "Not run: no load was sent and nothing was injected." in html
    assert not [t for t in _read(html).tables if t and t[0] == ["At", "What happened"]]
    assert "<svg" not in html
