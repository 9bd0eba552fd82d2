"""`ivrflow run --to`: placing the call through Make Call, against the sandbox on
loopback as the live API (real HTTP both ways: the requests to the sandbox, and the
sandbox's signed callbacks to the run's listener)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.engine import dialing
from ivrflow.sandbox import Sandbox, SandboxConfig

FLOW = ("version: 1\nname: placed\ntone: 50ms\ntimeout: 1m\nsteps:\n"
        "  - confirm_live: true\n  - wait: {wait}\n  - send: '1'\n")
TO, FROM = "18005550100", "14155550123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    options = getattr(request, "param", {})
    with Sandbox.start_in_thread(SandboxConfig(**options)) as sandbox:
        yield sandbox


def run(box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str,
        wait: str = "200ms") -> int:
    (tmp_path / "f.yaml").write_text(FLOW.format(wait=wait))
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
    port = free_port()
    return main(["run", str(tmp_path / "f.yaml"), "--to", TO, "--from", FROM,
                 "--api-url", box.url, "--listen", f"127.0.0.1:{port}",
                 "--public-url", f"http://127.0.0.1:{port}", *extra])


def calls_of(box: Sandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("/Account/", 1)[1].split("/", 1)[1].split("?")[0])
            for r in box.requests()]


def test_the_call_is_placed_answered_driven_and_hung_up(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(box, tmp_path, monkeypatch) == 0, capsys.readouterr().err
    [placed] = box.placed()
    fields = placed.fields
    assert (fields["from"], fields["to"]) == (FROM, TO)
    for kind in ("answer", "ring", "hangup"):
        assert fields[f"{kind}_url"].startswith("http://127.0.0.1:")
        assert "/cb/" in fields[f"{kind}_url"] and fields[f"{kind}_url"].endswith(kind)
        assert fields[f"{kind}_method"] == "POST"
    call = placed.call_uuid
    assert call != placed.request_uuid  # matched by RequestUUID, not assumed equal
    assert calls_of(box) == [("POST", "Call/"), ("GET", f"Call/{call}/"),
                             ("POST", f"Call/{call}/DTMF/"), ("DELETE", f"Call/{call}/")]
    assert [kind for kind, _ in placed.callbacks] == ["ring", "answer", "hangup"]
    assert all(status == 200 for _, status in placed.callbacks)
    err = capsys.readouterr().err
    assert f"the call to {TO} was answered: {call}" in err
    assert "the call has ended (CallStatus completed, HangupCause NORMAL_CLEARING)" in err


@pytest.mark.parametrize(("box", "status", "cause"), [
    ({"dial": "busy"}, "busy", "USER_BUSY"),
    ({"dial": "no-answer"}, "no-answer", "NO_ANSWER"),
    ({"dial": "failed"}, "failed", "UNALLOCATED_NUMBER"),
], indirect=["box"])
def test_a_call_not_answered_is_exit_3_and_nothing_is_sent(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], status: str, cause: str) -> None:
    assert run(box, tmp_path, monkeypatch) == 3
    assert calls_of(box) == [("POST", "Call/")]
    err = capsys.readouterr().err
    assert f"the call was not answered (CallStatus {status}, HangupCause {cause}); " \
           "nothing was sent" in err


@pytest.mark.parametrize("box", [{"hangup_after": 0.6}], indirect=True)
def test_the_hangup_callback_stops_the_flow_at_once(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    assert run(box, tmp_path, monkeypatch, "--json", wait="20s") == 3
    assert time.monotonic() - began < 5  # not the 20 s wait, nor a 404 later
    out = capsys.readouterr().out
    assert "the call hung up (CallStatus completed, HangupCause NORMAL_CLEARING)" in out
    assert [m for m, p in calls_of(box) if p.endswith("DTMF/")] == []
    assert ("DELETE", f"Call/{box.placed()[0].call_uuid}/") not in calls_of(box)


@pytest.mark.parametrize("box", [{"bad_signature": True}], indirect=True)
def test_forged_callbacks_are_refused_and_never_acted_on(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(dialing, "RING_TIMEOUT", 1)
    monkeypatch.setattr(dialing, "ANSWER_MARGIN", 1.0)
    assert run(box, tmp_path, monkeypatch) == 3
    err = capsys.readouterr().err
    assert "no answer callback came within 2 s; nothing was sent" in err
    assert "refused: a callback's signature did not match" in err
    assert [status for _, status in box.placed()[0].callbacks][:2] == [403, 403]
    assert calls_of(box) == [("POST", "Call/")]


def test_keep_call_leaves_it_up_and_prints_its_uuid(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(box, tmp_path, monkeypatch, "--keep-call") == 0
    call = box.placed()[0].call_uuid
    assert capsys.readouterr().out.strip().splitlines()[-1] == call
    assert ("DELETE", f"Call/{call}/") not in calls_of(box)
    assert box.is_live(call)


@pytest.mark.parametrize(("extra", "says"), [
    (["--to", "12"], "--to '12': give a phone number in E.164 digits"),
    (["--to", TO], "--to needs a caller id: pass --from NUMBER or set VOBIZ_FROM"),
    (["--to", TO, "--from", FROM], "pass --public-url"),
    (["--to", TO, "--from", FROM, "--public-url", "http://example.com"], "use https://"),
    (["--to", TO, "--call", "c1"], "leave out --call and --calls"),
    (["--from", FROM, "--call", "c1"], "--from is for placing a call: add --to NUMBER"),
    (["--keep-call", "--call", "c1"], "--keep-call keeps a call ivrflow placed"),
])
def test_placing_a_call_is_checked_before_anything_is_sent(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], extra: list[str], says: str) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.format(wait="200ms"))
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
    monkeypatch.delenv("VOBIZ_FROM", raising=False)
    assert main(["run", str(tmp_path / "f.yaml"), "--api-url", box.url, *extra]) == 2
    assert says in capsys.readouterr().err
    assert box.requests() == []


def spawn(box: Sandbox, tmp_path: Path, wait: str) -> subprocess.Popen[str]:
    """`ivrflow run --to` in its own process (a signal must reach it alone)."""
    (tmp_path / "f.yaml").write_text(FLOW.format(wait=wait))
    port = free_port()
    return subprocess.Popen(
        [sys.executable, "-m", "ivrflow", "run", str(tmp_path / "f.yaml"), "--to", TO,
         "--from", FROM, "--api-url", box.url, "--listen", f"127.0.0.1:{port}",
         "--public-url", f"http://127.0.0.1:{port}"],
        env={**os.environ, "VOBIZ_AUTH_ID": box.auth_id, "VOBIZ_AUTH_TOKEN": box.auth_token},
        stderr=subprocess.PIPE, text=True)


def test_sigint_mid_flow_hangs_the_call_up_and_exits_130(box: Sandbox, tmp_path: Path) -> None:
    proc = spawn(box, tmp_path, "20s")
    deadline = time.monotonic() + 15
    while not any(r.method == "GET" for r in box.requests()) and time.monotonic() < deadline:
        time.sleep(0.02)  # answered: the flow's first step asked whether the call is live
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    call = box.placed()[0].call_uuid
    assert calls_of(box)[-1] == ("DELETE", f"Call/{call}/")
    assert "Traceback" not in err


def test_dry_run_shows_the_make_call_request_and_sends_nothing(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.format(wait="200ms"))
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
    assert main(["run", str(tmp_path / "f.yaml"), "--to", TO, "--from", FROM, "--api-url",
                 box.url, "--public-url", "https://abc.example.net", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would place a call (nothing is sent): POST {box.url}/api/v1/Account/" \
           f"{box.auth_id}/Call/ (X-Auth-Token: ****)" in out
    assert f"from: {FROM}" in out and f"to: {TO}" in out
    assert "answer_url: https://abc.example.net/cb/<a new token each run>/answer" in out
    assert box.auth_token not in out
    assert box.requests() == []


MACHINE = "answered_by: {who}\n"


@pytest.mark.parametrize(("box", "who", "code", "says"), [
    ({"dial": "machine"}, "human", 6,
     "the call was answered by a machine, and the flow needs a person (answered_by: human)"),
    ({"dial": "answer"}, "machine", 6,
     "the call was answered by a person, and the flow needs a machine (answered_by: machine)"),
    ({"dial": "answer"}, "human", 0, "was answered by a person"),
    ({"dial": "machine"}, "machine", 0, "was answered by a machine"),
], indirect=["box"])
def test_machine_detection_both_ways(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], who: str, code: int, says: str) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.format(wait="200ms").replace(
        "steps:", MACHINE.format(who=who) + "steps:"))
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
    port = free_port()
    assert main(["run", str(tmp_path / "f.yaml"), "--to", TO, "--from", FROM,
                 "--api-url", box.url, "--listen", f"127.0.0.1:{port}",
                 "--public-url", f"http://127.0.0.1:{port}"]) == code
    assert says in capsys.readouterr().err
    assert box.placed()[0].fields["machine_detection"] == "true"
    call = box.placed()[0].call_uuid
    dtmf = [p for _, p in calls_of(box) if p.endswith("DTMF/")]
    assert (dtmf == []) == (code == 6)  # nothing sent to the wrong party
    assert calls_of(box)[-1] == ("DELETE", f"Call/{call}/")  # hung up either way


def test_answered_by_is_refused_on_a_call_placed_elsewhere(
        box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.format(wait="200ms").replace(
        "steps:", MACHINE.format(who="human") + "steps:"))
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
    assert main(["run", str(tmp_path / "f.yaml"), "--call", "c1", "--api-url", box.url]) == 2
    assert "answered_by: human can be checked only on a call ivrflow places" in \
        capsys.readouterr().err
    assert box.requests() == []


@pytest.mark.parametrize("box", [{"answer_after": 20.0}], indirect=True)
def test_sigint_while_it_rings_exits_130_at_once_and_sends_nothing(
        box: Sandbox, tmp_path: Path) -> None:
    proc = spawn(box, tmp_path, "200ms")
    deadline = time.monotonic() + 15
    while not box.placed() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)  # ringing
    stopped = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    assert time.monotonic() - stopped < 5
    assert "interrupted while the call was ringing; nothing was sent" in err
    assert calls_of(box) == [("POST", "Call/")]
    assert "Traceback" not in err


def test_the_stand_alone_sandbox_places_calls_with_its_dial_faults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m ivrflow.sandbox --dial busy` in its own process, as a user runs it."""
    from foreground import Foreground

    box = Foreground("--dial", "busy")
    try:
        (tmp_path / "f.yaml").write_text(FLOW.format(wait="200ms"))
        monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
        monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth["X-Auth-Token"])
        port = free_port()
        assert main(["run", str(tmp_path / "f.yaml"), "--to", TO, "--from", FROM,
                     "--api-url", box.url, "--listen", f"127.0.0.1:{port}",
                     "--public-url", f"http://127.0.0.1:{port}"]) == 3
        assert "CallStatus busy, HangupCause USER_BUSY" in capsys.readouterr().err
    finally:
        box.stop(signal.SIGTERM)
