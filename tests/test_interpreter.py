"""The interpreter on virtual time with a scripted transport: timing rules exactly, and
the safety rules (at-most-once digits, nothing after the call ended) outcome by outcome."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.events import Event, RunResult
from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve
from ivrflow.transport.base import (
    Accepted,
    AuthDenied,
    CallGone,
    Rejected,
    SendOutcome,
    Transient,
    Unknown,
)
from ivrflow.transport.fake import FakeTransport

START = 1000.0


def run(text: str, *, sends: list[SendOutcome] | None = None, lives: list | None = None,
        latency: float = 0.0, **values: str) -> tuple[RunResult, FakeTransport, list[Event]]:
    flow = parse_flow(text, "f.yaml")
    clock = VirtualClock(START)
    transport = FakeTransport(clock, sends=sends or [], lives=lives or [], latency=latency)
    events: list[Event] = []
    result = asyncio.run(run_flow(flow, resolve(flow, cli=values, environ={}), transport,
                                  "call-1", clock=clock, listener=events.append))
    return result, transport, events


def times(transport: FakeTransport) -> list[float]:
    return [round(s.at - START, 6) for s in transport.sent]


FLOW = "version: 1\nname: t\ntone: 250ms\n"


def test_sends_land_at_planned_offsets_despite_latency() -> None:
    """A send's next step is timed from when the send was due, not from its answer: with
    100 ms of latency every send still lands at the plan's offset, and none accumulates."""
    text = FLOW + ("steps:\n  - wait: 2s\n  - send: '12'\n  - wait: 1s\n  - send: '3'\n"
                   "  - wait: 1s\n  - send: '4'\n  - wait: {until: 10s}\n  - send: '5'\n")
    result, transport, _ = run(text, latency=0.1)
    # 2.0 ; due 2.0 + 0.5 playback + 1 wait = 3.5 ; 3.5 + 0.25 + 1 = 4.75 ; until 10
    assert times(transport) == [2.0, 3.5, 4.75, 10.0]
    assert result.ok


def test_the_next_step_never_starts_before_the_answer() -> None:
    """Latency longer than the playback: the next send waits for the answer itself."""
    text = FLOW + "steps:\n  - send: '1'\n  - send: '2'\n  - send: '3'\n"
    _, transport, _ = run(text, latency=0.4)
    # each answer comes 0.4 s after its request, later than the 0.25 s of playback
    assert times(transport) == [0.0, 0.4, 0.8]


def test_after_a_retry_the_anchor_is_the_accepted_try() -> None:
    """A send accepted on its second try is timed from when that try began."""
    text = FLOW + ("retry: {backoff: 500ms, max_backoff: 500ms}\nsteps:\n  - send: '1'\n"
                   "  - wait: 1s\n  - send: '2'\n")
    _, transport, _ = run(text, sends=[Transient(503, "busy"), Accepted(202)], latency=0.1)
    # try 1 at 0.0 (503 at 0.1), live check 0.6-0.7, try 2 begins 0.7: + 0.25 + 1 s
    assert times(transport) == [0.0, 0.7, 1.95]


def test_pauses_in_digits_count_toward_playback() -> None:
    """w and W lengthen a send's playback, so the next send waits for them."""
    _, transport, _ = run(FLOW + "steps:\n  - send: '1w2W'\n  - send: '3'\n")
    assert times(transport) == [0.0, 2.0]


def test_gap_floor_between_actions() -> None:
    """gap spaces back-to-back sends; it is not added to a longer explicit wait."""
    text = ("version: 1\nname: t\ntone: 0\ngap: 1s\nsteps:\n  - send: '1'\n  - send: '2'\n"
            "  - wait: 3s\n  - send: '3'\n")
    _, transport, _ = run(text)
    assert times(transport) == [0.0, 1.0, 4.0]


def test_transient_failure_is_retried_after_checking_the_call() -> None:
    """A 503 is retried (nothing was delivered), after a live check, with a backoff pause."""
    text = FLOW + "retry: {attempts: 3, backoff: 1s, max_backoff: 4s}\nsteps:\n  - send: '1'\n"
    result, transport, events = run(text, sends=[Transient(503, "busy"),
                                                 Transient(None, "refused")])
    assert result.ok
    assert len(transport.sent) == 3
    assert len(transport.live_checks) == 2
    gaps = [b - a for a, b in itertools.pairwise(times(transport))]
    assert 1.0 <= gaps[0] <= 1.5 and 2.0 <= gaps[1] <= 2.5  # backoff doubles, jitter <= half
    failed = [e for e in events if e.type == "attempt_failed"]
    assert [e.fields["attempt"] for e in failed] == [1, 2]
    assert result.steps[0].attempts == 3


def test_retry_after_is_honoured() -> None:
    """A 429's Retry-After sets the pause instead of the backoff."""
    text = FLOW + "steps:\n  - send: '1'\n"
    result, transport, _ = run(text, sends=[Transient(429, "slow down", retry_after=7.0)])
    assert result.ok
    assert times(transport) == [0.0, 7.0]


def test_unknown_outcome_is_not_retried_by_default() -> None:
    """A 500/502/504 or dropped connection is never re-sent unless the policy allows it."""
    text = FLOW + "steps:\n  - send: '1'\n  - send: '2'\n"
    result, transport, _ = run(text, sends=[Unknown(502, "HTTP 502 Bad Gateway")])
    assert len(transport.sent) == 1
    assert result.exit_code == 1 and result.outcome == "unknown"
    assert "may or may not have been played" in result.reason
    assert [s.outcome for s in result.steps] == ["unknown"]


def test_unknown_outcome_retried_when_allowed() -> None:
    """retry.unknown: true re-sends after an unknown outcome (the author accepted the risk)."""
    text = FLOW + "steps:\n  - send: '1'\n    retry: {unknown: true}\n"
    result, transport, _ = run(text, sends=[Unknown(None, "connection lost")])
    assert result.ok and len(transport.sent) == 2


@pytest.mark.parametrize(("outcome", "code", "name"), [
    (Rejected(400, "bad digits"), 1, "rejected"),
    (AuthDenied(401, "no"), 4, "auth_refused"),
    (AuthDenied(403, "no"), 4, "auth_refused"),
    (CallGone(404, "not live"), 3, "not_live"),
])
def test_final_answers_stop_at_once(outcome: SendOutcome, code: int, name: str) -> None:
    """400, 401/403 and 404 are final: no retry, nothing more sent, the documented exit code."""
    result, transport, _ = run(FLOW + "steps:\n  - send: '1'\n  - send: '2'\n", sends=[outcome])
    assert len(transport.sent) == 1
    assert (result.exit_code, result.outcome) == (code, name)


def test_call_ended_before_retry_stops_without_resending() -> None:
    """If the call is gone when a retry is due, the send is not repeated: exit 3."""
    text = FLOW + "steps:\n  - send: '1'\n"
    result, transport, _ = run(text, sends=[Transient(503, "busy")],
                               lives=[CallGone(404, "not live")])
    assert len(transport.sent) == 1
    assert result.exit_code == 3


def test_attempts_exhausted() -> None:
    """When every attempt fails transiently the step fails with exit 1 and says why."""
    text = FLOW + "retry: {attempts: 2, backoff: 100ms}\nsteps:\n  - send: '1'\n"
    result, transport, _ = run(text, sends=[Transient(503, "busy")] * 2)
    assert len(transport.sent) == 2
    assert result.exit_code == 1
    assert result.reason == "gave up after 2 attempt(s): busy"


def test_confirm_live_polls_until_live() -> None:
    """confirm_live polls every interval while the API says 404, then goes on."""
    text = FLOW + "steps:\n  - confirm_live: {timeout: 10s, interval: 2s}\n  - send: '1'\n"
    result, transport, _ = run(text, lives=[CallGone(404, "x")] * 3)
    assert result.ok
    assert [round(t - START, 6) for t in transport.live_checks] == [0, 2, 4, 6]
    assert times(transport) == [6.0]


def test_confirm_live_times_out_with_exit_3() -> None:
    """A call that never becomes live ends the flow with exit 3 after the step's timeout."""
    text = FLOW + "steps:\n  - confirm_live: {timeout: 3s, interval: 1s}\n  - send: '1'\n"
    result, transport, _ = run(text, lives=[CallGone(404, "x")] * 10)
    assert result.exit_code == 3 and transport.sent == []
    assert len(transport.live_checks) == 4  # at 0, 1, 2, 3
    assert "not live within 3s" in result.reason


def test_confirm_live_retries_server_errors() -> None:
    """A failing live-call GET is retried (it has no side effect)."""
    text = FLOW + "retry: {backoff: 100ms}\nsteps:\n  - confirm_live: true\n"
    result, transport, _ = run(text, lives=[Unknown(500, "oops"), Transient(503, "busy")])
    assert result.ok and len(transport.live_checks) == 3


def test_flow_deadline_stops_before_sending() -> None:
    """A step that would start after the flow's timeout is not run: exit 1, nothing sent."""
    text = ("version: 1\nname: t\ntimeout: 10s\nsteps:\n  - send: '1'\n  - wait: 5s\n"
            "  - send: '2'\n")
    result, transport, _ = run(text, latency=6.0)
    assert len(transport.sent) == 1
    assert result.outcome == "deadline" and result.exit_code == 1


def test_secrets_never_reach_events_or_result() -> None:
    """A secret's value appears in no event, reason or step detail, even when the API echoes it."""
    text = (FLOW + "vars: {pin: {secret: true}}\nsteps:\n  - send: '${pin}#'\n")
    result, transport, events = run(
        text, sends=[Rejected(400, "HTTP 400 Bad Request", "invalid digits 7319#")], pin="7319")
    assert transport.sent[0].digits == "7319#"
    blob = repr(result) + repr([e.to_json() for e in events])
    assert "7319" not in blob
    assert "****#" in blob
    assert "HTTP 400 Bad Request: invalid digits ****#" in result.reason


def test_events_in_order_with_common_fields() -> None:
    """Events come in order, each carrying call, step, kind, name and t."""
    text = FLOW + "steps:\n  - wait: 1s\n  - send: '1'\n    name: english\n"
    _, _, events = run(text)
    assert [e.type for e in events] == ["flow_started", "step_started", "step_finished",
                                        "step_started", "step_finished", "flow_finished"]
    send = events[3].to_json()
    assert send == {"event": "step_started", "call": "call-1", "t": 1.0, "step": 2,
                    "kind": "send", "name": "english", "digits": "1", "leg": "aleg"}
    assert events[-1].fields["exit_code"] == 0


def test_cancellation_reports_the_step_in_flight() -> None:
    """Cancelling during a wait returns an interrupted result and sends nothing more."""
    flow = parse_flow(FLOW + "steps:\n  - send: '1'\n  - wait: 60s\n  - send: '2'\n", "f.yaml")

    async def main() -> tuple[RunResult, FakeTransport]:
        from ivrflow.engine.clock import MonotonicClock

        clock = MonotonicClock()
        transport = FakeTransport(clock)
        task = asyncio.create_task(run_flow(flow, resolve(flow, environ={}), transport, "c",
                                            clock=clock))
        await asyncio.sleep(0.35)  # past the first send's 0.25 s playback, inside the wait
        task.cancel()
        return await task, transport

    result, transport = asyncio.run(main())
    assert result.exit_code == 130 and result.outcome == "interrupted"
    assert len(transport.sent) == 1
    assert [s.outcome for s in result.steps] == ["ok", "interrupted"]
