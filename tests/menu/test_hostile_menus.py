"""Hostile menu models, one class per test: located refusals, bounded simulations, and a
JUnit report that stays well-formed whatever the names hold."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivrflow.errors import FlowInvalid
from ivrflow.language.loader import load_flow
from ivrflow.menu.loader import parse_menu
from ivrflow.menu.simulator import MAX_HAPPENINGS, MenuSimulator
from ivrflow.menu.testing import junit, run_expectation

LOOP = ("version: 1\nname: m\nstart: a\nnodes:\n"
        "  a: {prompt: 50ms, timeout: 0, on_timeout: b}\n"
        "  b: {prompt: 50ms, timeout: 0, on_timeout: a}\n"
        "  done: {prompt: 1s, end: true}\n")


@pytest.mark.parametrize(("value", "message"), [
    ("0.000001", "nodes.a.prompt: 1e-06 is too short; use 0 or at least 50ms"),
    ("'49ms'", "nodes.a.prompt: 49ms is too short; use 0 or at least 50ms"),
    ("'0.000000001s'", "nodes.a.prompt: invalid value '0.000000001s'"),
    ("'99999999999999999999s'", "nodes.a.prompt: invalid value '99999999999999999999s'"),
    (".inf", "nodes.a.prompt: .inf is not a finite number"),
])
def test_absurd_durations_are_located_problems(value: str, message: str) -> None:
    """Prompts of a microsecond, or of more digits than a float holds: refused, located."""
    text = ("version: 1\nname: m\nstart: a\nnodes:\n"
            f"  a: {{prompt: {value}, timeout: 0, on_timeout: b}}\n  b: {{prompt: 1, end: true}}\n")
    with pytest.raises(FlowInvalid) as caught:
        parse_menu(text, "m.yaml")
    assert str(caught.value).startswith(f"m.yaml:5:15: {message}")


def test_a_looping_model_stops_at_the_event_cap() -> None:
    """A loop of short announcements played for a year of call time ends at the cap, at
    once, as a hang-up that says why."""
    simulator = MenuSimulator(parse_menu(LOOP, "m.yaml"), 0.0)
    started = time.monotonic()
    simulator.advance(365 * 86400.0)
    assert time.monotonic() - started < 3
    assert simulator.runaway and simulator.hung_up
    assert len(simulator.trace) == MAX_HAPPENINGS
    assert "simulation stopped after 100,000 events" in simulator.trace[-1].detail
    simulator.press("1", 365 * 86400.0 + 1)  # nothing more is recorded
    assert len(simulator.trace) == MAX_HAPPENINGS


def test_ivrflow_test_fails_a_runaway_model_clearly(tmp_path: Path) -> None:
    """`ivrflow test` against such a model ends quickly with the reason, not a hang."""
    (tmp_path / "m.menu.yaml").write_text(LOOP)
    waits = "  - wait: 1h\n" * 23
    (tmp_path / "f.yaml").write_text(
        f"version: 1\nname: f\ntimeout: 24h\nsteps:\n{waits}  - send: '1'\n"
        "expect: {menu: m.menu.yaml, reach: done}\n".replace("24h", "86400s")
        .replace("1h", "3600s"))
    started = time.monotonic()
    outcome = run_expectation(load_flow(tmp_path / "f.yaml"))
    assert time.monotonic() - started < 10
    assert not outcome.passed
    assert outcome.reason.startswith("the menu model ran away: the simulation stopped after")


def test_junit_is_well_formed_whatever_names_hold(tmp_path: Path) -> None:
    """Control characters, lone surrogates and U+FFFF in names, paths and messages are
    escaped: the report parses."""
    (tmp_path / "m.menu.yaml").write_text("version: 1\nname: m\nstart: a\nnodes:\n"
                                          "  a: {prompt: 1s, options: {'1': b}}\n"
                                          "  b: {prompt: 1s, end: true}\n")
    flow = tmp_path / "f\x01\x1b[2J\uffff.yaml"
    flow.write_text('version: 1\nname: f\nsteps:\n  - send: "2"\n'
                    "expect: {menu: m.menu.yaml, reach: b}\n")
    outcome = run_expectation(load_flow(flow))
    assert not outcome.passed
    report = junit([outcome], [("bad\udcff\x07.yaml", "bad\x00.yaml:1:1: broken\x1b")])
    suite = ET.fromstring(report).find("testsuite")
    assert suite is not None
    case = suite.find("testcase")
    assert case is not None and case.get("name") == str(tmp_path / "f\\x01\\x1b[2J\\uffff.yaml")
    error = suite.find("testcase/error")
    assert error is not None and error.get("message") == "bad\\x00.yaml:1:1: broken\\x1b"
    assert suite.findall("testcase")[1].get("name") == "bad\\udcff\\x07.yaml"
