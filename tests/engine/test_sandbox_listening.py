"""`ivrflow run --sandbox` on a flow that listens, in real time: the sandbox dials the
run's own listener as Vobiz would, speaks the menu's prompts over the WebSocket, and the
run hears them (about 3 s a test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ivrflow.cli import main
from ivrflow.listen.speech import synthesize

MENU = """version: 1
name: tiny
start: hello
nodes:
  hello:
    say: "Welcome. For balance press 1."
    timeout: {timeout}
    on_timeout: {on_timeout}
    options: {{"1": balance}}
  balance:
    say: "Your balance is ten dollars."
    end: true
"""
FLOW = """version: 1
name: tiny-balance
tone: 100ms
steps:
  - wait: {wait}
  - send: "1"
expect: {{menu: tiny.menu.yaml, reach: balance}}
"""
HEARD = '{heard: "for balance press 1", silence: 800ms, max: 10s}'


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, wait: str = HEARD,
        timeout: str = "5s", on_timeout: str = "repeat") -> tuple[int, list[dict[str, Any]],
                                                                   str]:
    (tmp_path / "tiny.menu.yaml").write_text(MENU.format(timeout=timeout,
                                                         on_timeout=on_timeout))
    (tmp_path / "tiny.yaml").write_text(FLOW.format(wait=wait))
    code = main(["run", str(tmp_path / "tiny.yaml"), "--call", "demo", "--sandbox",
                 "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def test_the_key_goes_when_the_spoken_prompt_has_ended(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, events, err = run(tmp_path, capsys)
    assert code == 0, err
    speech = len(synthesize("Welcome. For balance press 1.", 8000)) / 2 / 8000
    heard = next(e for e in events if e["event"] == "heard")
    assert heard["phrase"] == "for balance press 1"
    ended = next(e for e in events if e["event"] == "prompt_ended")
    assert abs(ended["speech_ended"] - speech) < 0.15, (ended, speech)
    send = next(e for e in events if e["event"] == "step_started" and e["step"] == 2)
    # the key after the speech and the silence, and not much later (loosely: 300 ms)
    assert speech + 0.8 <= send["t"] < speech + 0.8 + 0.3, (send["t"], speech)
    assert "menu: the call reached 'balance'" in err
    assert "on aleg" in err  # the sandbox heard the send


def test_a_menu_that_hangs_up_during_a_listening_wait_is_exit_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wait = '{heard: "goodbye", max: 20s}'
    code, events, err = run(tmp_path, capsys, wait=wait, timeout="300ms",
                            on_timeout="hangup")
    assert code == 3, err
    finished = next(e for e in events if e["event"] == "flow_finished")
    assert "the call ended during the listening wait" in finished["reason"]
    assert not any(e["event"] == "step_started" and e["step"] == 2 for e in events)
    assert finished["duration"] < 5.0  # told at the hang-up, not at the wait's max


def test_a_flow_that_listens_needs_a_menu_to_speak(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f.yaml").write_text(FLOW.format(wait=HEARD).split("expect:")[0])
    assert main(["run", str(tmp_path / "f.yaml"), "--call", "demo", "--sandbox"]) == 2
    assert "pass --menu FILE" in capsys.readouterr().err


def test_a_placed_call_that_hangs_up_ends_the_listening_wait_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--to` on the sandbox: the menu hangs up while the flow listens; the hangup
    callback (or the stream's end) stops the wait: exit 3, the key never sent."""
    (tmp_path / "tiny.menu.yaml").write_text(MENU.format(timeout="300ms",
                                                         on_timeout="hangup"))
    (tmp_path / "tiny.yaml").write_text(FLOW.format(wait='{heard: "goodbye", max: 20s}'))
    code = main(["run", str(tmp_path / "tiny.yaml"), "--sandbox", "--to", "18005550100",
                 "--from", "14155550123", "--json"])
    out, err = capsys.readouterr()
    assert code == 3, err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    finished = next(e for e in events if e["event"] == "flow_finished")
    assert finished["duration"] < 5.0
    assert "the call hung up" in finished["reason"] or "the call ended" in finished["reason"]
    assert not any(e["event"] == "step_started" and e["step"] == 2 for e in events)
    assert "the call to 18005550100 was answered" in err
