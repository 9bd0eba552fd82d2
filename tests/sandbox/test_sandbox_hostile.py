"""Hostile clients of the sandbox, one class per test: silent and slow clients are cut
off, the open-file limit is met quietly, signals at any moment exit 0, and nothing a
request carries drives the terminal."""

from __future__ import annotations

import io
import json
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ivrflow.sandbox import Sandbox, SandboxConfig
from ivrflow.sandbox.command import _Reporter
from ivrflow.sandbox.state import Heard
from tests.sandbox.test_sandbox_command import Foreground, foreground  # noqa: F401

DTMF = "/api/v1/Account/MA_SANDBOX/Call/{call}/DTMF/"
AUTH = "X-Auth-ID: MA_SANDBOX\r\nX-Auth-Token: sandbox-token\r\n"


@pytest.fixture
def quick() -> Iterator[Sandbox]:
    with Sandbox.start_in_thread(SandboxConfig(idle_timeout=0.3, body_timeout=0.3)) as box:
        yield box


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    sock.settimeout(seconds)
    started, data = time.monotonic(), b""
    while chunk := sock.recv(4096):
        data += chunk
    return data, time.monotonic() - started


@pytest.mark.parametrize("sent", [b"", b"POST /api/v1/Account/MA_SANDBOX/Call/c/DTMF/ HTTP/1.1"
                                  b"\r\nHost: x\r\n"])
def test_silent_and_half_sent_heads_are_closed(quick: Sandbox, sent: bytes) -> None:
    """A client that sends nothing, or half a request head, is closed after idle_timeout
    instead of holding a connection for ever."""
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(sent)
        data, took = _closed_within(sock, 5)
    assert data == b"" and 0.2 < took < 3


def test_a_half_sent_body_is_answered_408(quick: Sandbox) -> None:
    """The head arrived, the body never does: 408 after body_timeout, then closed; no
    digits heard."""
    head = (f"POST {DTMF.format(call='c-1')} HTTP/1.1\r\nHost: x\r\n{AUTH}"
            "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n")
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(head.encode() + b'{"digits": ')
        data, took = _closed_within(sock, 5)
    assert data.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 0.3 s" in data
    assert took < 3
    assert quick.heard() == []


def test_connections_past_the_limit_get_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its connection limit the sandbox answers 503 with Retry-After and closes,
    which a client takes as a refusal; the sandbox keeps serving and counts it."""
    monkeypatch.setattr("ivrflow.sandbox.runner.connection_limit", lambda: 3)
    with Sandbox.start_in_thread() as box:
        held = [socket.create_connection(("127.0.0.1", box.port)) for _ in range(3)]
        time.sleep(0.2)  # the three are accepted
        with socket.create_connection(("127.0.0.1", box.port)) as extra:
            data, _ = _closed_within(extra, 5)
        assert data.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in data
        for sock in held:
            sock.close()
        time.sleep(0.2)
        with httpx.Client(base_url=box.url, timeout=5) as client:
            answer = client.post(DTMF.format(call="c-1"), json={"digits": "1"}, headers={
                "X-Auth-ID": box.auth_id, "X-Auth-Token": box.auth_token})
        assert answer.status_code == 202
        assert box.turned_away == (1, 0)


def _low_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


def test_the_open_file_limit_is_met_quietly(tmp_path: Path) -> None:
    """300 connections against a sandbox with 128 descriptors: no traceback, one line
    at the end saying what was turned away."""
    proc = subprocess.Popen([sys.executable, "-m", "ivrflow.sandbox", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_low_limit)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ")[1].split()[0]
        port = int(url.rsplit(":", 1)[1])
        socks = []
        for _ in range(300):
            socks.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(1.2)  # long enough for asyncio to retry a failed accept (after 1 s)
        for sock in socks:
            sock.close()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err and "out of system resource" not in err
    assert len(err.splitlines()) == 1
    assert "at the open-file limit" in err and "answered 503" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signals_while_a_request_is_in_flight_exit_0(
        foreground: Callable[..., Foreground], signum: int) -> None:  # noqa: F811
    """Three signals 50 ms apart while an answer is held back by --latency: the sandbox
    stops once, exits 0, without a traceback."""
    fg = foreground("--latency", "0.6")
    answers: list[object] = []

    def send() -> None:
        try:
            with httpx.Client(base_url=fg.url, headers=fg.auth, timeout=5) as client:
                answers.append(client.post(DTMF.format(call="c-1"), json={"digits": "1"}))
        except httpx.HTTPError as exc:
            answers.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.2)
    fg.proc.send_signal(signum)
    time.sleep(0.05)
    fg.proc.send_signal(signum)
    time.sleep(0.05)
    code, err = fg.stop(signal.SIGTERM)
    sender.join(5)
    assert code == 0, err
    assert "Traceback" not in err and "stopped after 1 DTMF request(s)" in err


def test_call_ids_cannot_drive_the_terminal(foreground: Callable[..., Foreground]  # noqa: F811
                                            ) -> None:
    """A call id of %1B[2J%0Aheard... is printed escaped, on one line."""
    fg = foreground()
    with httpx.Client(base_url=fg.url, headers=fg.auth, timeout=5) as client:
        answer = client.post(DTMF.format(call="x%1B[2J%0Aheard%20call=forged"),
                             json={"digits": "1"})
    assert answer.status_code == 202
    line = fg.next_line()
    assert line.startswith("heard call=x\\x1b[2J\\x0aheard call=forged leg=aleg")
    fg.stop(signal.SIGINT)


def test_log_digits_omit_keeps_only_their_count(foreground: Callable[..., Foreground],  # noqa: F811
                                                tmp_path: Path) -> None:
    """--log-digits omit: no digit on stdout or in the log, only how many there were."""
    log = tmp_path / "sandbox.log"
    fg = foreground("--log", str(log), "--log-digits", "omit")
    with httpx.Client(base_url=fg.url, headers=fg.auth, timeout=5) as client:
        client.post(DTMF.format(call="c-1"), json={"digits": "4111#"})
    assert fg.next_line().endswith("digits=(5 omitted)")
    code, _ = fg.stop(signal.SIGINT)
    assert code == 0
    entry = json.loads(log.read_text())
    assert entry["digits"] is None and entry["digits_omitted"] == 5
    assert "4111" not in log.read_text()


def test_reporter_escapes_what_it_is_given() -> None:
    out = io.StringIO()
    _Reporter(out, None).heard(Heard("a\x1b]0;owned\x07", "aleg", "1", 0.0, 0.0, None))
    assert out.getvalue() == "heard call=a\\x1b]0;owned\\x07 leg=aleg t=+0.000s digits=1\n"
