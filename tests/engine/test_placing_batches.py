"""A batch that places its calls: a calls file with a `to` column, `--rate` pacing Make
Call, each call with its own signed callbacks on the one listener; against the sandbox
on loopback as the live API."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.sandbox import Sandbox, SandboxConfig

FLOW = ("version: 1\nname: placed\ntone: 50ms\ntimeout: 1m\nvars:\n  pin: {pattern: "
        "'^[0-9]{4}$'}\nsteps:\n  - confirm_live: true\n  - wait: 200ms\n"
        "  - send: '${pin}#'\n")
FROM = "14155550123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: str,
        *extra: str) -> int:
    (tmp_path / "f.yaml").write_text(FLOW)
    (tmp_path / "calls.csv").write_text(calls)
    monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
    port = free_port()
    return main(["run", str(tmp_path / "f.yaml"), "--calls", str(tmp_path / "calls.csv"),
                 "--from", FROM, "--api-url", box.url, "--listen", f"127.0.0.1:{port}",
                 "--public-url", f"http://127.0.0.1:{port}", *extra])


def test_a_to_column_places_every_call_paced_by_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox.start_in_thread(SandboxConfig()) as box:
        code = run(box, tmp_path, monkeypatch,
                   "to,pin\n18005550101,1111\n18005550102,2222\n18005550103,3333\n",
                   "--rate", "4", "--json")
        placed = box.placed()
        requests = box.requests()
        heard = box.heard()
    out = capsys.readouterr().out
    assert code == 0, out
    assert sorted(p.fields["to"] for p in placed) == ["18005550101", "18005550102",
                                                      "18005550103"]
    makes = [r.t for r in requests if r.method == "POST" and r.path.endswith("/Call/")]
    assert len(makes) == 3
    gaps = [b - a for a, b in itertools.pairwise(makes)]
    assert all(gap >= 0.2 for gap in gaps), gaps  # --rate 4: 250 ms apart, loosely
    # each call got its own row's digits, and was hung up
    by_call = {p.call_uuid: p.fields["to"] for p in placed}
    assert {by_call[h.call]: h.digits for h in heard} == {
        "18005550101": "1111#", "18005550102": "2222#", "18005550103": "3333#"}
    deletes = {r.call for r in requests if r.method == "DELETE"}
    assert deletes == set(by_call)
    finished = json.loads(out.strip().splitlines()[-1])
    assert finished["event"] == "batch_finished" and finished["ok"] == 3


def test_a_batch_row_not_answered_is_exit_3_and_the_others_still_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox.start_in_thread(SandboxConfig(dial="busy")) as box:
        code = run(box, tmp_path, monkeypatch, "to,pin\n18005550101,1111\n18005550102,2222\n")
        heard = box.heard()
    assert code == 3
    assert heard == []
    assert "CallStatus busy" in capsys.readouterr().err


@pytest.mark.parametrize(("calls", "extra", "says"), [
    ("to,pin\n12,1111\n", (), "calls.csv:2:1: '12' is not a phone number"),
    ("to,pin\n18005550101,1111\n18005550101,2222\n", (), "appears twice in the batch"),
    ("to,pin\n18005550101,1111\n", ("--call", "c1"), "leave out --call"),
])
def test_a_to_column_is_checked_before_anything_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], calls: str, extra: tuple[str, ...],
        says: str) -> None:
    with Sandbox.start_in_thread(SandboxConfig()) as box:
        assert run(box, tmp_path, monkeypatch, calls, *extra) == 2
        assert box.requests() == []
    assert says in capsys.readouterr().err


def test_a_to_column_reads_from_csv_and_json_lines(tmp_path: Path) -> None:
    from ivrflow.engine.calls import read_calls
    from ivrflow.language.loader import load_flow

    (tmp_path / "f.yaml").write_text(FLOW)
    flow = load_flow(tmp_path / "f.yaml")
    (tmp_path / "c.jsonl").write_text('{"to": "+18005550101", "pin": "1111"}\n'
                                      '{"to": "1800555", "pin": "2222"}\n'
                                      '{"to": "' + "9" * 40 + '", "pin": "3333"}\n')
    specs, problems = read_calls([], str(tmp_path / "c.jsonl"), flow)
    assert [(s.call, s.to, dict(s.values)) for s in specs] == [
        ("18005550101", "18005550101", {"pin": "1111"}),
        ("1800555", "1800555", {"pin": "2222"})]
    assert problems == [f"{tmp_path / 'c.jsonl'}:3:1: the value is not a phone number: use "
                        "E.164 digits, such as 14155550123 (6-15 digits)"]


def test_a_429_on_make_call_goes_to_the_batch_gate_and_the_call_is_placed_once() -> None:
    """Unit level, with a fake API: Make Call refused 429 is tried again after the gate
    held it (nothing was dialled), and the gate hears of the 429."""
    import asyncio

    from ivrflow.engine.dialing import Dialing, placed_call
    from ivrflow.transport.base import CallPlaced, Transient
    from ivrflow.transport.callbacks import Callback, CallbackReceiver

    answers = [Transient(429, "HTTP 429", retry_after=0.05), CallPlaced(201, "req-1")]
    asked: list[str] = []
    seen: list[object] = []

    class FakeApi:
        async def make_call(self, fields: dict[str, object]) -> object:
            asked.append("make_call")
            return answers.pop(0)

        async def hang_up(self, call: str) -> object:
            asked.append(f"hang_up {call}")
            return CallPlaced(204, None)

    async def admit() -> None:
        asked.append("admit")

    async def main_() -> None:
        receiver = CallbackReceiver("t", keep_open=60)
        receiver.public_base = "http://127.0.0.1:1"
        asyncio.get_running_loop().call_later(0.05, lambda: receiver._accept(
            Callback("answer", 0.0, "call-1", "in-progress", None, None)))
        async with placed_call(FakeApi(), Dialing("18005550100", "14155550123", ""),  # type: ignore[arg-type]
                               receiver, admit=admit, observe=seen.append,
                               interruptible=False) as call:
            assert call == "call-1"

    asyncio.run(main_())
    assert asked == ["admit", "make_call", "admit", "make_call", "hang_up call-1"]
    assert [type(o).__name__ for o in seen] == ["Transient", "CallPlaced"]


@pytest.mark.parametrize(("dial", "code"), [("busy", 3), ("machine", 6)])
def test_placed_rows_that_never_start_tell_it_in_valid_events(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        dial: str, code: int) -> None:
    from test_event_schema import check_stream

    flow = FLOW.replace("steps:", "answered_by: human\nsteps:")
    with Sandbox.start_in_thread(SandboxConfig(dial=dial)) as box:
        (tmp_path / "f.yaml").write_text(flow)
        (tmp_path / "calls.csv").write_text("to,pin\n18005550101,1111\n18005550102,2222\n")
        monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
        monkeypatch.setenv("VOBIZ_AUTH_TOKEN", box.auth_token)
        port = free_port()
        assert main(["run", str(tmp_path / "f.yaml"), "--calls", str(tmp_path / "calls.csv"),
                     "--from", FROM, "--api-url", box.url, "--listen", f"127.0.0.1:{port}",
                     "--public-url", f"http://127.0.0.1:{port}", "--json"]) == code
        assert box.heard() == []
    events = check_stream(capsys.readouterr().out)
    finished = [e for e in events if e["event"] == "flow_finished"]
    assert [(e["outcome"], e["exit_code"]) for e in finished] == [("not_started", code)] * 2
    assert events[-1]["exit_code"] == code
