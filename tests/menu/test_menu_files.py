"""Menu files and expect blocks: located errors, and `ivrflow test` end to end."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT

from ivrflow.cli import main
from ivrflow.errors import FlowInvalid
from ivrflow.language.loader import load_flow
from ivrflow.menu.loader import parse_menu
from ivrflow.menu.testing import run_expectation

GOOD_MENU = """\
version: 1
name: m
start: welcome
nodes:
  welcome:
    prompt: 4s
    barge_in: false
    timeout: 3s
    options: {"1": account}
  account:
    prompt: 2s
    timeout: 4s
    collect: {end: "#", min: 4}
    next: done
  done: {prompt: 2s, end: true}
"""


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nname: m\nstart: welcom\nnodes:\n  welcome: {prompt: 1s, end: true}\n",
     ["m.yaml:3:8: start: start node 'welcom' is not a node of this menu "
      "(did you mean 'welcome'?)"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, options: {'11': a}}\n",
     ["m.yaml:5:29: nodes.a.options: invalid name '11': an option is one key: 0-9, * or # "
      "(quote it: \"1\")"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, options: {'1': c}}\n",
     ["m.yaml:5:34: nodes.a.options.1: option 1 leads to 'c' is not a node of this menu"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, collect: {max: 3}}\n",
     ["m.yaml:5:28: nodes.a: collect needs `next:`, the node to go to once the digits are in"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, end: true, options: {'1': a}}\n",
     ["m.yaml:5:39: nodes.a: a final node (end: true) takes no input; remove options"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, on_timeout: hangp}\n",
     ["m.yaml:5:31: nodes.a.on_timeout: on_timeout: neither repeat nor hangup, and 'hangp' "
      "is not a node of this menu"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prmpt: 1s}\n",
     ["m.yaml:5:7: nodes.a: unknown key 'prmpt'; did you mean 'prompt'? allowed keys: "
      "barge_in, collect, description, end, max_repeats, next, on_timeout, options, prompt, "
      "say, timeout"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {timeout: 1s}\n",
     ["m.yaml:5:6: nodes.a: a node needs its prompt's words (say:), its length (prompt:), "
      "or both"]),
    ("version: 1\nname: m\nstart: a\nnodes:\n  a: {say: ''}\n",
     ["m.yaml:5:12: nodes.a.say must not be empty"]),
])
def test_bad_menus_are_located(text: str, expected: list[str]) -> None:
    """Every menu problem is reported at its line and column."""
    with pytest.raises(FlowInvalid) as caught:
        parse_menu(text, "m.yaml")
    assert [str(p) for p in caught.value.problems] == expected


def write(tmp_path: Path, flow: str, menu: str = GOOD_MENU) -> Path:
    (tmp_path / "m.menu.yaml").write_text(menu)
    path = tmp_path / "f.yaml"
    path.write_text(flow)
    return path


PASSING = """\
version: 1
name: f
tone: 200ms
vars: {acct: {secret: true}}
steps:
  - wait: 5s
  - send: "1"
  - wait: 3s
  - send: "${acct}#"
expect: {menu: m.menu.yaml, reach: done, vars: {acct: "4455"}}
"""


def test_bad_expect_is_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown node, a missing menu file and an undeclared test variable are located."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PASSING.replace("reach: done", "reach: dne"))
    with pytest.raises(FlowInvalid) as caught:
        load_flow("f.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "f.yaml:10:36: expect.reach: 'dne' is not a node of m.menu.yaml (did you mean "
        "'done'?)"]
    write(tmp_path, PASSING.replace("menu: m.menu.yaml", "menu: nope.menu.yaml"))
    with pytest.raises(FlowInvalid) as caught:
        load_flow("f.yaml")
    assert str(caught.value.problems[0]).startswith(
        "f.yaml:10:16: expect.menu: no menu file 'nope.menu.yaml'")
    write(tmp_path, PASSING.replace("{acct: \"4455\"}", "{acc: \"4455\"}"))
    with pytest.raises(FlowInvalid) as caught:
        load_flow("f.yaml")
    assert "expect.vars: 'acc' is not a declared variable (did you mean 'acct'?)" in str(
        caught.value)


def test_a_bad_menu_is_reported_in_the_menu_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Validating a flow reports its menu's problems at the menu file's lines."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PASSING, GOOD_MENU.replace("next: done", "next: dome"))
    with pytest.raises(FlowInvalid) as caught:
        load_flow("f.yaml")
    assert str(caught.value.problems[0]).startswith("m.menu.yaml:14:11: nodes.account.next")


def test_passing_flow(tmp_path: Path) -> None:
    """The flow reaches its node; the path has the times the engine's timing produces."""
    outcome = run_expectation(load_flow(write(tmp_path, PASSING)))
    assert outcome.passed, outcome.reason
    assert [(h.node, h.t) for h in outcome.path] == [("welcome", 0.0), ("account", 5.0),
                                                     ("done", 9.0)]


def test_early_digit_explained(tmp_path: Path) -> None:
    """A key pressed during a barge_in: false prompt is the reason given."""
    outcome = run_expectation(load_flow(write(tmp_path, PASSING.replace("wait: 5s",
                                                                        "wait: 3200ms"))))
    assert not outcome.passed
    assert outcome.reason == ("digit '1' at 3.20 s arrived during the prompt of 'welcome' "
                              "(barge_in false) and was ignored")


def test_late_input_explained(tmp_path: Path) -> None:
    """A timeout before the next send is the reason given, with both times."""
    late = PASSING.replace("wait: 3s", "wait: 9200ms")
    menu = GOOD_MENU.replace("timeout: 4s", "timeout: 4s\n    on_timeout: hangup")
    outcome = run_expectation(load_flow(write(tmp_path, late, menu)))
    assert not outcome.passed
    assert outcome.reason == ("'account' timed out at 11.00 s waiting for input: the next "
                              "key came at 14.40 s")


def test_secret_digits_never_in_reports(tmp_path: Path) -> None:
    """A secret digit that goes astray is reported without its value."""
    early = PASSING.replace("wait: 3s", "wait: 0s").replace("wait: 5s", "wait: 4s")
    outcome = run_expectation(load_flow(write(tmp_path, early,
                                              GOOD_MENU.replace("prompt: 2s\n    timeout: 4s",
                                                                "prompt: 2s\n    barge_in: "
                                                                "false\n    timeout: 4s"))))
    assert not outcome.passed
    assert outcome.reason.startswith("a secret digit at 4.20 s arrived during the prompt")
    assert "4455" not in outcome.reason


def test_five_minutes_of_waits_in_under_100_ms(tmp_path: Path) -> None:
    """Virtual time: a flow with five minutes of waits is tested in well under 100 ms."""
    waits = "".join("  - wait: 30s\n" for _ in range(10))
    menu = GOOD_MENU.replace("timeout: 3s", "timeout: 400s")
    outcome = run_expectation(load_flow(write(tmp_path, PASSING.replace(
        "steps:\n", "steps:\n" + waits).replace("timeout", "timeout"), menu)))
    assert outcome.virtual > 300
    assert outcome.wall < 0.1, outcome.wall


def test_cli_exit_codes_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ivrflow test: 0 when all pass, 1 when one fails, 2 for an invalid file; JUnit XML."""
    write(tmp_path, PASSING)
    report = tmp_path / "junit.xml"
    assert main(["test", str(tmp_path), "--junit", str(report)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "1 passed, 0 failed" in out
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")

    (tmp_path / "bad.yaml").write_text(PASSING.replace("wait: 5s", "wait: 3s"))
    assert main(["test", str(tmp_path), "--junit", str(report)]) == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "1"
    assert "barge_in false" in suite.find("testcase/failure").get("message")  # type: ignore[union-attr]

    (tmp_path / "broken.yaml").write_text("version: 1\nname: x\nsteps: []\n")
    assert main(["test", str(tmp_path)]) == 2


def test_shipped_recipes_pass() -> None:
    """Every recipe in flows/ reaches its expected node (the CI gate of a recipes repo)."""
    result = subprocess.run([sys.executable, "-m", "ivrflow", "test", "flows"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout


def test_explanation_skips_an_announcement_for_the_real_cause(tmp_path: Path) -> None:
    """After an announcement, a wrong key is the reason given, not the announcement's end."""
    menu = ("version: 1\nname: a\nstart: notice\nnodes:\n"
            "  notice: {prompt: 3s, timeout: 0s, on_timeout: menu}\n"
            "  menu: {prompt: 2s, options: {'1': done}}\n  done: {prompt: 1s, end: true}\n")
    flow = ("version: 1\nname: a\nsteps:\n  - wait: 4s\n  - send: '2'\n"
            "expect: {menu: m.menu.yaml, reach: done}\n")
    outcome = run_expectation(load_flow(write(tmp_path, flow, menu)))
    assert outcome.reason == ("digit '2' at 4.00 s in 'menu': 'menu' has no such option; the "
                              "prompt replays")


def test_pauses_before_the_first_key_count_in_explanations(tmp_path: Path) -> None:
    """'the next key came at' is when the first key arrives, after leading w/W pauses."""
    menu = ("version: 1\nname: p\nstart: pin\nnodes:\n"
            "  pin: {prompt: 2s, timeout: 3s, on_timeout: hangup, collect: {end: '#'}, "
            "next: done}\n  done: {prompt: 1s, end: true}\n")
    flow = ("version: 1\nname: p\nsteps:\n  - wait: 4500ms\n  - send: 'W1234#'\n"
            "expect: {menu: m.menu.yaml, reach: done}\n")
    outcome = run_expectation(load_flow(write(tmp_path, flow, menu)))
    assert outcome.reason == ("'pin' timed out at 5.00 s waiting for input: the next key "
                              "came at 5.50 s")


def test_run_with_sandbox_and_menu_in_real_time(tmp_path: Path) -> None:
    """run --sandbox --menu: the menu answers in real time, prints its path, and hangs up
    the sandbox call when it hangs up, so the flow meets a 404 (exit 3)."""
    menu = ("version: 1\nname: h\nstart: ask\nnodes:\n"
            "  ask: {prompt: 200ms, timeout: 200ms, on_timeout: hangup, options: {'1': ok}}\n"
            "  ok: {prompt: 100ms, end: true}\n")
    (tmp_path / "h.menu.yaml").write_text(menu)
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nname: g\ntone: 50ms\nsteps:\n  - send: '1'\n")
    late = tmp_path / "late.yaml"
    late.write_text("version: 1\nname: l\nsteps:\n  - wait: 800ms\n  - send: '1'\n")
    ran = [subprocess.run([sys.executable, "-m", "ivrflow", "run", str(flow), "--call", "c",
                           "--sandbox", "--menu", str(tmp_path / "h.menu.yaml")],
                          capture_output=True, text=True, timeout=60) for flow in (good, late)]
    assert ran[0].returncode == 0, ran[0].stderr
    assert "-> ok (a key in 'ask')" in ran[0].stderr
    assert "menu: the call reached 'ok'" in ran[0].stderr
    assert ran[1].returncode == 3
    assert "hangup in ask" in ran[1].stderr
    assert "menu: the call hung up in 'ask'" in ran[1].stderr


def test_menu_needs_the_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--menu without --sandbox is a command-line error (exit 2)."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: f\nsteps:\n  - send: '1'\n")
    assert main(["run", str(flow), "--call", "c", "--menu", "x.menu.yaml"]) == 2
    assert "add --sandbox" in capsys.readouterr().err
