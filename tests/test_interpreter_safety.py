"""Regression tests for safety findings: what a stopped, failing or deadline-bound flow
reports, and that it never claims less than it knows about digits that may have played."""

from __future__ import annotations

import asyncio

from ivrflow.engine.clock import MonotonicClock, VirtualClock
from ivrflow.engine.events import Event, RunResult
from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.model import Leg
from ivrflow.language.variables import resolve
from ivrflow.transport.base import Accepted, CallGone, SendOutcome, Transient, Unknown
from ivrflow.transport.fake import FakeTransport

FLOW = "version: 1\nname: t\ntone: 0\nretry: {backoff: 100ms}\n"


class SlowSend(FakeTransport):
    """Sends take `delay` real seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(MonotonicClock())
        self.delay = delay

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        self.sent.append(self.sent_record(call, digits, leg))
        await asyncio.sleep(self.delay)
        return Accepted(202)

    def sent_record(self, call: str, digits: str, leg: Leg):  # type: ignore[no-untyped-def]
        from ivrflow.transport.fake import SentDigits

        return SentDigits(self.clock.now(), call, digits, leg)


def run_virtual(text: str, transport_args: dict[str, object],
                events: list[Event] | None = None) -> tuple[RunResult, FakeTransport]:
    flow = parse_flow(text, "f.yaml")
    clock = VirtualClock()
    transport = FakeTransport(clock, **transport_args)  # type: ignore[arg-type]
    result = asyncio.run(run_flow(flow, resolve(flow, environ={}), transport, "c",
                                  clock=clock, listener=None if events is None
                                  else events.append))
    return result, transport


def test_cancel_during_a_send_is_an_unknown_outcome() -> None:
    """Stopping while a send is in flight reports it as maybe played, not 'nothing sent'."""
    flow = parse_flow(FLOW + "steps:\n  - send: '1'\n", "f.yaml")
    events: list[Event] = []

    async def main() -> RunResult:
        transport = SlowSend(5.0)
        task = asyncio.create_task(run_flow(flow, resolve(flow, environ={}), transport, "c",
                                            listener=events.append))
        await asyncio.sleep(0.1)
        task.cancel()
        return await task

    result = asyncio.run(main())
    assert result.exit_code == 130
    assert result.steps[0].outcome == "unknown"
    assert "may or may not have been played" in result.reason
    finished = [e for e in events if e.type == "step_finished"]
    assert finished and finished[0].fields["outcome"] == "unknown"


def test_unknown_then_call_gone_keeps_the_warning() -> None:
    """After an unknown outcome (retried by policy), a later stop still says the digits may
    have played."""
    text = FLOW + "steps:\n  - send: '1'\n    retry: {unknown: true}\n"
    result, transport = run_virtual(text, {"sends": [Unknown(502, "bad gateway")],
                                           "lives": [CallGone(404, "gone")]})
    assert result.exit_code == 3 and len(transport.sent) == 1
    assert "may or may not have been played" in result.reason


def test_unknown_then_deadline_keeps_the_warning() -> None:
    """An unknown outcome whose retry would cross the deadline still warns."""
    text = ("version: 1\nname: t\ntone: 0\ntimeout: 2s\nretry: {backoff: 5s}\nsteps:\n"
            "  - send: '1'\n    retry: {unknown: true}\n")
    result, _ = run_virtual(text, {"sends": [Unknown(None, "dropped")]})
    assert result.outcome == "deadline"
    assert "may or may not have been played" in result.reason


def test_retry_waits_for_a_confirmed_live_call() -> None:
    """A send is retried only once the call is confirmed live: failing checks stop it."""
    text = FLOW + "steps:\n  - send: '1'\n"
    result, transport = run_virtual(text, {
        "sends": [Transient(503, "busy")],
        "lives": [Transient(503, "busy"), Unknown(500, "oops"), Transient(429, "slow")]})
    assert result.exit_code == 1 and len(transport.sent) == 1
    assert "could not confirm the call is live before retrying" in result.reason
    assert len(transport.live_checks) == 3


def test_live_check_retry_after_is_honoured() -> None:
    """A 429 on the pre-retry live check waits out its Retry-After before the next check."""
    text = FLOW + "steps:\n  - send: '1'\n"
    result, transport = run_virtual(text, {
        "sends": [Transient(503, "busy")], "lives": [Transient(429, "slow", retry_after=4.0)]})
    assert result.ok
    checks = transport.live_checks
    assert checks[1] - checks[0] == 4.0


def test_send_with_no_time_left_is_not_reported_as_maybe_played() -> None:
    """A send due exactly at the deadline is not made, and the report says nothing was sent."""
    text = "version: 1\nname: t\ntone: 0\ntimeout: 1s\nsteps:\n  - wait: 1s\n  - send: '1'\n"
    result, transport = run_virtual(text, {})
    assert transport.sent == []
    assert result.outcome == "deadline" and "nothing was sent" in result.reason


def test_confirm_live_longer_than_the_flow_is_a_deadline() -> None:
    """confirm_live outlasting the flow's timeout ends at the deadline with exit 1."""
    text = ("version: 1\nname: t\ntimeout: 2s\nsteps:\n"
            "  - confirm_live: {timeout: 60s, interval: 500ms}\n")
    result, transport = run_virtual(text, {"lives": [CallGone(404, "x")] * 100})
    assert (result.outcome, result.exit_code) == ("deadline", 1)
    assert transport.live_checks[-1] - transport.live_checks[0] == 1.5  # none at the deadline


def test_confirm_live_polls_once_more_at_its_timeout() -> None:
    """The last poll is at the step's timeout, even off the interval grid."""
    text = FLOW + "steps:\n  - confirm_live: {timeout: 3s, interval: 2s}\n"
    result, transport = run_virtual(text, {"lives": [CallGone(404, "x")] * 5})
    assert result.exit_code == 3
    assert [t - transport.live_checks[0] for t in transport.live_checks] == [0, 2, 3]


def test_slow_polls_are_bounded_by_the_step() -> None:
    """A live check that never answers does not stretch confirm_live past its timeout."""
    flow = parse_flow(FLOW + "steps:\n  - confirm_live: {timeout: 300ms, interval: 100ms}\n",
                      "f.yaml")

    class Silent(FakeTransport):
        async def live(self, call: str):  # type: ignore[no-untyped-def]
            self.live_checks.append(self.clock.now())
            await asyncio.sleep(10)

    async def main() -> RunResult:
        clock = MonotonicClock()
        return await run_flow(flow, resolve(flow, environ={}), Silent(clock), "c", clock=clock)

    result = asyncio.run(main())
    assert result.exit_code == 1 and result.duration < 1.0
    assert "got no answer" in result.reason


def test_a_wait_cut_by_the_deadline_is_reported() -> None:
    """A wait that cannot end before the deadline gets a step_finished, not 'pending'."""
    text = "version: 1\nname: t\ntimeout: 10s\nsteps:\n  - send: '1'\n  - wait: 5s\n"
    events: list[Event] = []
    result, _ = run_virtual(text, {"latency": 6.0}, events)
    assert result.outcome == "deadline"
    assert [s.outcome for s in result.steps] == ["ok", "deadline"]
    assert events[-2].type == "step_finished" and events[-2].step == 2


def test_a_listener_that_fails_does_not_stop_the_call() -> None:
    """A reader that went away (broken pipe) does not abandon the flow mid-call."""
    flow = parse_flow(FLOW + "steps:\n  - send: '1'\n  - send: '2'\n", "f.yaml")

    def broken(event: Event) -> None:
        raise BrokenPipeError

    clock = VirtualClock()
    transport = FakeTransport(clock)
    result = asyncio.run(run_flow(flow, resolve(flow, environ={}), transport, "c", clock=clock,
                                  listener=broken))
    assert result.ok and [s.digits for s in transport.sent] == ["1", "2"]


def test_overlapping_secrets_are_masked_whole() -> None:
    """A secret that contains another is masked whole, whatever the set order."""
    text = ("version: 1\nname: t\nvars:\n  card: {secret: true}\n  last4: {secret: true}\n"
            "steps:\n  - send: '${card}#'\n")
    flow = parse_flow(text, "f.yaml")
    bindings = resolve(flow, cli={"card": "4111222233334444", "last4": "4444"}, environ={})
    assert bindings.redact("card 4111222233334444 end 4444") == "card **** end ****"
