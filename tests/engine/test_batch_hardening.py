"""Regression tests for the batch review: CSV cells with line breaks, the rate limit as the
server sees it, events that match the table, live menus per call, and file safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivrflow.errors import FlowInvalid
from ivrflow.language.loader import parse_flow
from ivrflow.sandbox import Fail

from .conftest import FAST, Run, Start

FLOW = FAST + ("vars:\n  acct: {pattern: '^[0-9]+$'}\nsteps:\n  - send: '${acct}'\n")


@pytest.fixture
def batch(run_cli: Run) -> Run:
    def run(*args: object, **kwargs: object) -> object:
        return run_cli(*args, call=None, **kwargs)

    return run  # type: ignore[return-value]


def test_line_break_in_a_cell_and_open_quote_are_refused(sandbox: Start, batch: Run,
                                                         tmp_path: Path) -> None:
    """A quoted cell holding a line break, or a quote never closed: exit 2, nothing sent."""
    path = tmp_path / "calls.csv"
    path.write_text('call,acct\nc1,"12\n34"\nc2,"56\n', encoding="utf-8")
    box = sandbox()
    result = batch(box, FLOW, "--calls", str(path))
    assert result.code == 2
    assert f"{path}:2:2: a cell holds a line break" in result.err
    assert box.requests() == []


def test_rate_limit_holds_at_the_server_with_many_calls(sandbox: Start, batch: Run) -> None:
    """--rate R: any one-second window at the server holds at most R + 1 requests."""
    box = sandbox()
    flow = FAST + "steps:\n  - send: '1'\n  - send: '2'\n"
    args = [a for i in range(60) for a in ("--call", f"c-{i}")]
    result = batch(box, flow, *args, "--rate", "50")
    assert result.code == 0, result.err
    times = sorted(r.t for r in box.requests())
    assert len(times) == 120
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 51


def test_rate_applies_to_a_single_call(sandbox: Start, run_cli: Run) -> None:
    """--rate is honoured with one --call too."""
    box = sandbox()
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n  - send: '2'\n  - send: '3'\n",
                     "--rate", "5")
    assert result.code == 0
    times = [r.t for r in box.requests()]
    assert times[2] - times[0] >= 0.39


def test_json_events_tell_the_same_story_as_the_table(sandbox: Start, batch: Run) -> None:
    """After an auth refusal, every call ends with one flow_finished matching its result."""
    box = sandbox(dtmf_faults=(Fail(401),))
    # every call holding a slot has started (the starts are paced) before the first 401
    flow = FAST + "steps:\n  - wait: 100ms\n  - send: '1'\n  - wait: 2s\n  - send: '2'\n"
    args = [a for i in range(5) for a in ("--call", f"c-{i}")]
    result = batch(box, flow, *args, "--concurrency", "2", "--json")
    assert result.code == 4
    finished = {e["call"]: e for e in result.events() if e["event"] == "flow_finished"}
    assert sorted(finished) == [f"c-{i}" for i in range(5)]
    outcomes = sorted(str(e["outcome"]) for e in finished.values())
    assert outcomes.count("auth_refused") == 1
    assert outcomes.count("not_started") == 3
    assert all(e["exit_code"] == 4 for e in finished.values())


def test_expect_menu_cannot_point_at_any_file() -> None:
    """expect.menu must be a relative *.menu.yaml path: no reading (and quoting) /etc/shadow."""
    with pytest.raises(FlowInvalid) as caught:
        parse_flow("version: 1\nname: x\nsteps:\n  - send: '1'\n"
                   "expect: {menu: /etc/shadow, reach: x}\n", "f.yaml")
    assert str(caught.value) == ("f.yaml:5:16: expect.menu: '/etc/shadow' must be a "
                                 "relative path to a *.menu.yaml file")


def test_control_characters_never_reach_messages() -> None:
    """A control character quoted from a file is escaped in the message."""
    with pytest.raises(FlowInvalid) as caught:
        parse_flow('version: 1\nname: x\nsteps:\n  - "wa\\u0007it": 1s\n', "f.yaml")
    assert "\x07" not in str(caught.value) and "\\u0007" in str(caught.value)


def test_live_menus_start_with_each_calls_flow(tmp_path: Path) -> None:
    """run --sandbox --menu with calls run one after another: each menu starts with its
    own flow, so every call passes, as `ivrflow test` says it would."""
    import subprocess
    import sys

    (tmp_path / "m.menu.yaml").write_text(
        "version: 1\nname: m\nstart: w\nnodes:\n"
        "  w: {prompt: 300ms, timeout: 300ms, on_timeout: hangup, options: {'1': done}}\n"
        "  done: {prompt: 100ms, end: true}\n")
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: f\ntone: 0\nsteps:\n  - wait: 400ms\n  - send: '1'\n")
    result = subprocess.run(
        [sys.executable, "-m", "ivrflow", "run", str(flow), "--call", "a", "--call", "b",
         "--call", "c", "--concurrency", "1", "--sandbox", "--menu",
         str(tmp_path / "m.menu.yaml")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("-> done") == 3
