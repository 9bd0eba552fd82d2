"""The `sandbox` subcommand: option checks in-process, serving and stopping in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from foreground import Foreground

from ivrflow.sandbox.command import add_parser, run


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ivrflow")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sandbox", *argv])


def test_add_parser_registers_every_option() -> None:
    """add_parser adds a `sandbox` subcommand whose help lists every option."""
    parser = argparse.ArgumentParser(prog="ivrflow")
    sandbox = add_parser(parser.add_subparsers(dest="command"))
    text = sandbox.format_help()
    for option in ("--port", "--host", "--log", "--live-after", "--never-live",
                   "--hangup-after", "--fail", "--rate-limit", "--latency", "--drop",
                   "--live-fail", "--auth-id", "--auth-token"):
        assert option in text
    assert parser.parse_args(["sandbox"]).command is run


@pytest.mark.parametrize(("argv", "names"), [
    (["--port", "x"], "--port"),
    (["--port", "70000"], "--port"),
    (["--port", "-1"], "--port"),
    (["--host", "0.0.0.0"], "--host"),
    (["--host", "localhost"], "--host"),
    (["--live-after", "soon"], "--live-after"),
    (["--live-after", "-1"], "--live-after"),
    (["--hangup-after", "nan"], "--hangup-after"),
    (["--latency", "inf"], "--latency"),
    (["--never-live", "--live-after", "1"], "--never-live"),
    (["--fail", "abc:2"], "--fail"),
    (["--fail", "200:1"], "--fail"),
    (["--fail", "503:x"], "--fail"),
    (["--fail", "503:-1"], "--fail"),
    (["--rate-limit", "x"], "--rate-limit"),
    (["--rate-limit", "2:soon"], "--rate-limit"),
    (["--drop", "1.5"], "--drop"),
    (["--live-fail", "x"], "--live-fail"),
    (["--live-fail", "1:200"], "--live-fail"),
    (["--auth-id", ""], "--auth-id"),
    (["--auth-id", "MA/1"], "--auth-id"),
    (["--auth-token", ""], "--auth-token"),
])
def test_bad_option_values_exit_2_with_one_line(
        capsys: pytest.CaptureFixture[str], argv: list[str], names: str) -> None:
    """A bad option value is one line on stderr naming the option, and exit code 2."""
    assert run(_parse(*argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ivrflow sandbox: ")
    assert names in err


def test_port_in_use_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A port already taken is one clear line on stderr and exit code 2."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert run(_parse("--port", str(port))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"port {port}" in err and "in use" in err


def test_unwritable_log_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A --log file that cannot be opened is one clear line and exit code 2."""
    assert run(_parse("--port", "0", "--log", str(tmp_path / "no" / "such.log"))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--log" in err


@pytest.fixture
def foreground() -> Iterator[Callable[..., Foreground]]:
    """Start `python -m ivrflow.sandbox --port 0 ARGS...`; kill it if a test left it."""
    started: list[Foreground] = []

    def start(*argv: str) -> Foreground:
        started.append(Foreground(*argv))
        return started[-1]

    yield start
    for fg in started:
        if fg.proc.poll() is None:
            fg.proc.kill()
            fg.proc.communicate()
        for stream in (fg.proc.stdout, fg.proc.stderr):
            if stream is not None:
                stream.close()


def test_foreground_prints_heard_digits_logs_json_and_stops_on_sigint(
        foreground: Callable[..., Foreground], tmp_path: Path) -> None:
    """Faults play in command-line order, heard digits print live, ^C exits 0 cleanly."""
    log = tmp_path / "sandbox.log"
    fg = foreground("--log", str(log), "--rate-limit", "1:7", "--fail", "500", "--drop", "1")
    assert fg.ready[0].startswith(f"# ivrflow sandbox on {fg.url}")
    assert fg.url.startswith("http://127.0.0.1:")
    assert fg.auth_id == "MA_SANDBOX"
    path = f"/api/v1/Account/{fg.auth_id}/Call/call-1/DTMF/"
    outcomes: list[object] = []
    with httpx.Client(base_url=fg.url, headers=fg.auth, verify=False, timeout=5) as client:
        for digits in ("1", "2", "3", "4"):
            try:
                response = client.post(path, json={"digits": digits, "leg": "bleg"})
                outcomes.append((response.status_code, response.headers.get("retry-after")))
            except httpx.RemoteProtocolError:
                outcomes.append("dropped")
        assert client.post(path, json={"digits": "Z"}).status_code == 400
    assert outcomes == [(429, "7"), (500, None), "dropped", (202, None)]
    heard = [fg.next_line() for _ in range(3)]
    assert heard[0].startswith("heard call=call-1 leg=bleg t=+")
    assert heard[0].endswith("digits=2 fault=500")
    assert heard[1].endswith("digits=3 fault=drop")
    assert heard[2].endswith("digits=4")
    code, err = fg.stop(signal.SIGINT)
    assert code == 0
    assert "Traceback" not in err
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 5
    assert all(e.keys() == {"time", "method", "path", "call", "digits", "leg", "status",
                            "fault", "monotonic"} for e in entries)
    assert [(e["digits"], e["status"], e["fault"]) for e in entries] == [
        ("1", 429, "429"), ("2", 500, "500"), ("3", None, "drop"), ("4", 202, None),
        ("Z", 400, None)]
    assert datetime.fromisoformat(entries[0]["time"]).utcoffset() is not None


def test_foreground_options_shape_calls_and_stop_on_sigterm(
        foreground: Callable[..., Foreground]) -> None:
    """--live-after, --hangup-after, --latency, --live-fail and --auth-* all apply."""
    fg = foreground("--live-after", "0.2", "--hangup-after", "0.7", "--latency", "0.05",
                    "--live-fail", "1:502", "--auth-id", "MA_CLI", "--auth-token", "t0k")
    assert fg.auth == {"X-Auth-ID": "MA_CLI", "X-Auth-Token": "t0k"}
    assert "live after 0.2s" in fg.ready[1] and "latency 0.05s" in fg.ready[1]
    live = "/api/v1/Account/MA_CLI/Call/c/?status=live"
    with httpx.Client(base_url=fg.url, headers=fg.auth, verify=False, timeout=5) as client:
        start = time.monotonic()
        assert client.get(live).status_code == 404
        assert time.monotonic() - start >= 0.04
        time.sleep(0.3)
        assert client.get(live).status_code == 502
        assert client.get(live).status_code == 200
        time.sleep(0.5)
        assert client.get(live).status_code == 404
    code, err = fg.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in err


def test_foreground_never_live(foreground: Callable[..., Foreground]) -> None:
    """--never-live makes every call 404."""
    fg = foreground("--never-live")
    assert "calls never live" in fg.ready[1]
    with httpx.Client(base_url=fg.url, headers=fg.auth, verify=False, timeout=5) as client:
        response = client.post(f"/api/v1/Account/{fg.auth_id}/Call/c/DTMF/",
                               json={"digits": "1"})
    assert response.status_code == 404
    code, _ = fg.stop(signal.SIGINT)
    assert code == 0


def test_foreground_exports_are_ready_to_paste(foreground: Callable[..., Foreground],
                                               tmp_path: Path) -> None:
    """The export lines, pasted into a shell, set the three VOBIZ_* variables."""
    fg = foreground("--auth-token", "it's a token")
    script = "\n".join(fg.ready) + '\nprintf "%s|%s|%s" "$VOBIZ_API_URL" ' \
        '"$VOBIZ_AUTH_ID" "$VOBIZ_AUTH_TOKEN"\n'
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                          check=True, env={"PATH": os.environ.get("PATH", "")})
    assert done.stdout == f"{fg.url}|MA_SANDBOX|it's a token"
    assert fg.stop(signal.SIGINT)[0] == 0


def test_registering_the_subcommand_does_not_import_aiohttp() -> None:
    """Importing the command module and add_parser leave aiohttp unloaded (fast CLI start)."""
    code = ("import argparse, sys; from ivrflow.sandbox.command import add_parser; "
            "add_parser(argparse.ArgumentParser().add_subparsers()); "
            "import ivrflow.sandbox as s; s.Fail(503); "
            "print('aiohttp' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, check=True)
    assert result.stdout.strip() == "False"
