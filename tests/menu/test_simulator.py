"""The menu simulator, behaviour by behaviour, on explicit times."""

from __future__ import annotations

from ivrflow.menu.loader import parse_menu
from ivrflow.menu.simulator import MenuSimulator

MENU = """\
version: 1
name: bank
start: welcome
nodes:
  welcome:
    prompt: 6s
    timeout: 5s
    max_repeats: 1
    options: {"1": english, "2": spanish}
  english:
    prompt: 3s
    barge_in: false
    timeout: 4s
    on_timeout: operator
    options: {"1": account}
  spanish: {prompt: 3s, end: true}
  account:
    prompt: 2s
    timeout: 3s
    on_timeout: hangup
    collect: {max: 4, end: "#"}
    next: balance
  balance: {prompt: 5s, end: true}
  operator: {prompt: 1s, end: true}
"""


def sim() -> MenuSimulator:
    return MenuSimulator(parse_menu(MENU, "m.yaml"), 100.0)


def path(s: MenuSimulator) -> list[tuple[str, float]]:
    return [(h.node, h.t) for h in s.trace if h.kind == "enter"]


def test_option_moves_on_and_barge_in_counts() -> None:
    """A key listed in options moves to its node, even during the prompt (barge-in)."""
    s = sim()
    s.press("2", 101.0)
    assert s.node.name == "spanish" and path(s) == [("welcome", 0.0), ("spanish", 1.0)]


def test_unknown_key_replays_the_prompt() -> None:
    """A key with no option replays the prompt, which restarts its timeout."""
    s = sim()
    s.press("9", 102.0)
    assert s.node.name == "welcome"
    assert [h.kind for h in s.trace] == ["enter", "unknown_key", "enter"]
    s.advance(112.9)  # 102 + 6 s prompt + 5 s timeout = 113: not yet
    assert not any(h.kind == "timeout" for h in s.trace)


def test_barge_in_false_ignores_keys_during_the_prompt() -> None:
    """With barge_in false, a key during the prompt is ignored; after it, it counts."""
    s = sim()
    s.press("1", 100.0)  # english: prompt until 103
    s.press("1", 101.5)
    assert s.node.name == "english"
    ignored = [h for h in s.trace if h.kind == "ignored"]
    assert ignored[0].t == 1.5 and "barge_in false" in ignored[0].detail
    s.press("1", 103.0)
    assert s.node.name == "account"


def test_collect_until_end_key_then_next() -> None:
    """collect gathers digits until the end key, then goes to next."""
    s = sim()
    for t, key in [(100, "1"), (103, "1"), (106, "1"), (106.25, "2"), (106.5, "#")]:
        s.press(key, float(t))
    assert s.node.name == "balance"
    assert [h.detail for h in s.trace if h.kind == "collected"] == ["2 digit(s): the end key"]


def test_collect_ends_at_max() -> None:
    """collect ends by itself after max digits; a following # lands in the next node."""
    s = sim()
    s.press("1", 100.0)
    s.press("1", 103.0)
    for i, key in enumerate("1234#"):
        s.press(key, 104.0 + i * 0.25)
    assert s.node.name == "balance"
    assert any(h.kind == "ignored" and h.node == "balance" for h in s.trace)


def test_timeout_repeats_then_hangs_up() -> None:
    """No input: the prompt repeats max_repeats times, then the menu hangs up."""
    s = sim()
    s.advance(200.0)
    kinds = [h.kind for h in s.trace]
    assert kinds == ["enter", "timeout", "enter", "timeout", "hangup"]
    assert s.hung_up and s.hung_up_at == 100 + 11 + 11
    s.press("1", 201.0)
    assert s.trace[-1].kind == "ignored" and "hung up" in s.trace[-1].detail


def test_timeout_to_a_node_and_timeout_hangup() -> None:
    """on_timeout may name a node; on_timeout: hangup hangs up at once."""
    s = sim()
    s.press("1", 100.0)
    s.advance(108.0)  # english: prompt 3 s + timeout 4 s -> operator at 107
    assert s.node.name == "operator"
    t = sim()
    t.press("1", 100.0)
    t.press("1", 103.0)
    t.advance(110.0)  # account: prompt 2 s + timeout 3 s -> hangup at 108
    assert t.hung_up_at == 108.0


def test_digit_exactly_at_the_deadline_is_in_time() -> None:
    """A key arriving exactly when the input timeout ends still counts."""
    s = sim()
    s.press("1", 111.0)  # welcome: 6 s prompt + 5 s timeout
    assert s.node.name == "english"


def test_end_node_ignores_input_and_never_times_out() -> None:
    """A final node keeps the call up and ignores keys."""
    s = sim()
    s.press("2", 100.0)
    s.advance(10_000.0)
    s.press("1", 10_001.0)
    assert s.node.name == "spanish" and not s.hung_up
    assert s.trace[-1].kind == "ignored"


def test_secret_digits_are_marked() -> None:
    """Digits pressed as secret are flagged so no report shows them."""
    s = sim()
    s.press("7", 101.0, secret=True)
    assert s.trace[1].secret and s.trace[1].shown_digit() == "a secret digit"


ANNOUNCE = """\
version: 1
name: a
start: notice
nodes:
  notice: {prompt: 3s, timeout: 0s, on_timeout: menu}
  menu: {prompt: 2s, max_repeats: 1, options: {"1": done}}
  done: {prompt: 1s, end: true}
"""


def test_announcement_moves_on_without_a_timeout() -> None:
    """A node that takes no input moves on when it ends: not reported as a timeout."""
    s = MenuSimulator(parse_menu(ANNOUNCE, "a.yaml"), 0.0)
    s.advance(3.5)
    assert s.node.name == "menu"
    assert [h.kind for h in s.trace] == ["enter", "enter"]


def test_key_at_the_end_of_an_announcement_reaches_the_next_node() -> None:
    """A key exactly as an announcement ends counts in the node that follows."""
    s = MenuSimulator(parse_menu(ANNOUNCE, "a.yaml"), 0.0)
    s.press("1", 3.0)
    assert s.node.name == "done"


def test_invalid_entries_run_out() -> None:
    """Invalid keys replay the prompt up to max_repeats, then the menu hangs up."""
    s = MenuSimulator(parse_menu(ANNOUNCE, "a.yaml"), 0.0)
    s.press("7", 4.0)
    assert s.node.name == "menu" and not s.hung_up
    s.press("7", 5.0)
    assert s.hung_up and s.trace[-1].kind == "hangup"


def test_zero_time_loops_and_min_over_max_are_refused() -> None:
    """Menus that would loop without time passing, or could never collect, are refused."""
    import pytest

    from ivrflow.errors import FlowInvalid

    loop = ("version: 1\nname: l\nstart: one\nnodes:\n"
            "  one: {prompt: 0s, timeout: 0s, on_timeout: two}\n"
            "  two: {prompt: 0s, timeout: 0s, on_timeout: one}\n")
    with pytest.raises(FlowInvalid) as caught:
        parse_menu(loop, "l.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "l.yaml:5:3: nodes one -> two -> one loop forever without time passing (prompt and "
        "timeout 0); give one of them a prompt or a timeout"]
    collect = ("version: 1\nname: c\nstart: a\nnodes:\n"
               "  a: {prompt: 1s, collect: {min: 6, max: 4}, next: b}\n"
               "  b: {prompt: 1s, end: true}\n")
    with pytest.raises(FlowInvalid, match="min 6 is more than max 4"):
        parse_menu(collect, "c.yaml")
