"""The YAML reader: positions, hostile inputs, YAML 1.1 traps."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from ivrflow.errors import FlowInvalid
from ivrflow.language.yamlsource import MAX_FILE_BYTES, load, read_text


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"1"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_positions_are_one_based_for_values_and_keys() -> None:
    """Every value and key is recorded at its 1-based line and column."""
    source = load("a: 1\nsteps:\n  - send: '1'\n", "f.yaml")
    assert source.where(("a",)) == (1, 4)
    assert source.where(("steps", 0, "send")) == (3, 11)
    assert source.where(("steps", 0, "send"), key=True) == (3, 5)


def test_alias_bomb_is_refused_quickly_and_small() -> None:
    """A billion-laughs document is refused in well under a second without large memory."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(FlowInvalid) as caught:
        load(bomb(), "bomb.yaml")
    elapsed = time.perf_counter() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert "alias bomb" in str(caught.value)
    assert elapsed < 1.0
    assert grown_kib < 100 * 1024


def test_legitimate_alias_is_expanded() -> None:
    """A small alias (a shared retry policy) is allowed and expands to the same value."""
    source = load("r: &r {attempts: 1}\ns: *r\n", "f.yaml")
    assert source.data["s"] == {"attempts": 1}


def test_recursive_alias_is_refused() -> None:
    """A node that contains itself is a problem, not an infinite loop."""
    source = load("a: &a [*a]\n", "f.yaml")
    assert any("cycle" in p.message for p in source.problems)


def test_deep_nesting_is_refused() -> None:
    """Pathologically deep nesting is refused instead of exhausting the stack."""
    with pytest.raises(FlowInvalid) as caught:
        load("a: " + "[" * 200 + "]" * 200 + "\n", "deep.yaml")
    assert "nested deeper" in str(caught.value)


def test_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    """Files over 1 MiB are refused before parsing, with the limit in the message."""
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    with pytest.raises(FlowInvalid) as caught:
        read_text(path, "big.yaml")
    assert str(caught.value).startswith("big.yaml:1:1: file is ")
    assert "1 MiB" in str(caught.value)


def test_missing_file_is_a_located_problem(tmp_path: Path) -> None:
    """A missing file is reported as a problem of that file, not a traceback."""
    with pytest.raises(FlowInvalid) as caught:
        read_text(tmp_path / "nope.yaml", "nope.yaml")
    assert str(caught.value) == "nope.yaml:1:1: no such file"


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported with the line they are on."""
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(FlowInvalid) as caught:
        read_text(path, "latin.yaml")
    assert str(caught.value).startswith("latin.yaml:2:1: not UTF-8")


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("0123", "octal", 83), ("12:30", "sexagesimal", 750), ("0x1F", "number", 31),
    ("1_000", "number", 1000), ("yes", "boolean", True), ("off", "boolean", False),
])
def test_yaml11_traps_are_recorded_with_their_yaml11_value(text: str, kind: str,
                                                           value: object) -> None:
    """Plain scalars that YAML 1.1 silently converts are noted with what they became."""
    source = load(f"v: {text}\n", "f.yaml")
    trap = source.traps[("v",)]
    assert (trap.text, trap.kind, trap.value) == (text, kind, value)


def test_plain_decimals_and_quoted_text_are_not_traps() -> None:
    """Ordinary numbers, true/false and quoted text are taken as written."""
    source = load("a: 12\nb: '0123'\nc: true\nd: 1.5\ne: \"yes\"\n", "f.yaml")
    assert source.traps == {}
    assert source.data == {"a": 12, "b": "0123", "c": True, "d": 1.5, "e": "yes"}
