"""Every row of the answer table, end to end: `ivrflow run` over real HTTP to a sandbox,
asserting how many DTMF requests the server received (at most once), the exit code and
the message. Every test runs on both HTTP engines and expects the same."""

from __future__ import annotations

import socket

import pytest

from ivrflow.sandbox import Drop, Fail, RateLimit
from ivrflow.transport.vobiz import ENGINES

from .conftest import FAST, Run, Start


@pytest.fixture(params=ENGINES)
def http_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


ONE_SEND = FAST + "steps:\n  - send: '1'\n  - send: '2'\n"


def test_accepted_sends_each_once(sandbox: Start, run_cli: Run) -> None:
    """2xx: each send reaches the server exactly once and the run exits 0."""
    box = sandbox()
    result = run_cli(box, ONE_SEND)
    assert result.code == 0, result.err
    assert [h.digits for h in box.heard()] == ["1", "2"]
    assert box.dtmf_requests() == 2
    assert "ok: 2/2 steps" in result.err


def test_400_is_rejected_without_retry(sandbox: Start, run_cli: Run) -> None:
    """400: rejected, no retry, exit 1, the API's message shown."""
    box = sandbox(dtmf_faults=(Fail(400),))
    result = run_cli(box, ONE_SEND)
    assert result.code == 1
    assert box.dtmf_requests() == 1
    assert "the API rejected the digits (HTTP 400 Bad Request:" in result.err


def test_401_wrong_credentials_stop_everything(sandbox: Start, run_cli: Run) -> None:
    """401: exit 4 after one request, no retry, and the token is never shown."""
    box = sandbox()
    result = run_cli(box, ONE_SEND, token="wrong-token-SENTINEL")
    assert result.code == 4
    assert box.dtmf_requests() == 1
    assert "refused the credentials" in result.err
    assert "SENTINEL" not in result.err + result.out


def test_403_stops_everything(sandbox: Start, run_cli: Run) -> None:
    """403: exit 4, no retry."""
    box = sandbox(dtmf_faults=(Fail(403),))
    result = run_cli(box, ONE_SEND)
    assert (result.code, box.dtmf_requests()) == (4, 1)


def test_404_call_ended_stops_now(sandbox: Start, run_cli: Run) -> None:
    """404 on a send: the call ended; exit 3, nothing more is sent."""
    box = sandbox(never_live=True)
    result = run_cli(box, ONE_SEND)
    assert (result.code, box.dtmf_requests()) == (3, 1)
    assert "the call is not live" in result.err


def test_429_retry_after_is_honoured(sandbox: Start, run_cli: Run) -> None:
    """429 with Retry-After: 1 is retried after at least a second, then succeeds."""
    box = sandbox(dtmf_faults=(RateLimit(1, retry_after=1),))
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n")
    assert result.code == 0, result.err
    posts = [r for r in box.requests() if r.method == "POST"]
    assert [r.status for r in posts] == [429, 202]
    assert posts[1].t - posts[0].t >= 1.0
    assert [h.digits for h in box.heard()] == ["1"]


def test_429_without_retry_after_backs_off(sandbox: Start, run_cli: Run) -> None:
    """429 without Retry-After falls back to the backoff and retries."""
    box = sandbox(dtmf_faults=(RateLimit(2, retry_after=None),))
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n")
    assert result.code == 0 and box.dtmf_requests() == 3


def test_503_is_retried_after_a_live_check(sandbox: Start, run_cli: Run) -> None:
    """503: nothing was delivered, so it is retried (after confirming the call is live)."""
    box = sandbox(dtmf_faults=(Fail(503, 2),))
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n")
    assert result.code == 0, result.err
    methods = [r.method for r in box.requests()]
    assert methods == ["POST", "GET", "POST", "GET", "POST"]
    assert [h.digits for h in box.heard()] == ["1"]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_unknown_outcome_is_not_retried(sandbox: Start, run_cli: Run, status: int) -> None:
    """500/502/504: the digits may have played, so they are never sent again: exit 1."""
    box = sandbox(dtmf_faults=(Fail(status),))
    result = run_cli(box, ONE_SEND)
    assert (result.code, box.dtmf_requests()) == (1, 1)
    assert "may or may not have been played" in result.err


def test_dropped_connection_is_not_retried(sandbox: Start, run_cli: Run) -> None:
    """A connection dropped after the request was sent: outcome unknown, no retry."""
    box = sandbox(dtmf_faults=(Drop(),))
    result = run_cli(box, ONE_SEND)
    assert (result.code, box.dtmf_requests()) == (1, 1)
    assert "may or may not have been played" in result.err
    assert [h.fault for h in box.heard()] == ["drop"]


def test_unknown_outcome_retried_when_the_recipe_allows(sandbox: Start, run_cli: Run) -> None:
    """retry.unknown: true retries a 502; the server then heard the digits twice."""
    box = sandbox(dtmf_faults=(Fail(502),))
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n    retry: {unknown: true}\n")
    assert result.code == 0
    assert [h.digits for h in box.heard()] == ["1", "1"]


def test_connection_refused_is_retried_then_gives_up(run_cli: Run, sandbox: Start) -> None:
    """Connection refused: nothing was delivered, so a retry is allowed, but only once the
    call is confirmed live; with the API unreachable that never happens: exit 1."""
    box = sandbox()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n", url=f"http://127.0.0.1:{port}")
    assert result.code == 1
    assert "could not confirm the call is live before retrying (live check: could not " \
        "connect" in result.err
    assert result.err.count("attempt 1 failed") == 2  # the send, then the first check
    assert result.err.count("attempt 2 failed") == 1  # the second check


def test_send_after_hangup_mid_flow_stops(sandbox: Start, run_cli: Run) -> None:
    """The call hangs up mid-flow: the next send gets 404 and nothing is sent after it."""
    box = sandbox(hangup_after=0.3)
    flow = FAST + "steps:\n  - send: '1'\n  - wait: 600ms\n  - send: '2'\n  - send: '3'\n"
    result = run_cli(box, flow)
    assert result.code == 3
    assert [(r.digits, r.status) for r in box.requests() if r.method == "POST"] == [
        ("1", 202), ("2", 404)]


# -- confirm_live ---------------------------------------------------------------------

LIVE = FAST + "steps:\n  - confirm_live: {timeout: 1s, interval: 200ms}\n  - send: '1'\n"


def test_confirm_live_waits_for_answer(sandbox: Start, run_cli: Run) -> None:
    """404 on the live GET means not live yet: polled until live, then the send goes."""
    box = sandbox(live_after=0.5)
    result = run_cli(box, LIVE)
    assert result.code == 0, result.err
    gets = [r for r in box.requests() if r.method == "GET"]
    assert [r.status for r in gets][-1] == 200 and len(gets) >= 3
    assert box.dtmf_requests() == 1


def test_confirm_live_times_out(sandbox: Start, run_cli: Run) -> None:
    """A call never live: exit 3 after the step's timeout, and no DTMF request at all."""
    box = sandbox(never_live=True)
    result = run_cli(box, LIVE)
    assert result.code == 3
    assert box.dtmf_requests() == 0
    assert "not live within 1s" in result.err
    assert 5 <= len(box.requests()) <= 7  # polls at 0, 0.2, ... 1.0


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_confirm_live_retries_failing_lookups(sandbox: Start, run_cli: Run,
                                              status: int) -> None:
    """A failing live GET has no side effect and is retried."""
    box = sandbox(live_fail=2, live_fail_status=status)
    result = run_cli(box, LIVE)
    assert result.code == 0, result.err
    assert [r.status for r in box.requests() if r.method == "GET"] == [status, status, 200]


def test_confirm_live_auth_refused(sandbox: Start, run_cli: Run) -> None:
    """401 on the live GET: exit 4 at once."""
    box = sandbox()
    result = run_cli(box, LIVE, token="nope")
    assert result.code == 4 and len(box.requests()) == 1


def test_flow_deadline_abandons_request_and_sends_nothing_more(sandbox: Start,
                                                               run_cli: Run) -> None:
    """The flow timeout is hard: a request in flight at the deadline is abandoned (outcome
    unknown, exit 1) and no further request is made."""
    box = sandbox(latency=0.4)
    flow = ("version: 1\nname: t\ntone: 250ms\ntimeout: 1s\nsteps:\n  - send: '1'\n"
            "  - send: '2'\n  - send: '3'\n  - send: '4'\n")
    result = run_cli(box, flow)
    assert result.code == 1
    assert "timeout of 1s passed while the digits were being sent" in result.err
    # each send waits for its answer (0.4 s, longer than its playback): requests at 0,
    # 0.4 and 0.8 s; the third is in flight at 1 s, and the fourth is never made
    assert box.dtmf_requests() == 3
