"""The plan: offsets and durations by the timing rules, with secrets masked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ivrflow.language.loader import parse_flow
from ivrflow.language.plan import make_plan, render, to_json
from ivrflow.language.variables import resolve


def plan_of(text: str, **values: str):  # type: ignore[no-untyped-def]
    flow = parse_flow(text, "f.yaml")
    return make_plan(flow, resolve(flow, cli=values, environ={}))


def offsets(text: str, **values: str) -> list[tuple[float, float]]:
    return [(round(p.start, 6), round(p.duration, 6)) for p in plan_of(text, **values).steps]


def test_playback_estimates_tone_and_pauses() -> None:
    """A send lasts tone per digit, 0.5 s per w and 1 s per W."""
    text = "version: 1\nname: t\ntone: 200ms\nsteps:\n  - send: '1w2W#'\n  - send: '*'\n"
    assert offsets(text) == [(0.0, 2.1), (2.1, 0.2)]


def test_zero_tone_turns_estimates_off() -> None:
    """tone: 0 makes digits take no time; pauses still count."""
    assert offsets("version: 1\nname: t\ntone: 0\nsteps:\n  - send: '12w'\n") == [(0.0, 0.5)]


def test_until_is_measured_from_the_flow_start() -> None:
    """wait {until: T} ends at T after the start, or at once when T has passed."""
    text = ("version: 1\nname: t\nsteps:\n  - wait: 3s\n  - wait: {until: 10s}\n"
            "  - wait: 12\n  - wait: {until: 5s}\n  - send: '1'\n")
    assert offsets(text) == [(0, 3), (3, 7), (10, 12), (22, 0), (22, 0.25)]


def test_gap_is_a_floor_between_actions_not_added_to_waits() -> None:
    """gap spaces back-to-back sends and lengthens short waits, but never adds to long ones."""
    text = ("version: 1\nname: t\ngap: 1s\ntone: 0\nsteps:\n  - send: '1'\n  - send: '2'\n"
            "  - wait: 300ms\n  - send: '3'\n  - wait: 4s\n  - send: '4'\n")
    assert offsets(text) == [(0, 0), (1, 0), (1, 0.3), (2, 0), (2, 4), (6, 0)]


def test_plan_masks_secrets_and_totals() -> None:
    """Secret digits show as **** in text and JSON; the total is the last step's end."""
    text = ("version: 1\nname: t\nvars: {pin: {secret: true}}\nsteps:\n"
            "  - confirm_live: true\n  - send: '${pin}#'\n    name: pin\n")
    plan = plan_of(text, pin="8642")
    shown = render(plan)
    assert "8642" not in shown and "8642" not in str(to_json(plan))
    assert "send ****# on aleg" in shown
    assert plan.total == pytest.approx(1.25)
    assert plan.confirm_slack == 30
    assert "up to 30s waiting for the call to be live" in shown


LISTENING = ("version: 1\nname: t\ntone: 100ms\ngap: 1s\nlisten: {silence: 1s}\nsteps:\n"
             "  - wait: {silence: 2s, max: 30s}\n  - send: '1'\n"
             "  - wait: {heard: 'Enter your card number.', max: 20s}\n  - send: '12'\n"
             "  - wait: {heard: [balance, 'for your balance, press 1'], barge: true}\n"
             "  - send: '3'\n")


def test_a_listening_wait_counts_at_its_shortest_and_marks_what_follows() -> None:
    """A listening wait lasts its silence at the least (nothing with barge); gap is not
    added to it (it is silence already); every later start is the earliest, and the
    plan says how much longer the flow may take."""
    plan = plan_of(LISTENING)
    assert offsets(LISTENING) == [(0, 2), (2, 0.1), (2.1, 1), (3.1, 0.2), (3.3, 0),
                                  (4.3, 0.1)]
    assert [p.earliest for p in plan.steps] == [False, True, True, True, True, True]
    assert plan.listen_slack == pytest.approx((30 - 2) + (20 - 1) + 30)
    shown = render(plan)
    assert "wait until the prompt ends (2s silence), at most 30s" in shown
    assert ("wait until 'enter your card number' is heard and the prompt ends (1s silence), "
            "at most 20s") in shown
    assert "until 'balance' or 'for your balance press 1' is heard (at once), at most 30s" \
        in shown
    assert ">=2.100s" in shown and "total 4.400s at the earliest, at most 1m21.4s" in shown
    steps = to_json(plan)["steps"]
    assert isinstance(steps, list) and steps[1]["earliest"] is True


def test_run_refuses_listening_on_the_sandbox_without_a_menu_before_it_starts(
        tmp_path: Path) -> None:
    """The sandbox speaks a menu model: a listening flow with neither --menu nor an
    expect block is exit 2 (nothing sent, no sandbox started)."""
    flow = tmp_path / "l.yaml"
    flow.write_text(LISTENING, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ivrflow", "run", str(flow), "--sandbox",
                           "--call", "c1"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"{flow}: this flow listens, and the sandbox speaks a menu model's prompts: " \
           "pass --menu FILE" in done.stderr
    assert "sandbox listening on" not in done.stderr and "heard" not in done.stderr
