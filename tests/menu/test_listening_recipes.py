"""`ivrflow test` of recipes that listen: the menu speaks (espeak-ng), the real detection
(webrtcvad, pocketsphinx) hears it, on virtual time.

The point of listening, proven: when every prompt of the EBT line grows by more than 3 s
("Please listen carefully, as our menu options have changed."), the listening recipe
still reaches the balance, and the same recipe with fixed waits does not.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.language.loader import load_flow
from ivrflow.menu import testing
from ivrflow.menu.loader import load_menu
from ivrflow.menu.testing import run_expectation

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
FIXED = Path(__file__).parent / "data" / "ebt-balance-fixed-waits.yaml"
NOTICE = "Please listen carefully, as our menu options have changed. "


def grown_menu(text: str) -> str:
    """The menu with the notice said at the start of every prompt."""
    return re.sub(r'^(    say: ")', lambda m: m[1] + NOTICE, text, flags=re.MULTILINE)


def play(tmp_path: Path, flow: Path, menu_text: str) -> testing.TestOutcome:
    (tmp_path / "ebt-balance.menu.yaml").write_text(menu_text)
    copy = tmp_path / flow.name
    shutil.copy(flow, copy)
    return run_expectation(load_flow(copy))


@pytest.fixture(scope="module")
def menu_text() -> str:
    return (FLOWS / "ebt-balance.menu.yaml").read_text()


def test_the_grown_menu_is_more_than_3_s_longer_at_every_spoken_prompt(
        tmp_path: Path, menu_text: str) -> None:
    (tmp_path / "a.menu.yaml").write_text(menu_text)
    (tmp_path / "b.menu.yaml").write_text(grown_menu(menu_text))
    before = load_menu(tmp_path / "a.menu.yaml", speak=True).nodes
    after = load_menu(tmp_path / "b.menu.yaml", speak=True).nodes
    spoken = [name for name, node in before.items() if node.say]
    assert len(spoken) >= 4
    for name in spoken:
        assert after[name].prompt - before[name].prompt > 3.0, name


def test_both_recipes_reach_the_balance_on_the_menu_as_it_is(
        tmp_path: Path, menu_text: str) -> None:
    for flow in (FLOWS / "ebt-balance.yaml", FIXED):
        outcome = play(tmp_path, flow, menu_text)
        assert outcome.passed, (flow.name, outcome.reason)


def test_when_the_prompts_grow_the_listening_recipe_still_arrives_and_fixed_waits_fail(
        tmp_path: Path, menu_text: str) -> None:
    listening = play(tmp_path, FLOWS / "ebt-balance.yaml", grown_menu(menu_text))
    assert listening.passed, listening.reason
    assert listening.virtual > 17.9 + 3 * 3  # it waited for every longer prompt

    fixed = play(tmp_path, FIXED, grown_menu(menu_text))
    assert not fixed.passed
    # the card number lands in the longer card prompt, which cannot be interrupted, and
    # the failure names the IVR's words at that moment
    assert "arrived during the prompt of 'card_number' (barge_in false)" in fixed.reason
    assert "the IVR: 5.2 s into the 7.6 s prompt of 'card_number', about at" in fixed.reason


def test_a_phrase_the_menu_never_says_fails_with_what_was_heard(
        tmp_path: Path, menu_text: str, capsys: pytest.CaptureFixture[str]) -> None:
    flow = (FLOWS / "ebt-balance.yaml").read_text().replace(
        "for your balance press 1", "for your rewards press 9")
    (tmp_path / "ebt-balance.menu.yaml").write_text(menu_text)
    (tmp_path / "f.yaml").write_text(flow)
    assert main(["test", str(tmp_path / "f.yaml")]) == 1
    out = capsys.readouterr().out
    assert "the IVR did not say 'for your rewards press 9'" in out
    assert "the IVR: " in out and "main_menu" in out  # what it was saying instead


def test_a_menu_that_hangs_up_during_a_listening_wait_ends_the_call(
        tmp_path: Path, menu_text: str) -> None:
    """The welcome node hangs up when nothing is pressed: a recipe that listens for a
    phrase it never hears meets the hang-up, exit 3, not a hang."""
    flow = (FLOWS / "ebt-balance.yaml").read_text().replace(
        '{heard: "for english press 1", max: 30s}', '{heard: "goodbye", max: 2m}')
    menu = menu_text.replace("    timeout: 5s\n", "    timeout: 1s\n    on_timeout: hangup\n", 1)
    (tmp_path / "ebt-balance.menu.yaml").write_text(menu)
    (tmp_path / "f.yaml").write_text(flow)
    outcome = run_expectation(load_flow(tmp_path / "f.yaml"))
    assert not outcome.passed
    assert outcome.result.exit_code == 3, outcome.result.reason
    assert "hung up" in outcome.result.reason
