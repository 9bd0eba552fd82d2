"""Reporters: human lines with colour only where it belongs, JSON Lines, no text search for
secrets, and no control character from an event reaching the terminal."""

from __future__ import annotations

import io
import json

import pytest

from ivrflow.engine.events import Event
from ivrflow.engine.report import HumanReporter, JsonReporter, use_colour

EVENTS = [
    Event("flow_started", "c1", 0.0, fields={"flow": "demo", "file": "f.yaml", "steps": 2}),
    Event("step_started", "c1", 1.0, 1, "send", "english", {"digits": "1", "leg": "aleg"}),
    Event("attempt_failed", "c1", 1.01, 1, "send", "english",
          {"attempt": 1, "status": 503, "reason": "HTTP 503 Service Unavailable: busy",
           "retry_in": 0.5}),
    Event("step_finished", "c1", 1.6, 1, "send", "english",
          {"outcome": "ok", "attempts": 2, "status": 202, "latency": 4.2, "detail": "1"}),
    Event("step_started", "c1", 1.85, 2, "send", None, {"digits": "****#", "leg": "aleg"}),
    Event("step_finished", "c1", 1.9, 2, "send", None,
          {"outcome": "rejected", "attempts": 1, "status": 400, "latency": 3.0,
           "detail": "****#", "reason": "the API rejected the digits"}),
    Event("flow_finished", "c1", 1.9, fields={"outcome": "rejected", "exit_code": 1,
                                              "reason": "the API rejected the digits",
                                              "steps_done": 1, "steps": 2}),
]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_human_lines() -> None:
    """One line per finished step with offset, n/total, kind, digits, name, result, latency."""
    out = io.StringIO()
    report = HumanReporter(out, colour=False)
    for event in EVENTS:
        report(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ivrflow: demo on call c1, 2 steps"
    assert "attempt 1 failed (HTTP 503 Service Unavailable: busy); retrying in 0.50s" in lines[1]
    assert lines[2].split() == ["1.000s", "1/2", "send", "1", "on", "aleg", "(english)", "ok",
                                "202", "4ms", "2", "attempts"]
    assert lines[3].split()[:8] == ["1.850s", "2/2", "send", "****#", "on", "aleg",
                                    "rejected", "400"]
    assert lines[4].strip() == "the API rejected the digits"
    assert lines[5] == "rejected (exit 1): the API rejected the digits; 1/2 steps in 1.90s"
    assert "\033[" not in out.getvalue()


def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour needs a terminal, and NO_COLOR turns it off."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(Tty()) is True
    assert use_colour(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    out = Tty()
    report = HumanReporter(out)
    report(EVENTS[0])
    report(EVENTS[-1])
    assert "\033[31m" in out.getvalue()


def test_json_lines_are_complete() -> None:
    """Each event is one JSON object per line, fields as given."""
    out = io.StringIO()
    report = JsonReporter(out)
    for event in EVENTS:
        report(event)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == len(EVENTS)
    assert records[2]["reason"] == "HTTP 503 Service Unavailable: busy"
    assert records[-1]["exit_code"] == 1
    assert all(r["call"] == "c1" for r in records)


def test_own_words_are_never_masked() -> None:
    """Reporters do not search text for secret values: a flow named like a short secret's
    value, step numbers and JSON keys come out as they are."""
    out = io.StringIO()
    report = JsonReporter(out)
    report(Event("flow_started", "c1", 0.0, fields={"flow": "sec2", "file": "f.yaml",
                                                  "steps": 2}))
    record = json.loads(out.getvalue())
    assert record["flow"] == "sec2" and record["steps"] == 2


def test_control_characters_in_events_are_escaped() -> None:
    """A step name or call id holding terminal escapes or line breaks cannot drive the
    terminal or forge a line."""
    out = io.StringIO()
    report = HumanReporter(out, colour=False)
    report(Event("flow_started", "c1", 0.0, fields={"flow": "x", "file": "f", "steps": 1}))
    report(Event("step_started", "c1", 0.0, 1, "send", "a\x1b[2J\nforged", {"leg": "aleg"}))
    report(Event("step_finished", "c1", 0.1, 1, "send", "a\x1b[2J\nforged",
                 {"outcome": "ok", "detail": "1"}))
    text = out.getvalue()
    assert "\x1b" not in text
    assert len(text.splitlines()) == 2
    assert "a\\x1b[2J\\x0aforged" in text
