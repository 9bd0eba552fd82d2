"""`ivrflow run` as a user meets it: refusals before any request, JSON events, secrets
that never show, interruption, the built-in sandbox, and timing in real time."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from conftest import ROOT

from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve
from ivrflow.sandbox import Drop, Fail, RateLimit
from ivrflow.transport.base import Transient, Unknown
from ivrflow.transport.vobiz import VobizTransport

from .conftest import FAST, Run, Start

SECRET_FLOW = FAST + ("vars: {pin: {secret: true, pattern: '^[0-9]+$'}}\n"
                      "steps:\n  - send: '${pin}#'\n  - send: '1${pin}'\n")
PIN = "8675309"
TOKEN = "tok-SENTINEL-5f3a"


def test_missing_credentials_exit_2_before_any_request(sandbox: Start, run_cli: Run,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No VOBIZ_AUTH_TOKEN: exit 2 naming the variable, and the server saw nothing."""
    box = sandbox()
    monkeypatch.delenv("VOBIZ_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_API_URL", box.url)
    result = run_cli(None, FAST + "steps:\n  - send: '1'\n")
    assert result.code == 2
    assert "set VOBIZ_AUTH_TOKEN" in result.err
    assert box.requests() == []


@pytest.mark.parametrize("call", ["../etc", "a/b", "", "-x", "x" * 129, "a b", "a?b"])
def test_unsafe_call_id_exit_2(sandbox: Start, run_cli: Run, call: str,
                               monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A call id that could bend the URL path is refused before any request."""
    from ivrflow.cli import main

    box = sandbox()
    for key, value in (("VOBIZ_AUTH_ID", box.auth_id), ("VOBIZ_AUTH_TOKEN", box.auth_token),
                       ("VOBIZ_API_URL", box.url)):
        monkeypatch.setenv(key, value)
    flow = tmp_path / "f.yaml"
    flow.write_text(FAST + "steps:\n  - send: '1'\n")
    assert main(["run", str(flow), f"--call={call}"]) == 2
    assert box.requests() == []


def test_bad_api_url_exit_2(run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """An API URL with a path or a strange scheme is refused before any request."""
    monkeypatch.setenv("VOBIZ_AUTH_ID", "MA_X")
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", "t")
    monkeypatch.setenv("VOBIZ_API_URL", "ftp://example.invalid/x")
    result = run_cli(None, FAST + "steps:\n  - send: '1'\n")
    assert result.code == 2 and "invalid API URL" in result.err


def test_dry_run_sends_nothing(sandbox: Start, run_cli: Run) -> None:
    """--dry-run prints the plan and makes no request."""
    box = sandbox()
    result = run_cli(box, FAST + "steps:\n  - wait: 1s\n  - send: '1'\n", "--dry-run")
    assert result.code == 0
    assert "total 1.000s" in result.out
    assert box.requests() == []


def test_json_events(sandbox: Start, run_cli: Run) -> None:
    """--json: one event per line with call, step, kind, name and t; the last says how it ended."""
    box = sandbox(dtmf_faults=(Fail(503),))
    result = run_cli(box, FAST + "steps:\n  - wait: 100ms\n  - send: '1'\n    name: one\n",
                     "--json")
    events = result.events()
    assert [e["event"] for e in events] == [
        "flow_started", "step_started", "step_finished", "step_started", "attempt_failed",
        "step_finished", "flow_finished"]
    for event in events:
        assert {"call", "step", "kind", "name", "t"} <= event.keys()
        assert event["call"] == "call-1"
    assert events[4]["status"] == 503 and events[4]["attempt"] == 1
    assert events[5]["attempts"] == 2 and events[5]["outcome"] == "ok"
    assert events[-1]["outcome"] == "ok" and events[-1]["exit_code"] == 0
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)


@pytest.mark.parametrize("faults", [(), (Fail(400),), (Fail(403),), (Fail(500),), (Drop(),),
                                    (Fail(503, 5),), (RateLimit(1, retry_after=0),)],
                         ids=["ok", "400", "403", "500", "drop", "503s", "429"])
@pytest.mark.parametrize("mode", [(), ("--json",)], ids=["human", "json"])
def test_secrets_never_shown(sandbox: Start, run_cli: Run, faults: tuple[object, ...],
                             mode: tuple[str, ...]) -> None:
    """The secret variable and the auth token appear in no output, on every path."""
    box = sandbox(dtmf_faults=faults, auth_token=TOKEN)
    result = run_cli(box, SECRET_FLOW, "--var", f"pin={PIN}", *mode)
    everything = result.out + result.err
    assert PIN not in everything and TOKEN not in everything
    assert "****#" in everything
    assert box.heard() == [] or box.heard()[0].digits == f"{PIN}#"


def test_secret_pattern_failure_does_not_show_value(run_cli: Run) -> None:
    """A secret that fails its pattern is refused (exit 2) without echoing it."""
    result = run_cli(None, SECRET_FLOW, "--var", "pin=86x75309")
    assert result.code == 2 and "86x75309" not in result.err


def test_read_timeout_is_an_unknown_outcome(sandbox: Start) -> None:
    """A read timeout on a send is an unknown outcome; on a live GET it is transient."""
    import asyncio

    box = sandbox(latency=0.5)

    async def main() -> tuple[object, object]:
        async with VobizTransport(auth_id=box.auth_id, auth_token=box.auth_token,
                                  api_url=box.url,
                                  timeout=httpx.Timeout(5.0, read=0.1)) as transport:
            return (await transport.send_digits("c", "1", "aleg"),
                    await transport.live("c"))

    send, live = asyncio.run(main())
    assert isinstance(send, Unknown) and send.status is None
    assert isinstance(live, Transient)
    assert box.dtmf_requests() == 1


def test_connect_timeout_is_transient() -> None:
    """A connect timeout means nothing was delivered: transient, safe to retry."""
    import asyncio

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async def main() -> object:
        client = httpx.AsyncClient(base_url="http://127.0.0.1:9",
                                   transport=httpx.MockTransport(refuse))
        async with VobizTransport(auth_id="MA", auth_token="t", api_url="http://127.0.0.1:9",
                                  client=client) as transport:
            return await transport.send_digits("c", "1", "aleg")

    outcome = asyncio.run(main())
    assert isinstance(outcome, Transient) and "could not connect in time" in outcome.message


def test_error_body_shapes_are_both_read() -> None:
    """{"error": "text"} and {"error": {"code", "message"}} both give the message."""
    from ivrflow.transport.answers import error_message, retry_after

    plain = json.dumps({"api_id": "x", "error": "invalid digits"}).encode()
    nested = json.dumps({"status": "error",
                         "error": {"code": "RATE", "message": "slow down"}}).encode()
    assert error_message(400, plain) == "HTTP 400 Bad Request: invalid digits"
    assert error_message(429, nested) == "HTTP 429 Too Many Requests: slow down"
    assert retry_after("3") == 3.0
    assert retry_after("600") == 60.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after("soon") is None


def test_arrival_gaps_match_the_plan_in_real_time(sandbox: Start) -> None:
    """Against the sandbox in real time, sends arrive at the planned gaps (loose: 50 ms)."""
    import asyncio

    box = sandbox()
    flow = parse_flow("version: 1\nname: t\ntone: 100ms\nsteps:\n  - send: '1'\n"
                      "  - wait: 200ms\n  - send: '22'\n  - wait: {until: 800ms}\n"
                      "  - send: '3'\n", "t.yaml")

    async def main() -> None:
        async with VobizTransport(auth_id=box.auth_id, auth_token=box.auth_token,
                                  api_url=box.url) as transport:
            result = await run_flow(flow, resolve(flow, environ={}), transport, "c")
            assert result.ok

    asyncio.run(main())
    arrivals = [h.t for h in box.heard()]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # send 1 plays 100 ms, then 200 ms wait: the second lands ~300 ms (+ latency) later;
    # the third is pinned to 800 ms after the start.
    assert gaps[0] == pytest.approx(0.3, abs=0.05)
    assert arrivals[2] - arrivals[0] == pytest.approx(0.8, abs=0.05)


def test_sandbox_run_is_the_quick_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`ivrflow run FLOW --call X --sandbox` runs a shipped recipe and prints what was heard."""
    result = subprocess.run(
        [sys.executable, "-m", "ivrflow", "run", "flows/conference-pin.yaml", "--call",
         "demo", "--sandbox", "--var", "meeting=123456789", "--var", "pin=4321"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "VOBIZ_AUTH_TOKEN": "", "VOBIZ_AUTH_ID": ""})
    assert result.returncode == 0, result.stderr
    assert "ok: 5/5 steps" in result.stderr
    assert "the sandbox heard 2 send(s)" in result.stderr
    assert "123456789#" in result.stderr and "#W****#" in result.stderr
    assert "4321" not in result.stderr + result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_at_once_and_exits_130(tmp_path, signum: int) -> None:  # type: ignore[no-untyped-def]
    """SIGINT/SIGTERM during a wait: stop now, send nothing more, summary, exit 130."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: t\nsteps:\n  - send: '1'\n  - wait: 30s\n"
                    "  - send: '2'\n")
    with subprocess.Popen([sys.executable, "-m", "ivrflow", "run", str(flow), "--call",
                           "c", "--sandbox"], stderr=subprocess.PIPE, text=True,
                          cwd=ROOT) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "1/3" in line:  # the first send is done; the flow is now waiting
                break
        time.sleep(0.3)
        proc.send_signal(signum)
        rest = proc.stderr.read()
        assert proc.wait(10) == 130
    assert "interrupted during step 2" in rest
    assert "the sandbox heard 1 send(s)" in rest
