"""Listening waits in the interpreter, on virtual time with scripted ears: each wait ends
when the IVR's prompt does (or its phrase, with barge), the steps after it are timed from
there, and when the IVR does not say what the recipe expects, nothing more is sent."""

from __future__ import annotations

import asyncio

import pytest

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.events import Event, RunResult
from ivrflow.engine.interpreter import run_flow
from ivrflow.errors import ExitCode, InvalidInput
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve
from ivrflow.transport.fake import FakeTransport
from tests.engine.fake_ears import Said, ScriptedEars

FLOW = """\
version: 1
name: listening
tone: 100ms
listen: {silence: 1s}
steps:
  - wait: {silence: 1s, max: 30s}
  - send: '1'
  - wait: {heard: 'enter your card number', max: 20s}
  - send: '12#'
  - wait: {heard: [balance], barge: true, max: 30s}
  - send: '2'
"""
# The IVR: a greeting with a short pause inside, the card prompt, then the balance menu.
IVR = [Said(0.5, 2.0, "welcome to the state benefits line"),
       Said(2.6, 4.0, "for english press one"),            # 0.6 s pause: same prompt
       Said(6.0, 8.0, "please enter your card number"),
       Said(12.0, 15.0, "for your balance press one")]


SHORT_FIRST = FLOW.replace("max: 30s}\n  - send: '1'", "max: 3s}\n  - send: '1'")


def run(text: str, script: list[Said], lost_at: float | None = None
        ) -> tuple[RunResult, FakeTransport, ScriptedEars, list[Event]]:
    flow = parse_flow(text, "f.yaml")
    clock = VirtualClock(0.0)
    transport = FakeTransport(clock)
    ears = ScriptedEars(clock, script, lost_at)
    events: list[Event] = []
    result = asyncio.run(run_flow(flow, resolve(flow, environ={}), transport, "c", clock=clock,
                                  listener=events.append, ears=ears))
    return result, transport, ears, events


def test_each_wait_ends_with_its_prompt_and_the_sends_follow_from_there() -> None:
    """The greeting (with its inner 0.6 s pause) ends at 4.0 + 1 s; the card prompt at
    8.0 + 1 s; the balance menu is barged in on as soon as its phrase was said (15.0)."""
    result, transport, ears, events = run(FLOW, IVR)
    assert result.exit_code == 0, result.reason
    assert [(round(s.at, 3), s.digits) for s in transport.sent] == [
        (5.0, "1"), (9.0, "12#"), (15.0, "2")]
    assert [asked[0] for asked in ears.asked] == [0.0, 5.1, 9.3]  # after each playback
    kinds = [e.type for e in events if e.step == 3]
    assert kinds == ["step_started", "speech_started", "heard", "prompt_ended",
                     "step_finished"]
    heard = next(e for e in events if e.type == "heard" and e.step == 3)
    assert heard.fields["phrase"] == "enter your card number"
    assert heard.fields["transcript"] == [{"t": 8.0, "text": "please enter your card number"}]


def test_a_prompt_that_ends_without_the_phrase_stops_the_flow_with_exit_5() -> None:
    """The menu changed: the prompt ends without the expected words; exit 5, nothing
    more is sent, and the reason quotes what the IVR did say."""
    changed = [*IVR[:2], Said(6.0, 8.0, "please enter your member id")]
    result, transport, _, _ = run(FLOW, changed)
    assert result.exit_code == ExitCode.NOT_HEARD and result.outcome == "not_heard"
    assert [s.digits for s in transport.sent] == ["1"]
    assert "did not say 'enter your card number'" in result.reason
    assert "'please enter your member id'" in result.reason
    assert "nothing more was sent" in result.reason


def test_no_speech_within_max_is_exit_5() -> None:
    result, transport, _, _ = run(SHORT_FIRST, [Said(10.0, 12.0, "hello")])
    assert result.exit_code == ExitCode.NOT_HEARD
    assert result.reason.startswith("the IVR said nothing within 3s")
    assert transport.sent == []


def test_a_prompt_that_never_ends_within_max_is_exit_5() -> None:
    result, transport, _, _ = run(SHORT_FIRST, [Said(0.5, 20.0, "a very long announcement")])
    assert result.exit_code == ExitCode.NOT_HEARD
    assert "had not ended after 3s (no 1s of silence)" in result.reason
    assert transport.sent == []


def test_audio_that_stops_coming_fails_the_step_and_sends_nothing_more() -> None:
    result, transport, _, _ = run(FLOW, IVR, lost_at=7.0)
    assert result.exit_code == ExitCode.STEP_FAILED
    assert result.reason == ("the IVR could not be heard: the audio stream dropped; nothing "
                             "more was sent")
    assert [s.digits for s in transport.sent] == ["1"]


def test_the_flow_deadline_bounds_a_listening_wait() -> None:
    """A wait whose max runs past the flow's timeout ends at the timeout."""
    text = FLOW.replace("listen: {silence: 1s}", "timeout: 7s\nlisten: {silence: 1s}")
    text = text.replace("max: 30s", "max: 6s").replace("max: 20s", "max: 5s")
    result, transport, _, _ = run(text, IVR)
    assert result.exit_code == ExitCode.NOT_HEARD
    assert result.duration == pytest.approx(7.0)
    assert [s.digits for s in transport.sent] == ["1"]


def test_without_ears_a_listening_flow_is_refused_before_anything_is_sent() -> None:
    flow = parse_flow(FLOW, "f.yaml")
    clock = VirtualClock(0.0)
    transport = FakeTransport(clock)
    with pytest.raises(InvalidInput, match=r"f.yaml:6:5: step 1: .* cannot run them yet"):
        asyncio.run(run_flow(flow, resolve(flow, environ={}), transport, "c", clock=clock))
    assert transport.sent == []


def test_listening_events_are_valid_events() -> None:
    """step_started with the wait's silence, heard and barge, speech_started, heard and
    prompt_ended, and a not_heard ending with exit code 5: all valid `--json` events."""
    import json

    from jsonschema import Draft202012Validator

    from ivrflow.engine.events import schema_text

    validator = Draft202012Validator(json.loads(schema_text()))
    _, _, _, ok = run(FLOW, IVR)
    _, _, _, failed = run(FLOW, [*IVR[:2], Said(6.0, 8.0, "please enter your member id")])
    records = [json.loads(json.dumps(e.to_json())) for e in ok + failed]
    assert {r["event"] for r in records} >= {"speech_started", "heard", "prompt_ended"}
    for record in records:
        assert list(validator.iter_errors(record)) == [], record
    assert records[-1]["outcome"] == "not_heard" and records[-1]["exit_code"] == 5


def test_the_human_report_shows_what_was_heard() -> None:
    """Each listening wait's transcript gets a line with when the words were said; a
    not_heard ending names the exit code's reason."""
    import io

    from ivrflow.engine.report import HumanReporter

    out = io.StringIO()
    reporter = HumanReporter(out, colour=False, live=False)
    _, _, _, events = run(FLOW, [*IVR[:2], Said(6.0, 8.0, "please enter your member id")])
    for event in events:
        reporter(event)
    text = out.getvalue()
    assert "3/6  heard +8.0s 'please enter your member id'" in text
    assert "the IVR did not say 'enter your card number'" in text
