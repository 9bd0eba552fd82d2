"""Hostile calls files, one class per test: each refused with a located problem, in linear
time, without echoing data, before any call starts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ivrflow.engine.calls import read_calls
from ivrflow.language.loader import parse_flow
from ivrflow.language.model import Flow

SECRET = "4111111111111111"


def flow() -> Flow:
    return parse_flow("version: 1\nname: t\nvars:\n  card: {secret: true}\n  lang: {}\n"
                      "steps:\n  - send: '${lang}'\n  - send: '${card}#'\n", "t.yaml")


def problems_of(tmp_path: Path, name: str, text: str | bytes) -> list[str]:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    _, problems = read_calls([], str(path), flow())
    return problems


def test_ids_differing_only_in_case_are_one_call(tmp_path: Path) -> None:
    """UUIDs compare case-insensitively: `3F2C...` and `3f2c...` are a duplicate."""
    upper = "3F2C9A10-0000-4000-8000-00000000ABCD"
    problems = problems_of(tmp_path, "c.csv", f"call,lang\n{upper},1\n{upper.lower()},2\n")
    assert len(problems) == 1 and "appears twice in the batch" in problems[0]
    assert problems[0].startswith(f"{tmp_path / 'c.csv'}:3:1:")
    _, from_flags = read_calls(["abc", "ABC"], None, flow())
    assert len(from_flags) == 1 and "appears twice" in from_flags[0]


def test_a_missing_header_is_not_echoed(tmp_path: Path) -> None:
    """Without a header, the first line is data (maybe a card number): never quoted."""
    problems = problems_of(tmp_path, "c.csv", f"c-1,{SECRET},1\n")
    assert len(problems) == 1 and "first column must be 'call'" in problems[0]
    assert SECRET not in problems[0] and "c-1" not in problems[0]


def test_header_cells_that_are_not_names_are_not_echoed(tmp_path: Path) -> None:
    """A column that is not a variable is named only when it looks like a name."""
    problems = problems_of(tmp_path, "c.csv", f"call,{SECRET},lnag\nc-1,1,1\n")
    assert SECRET not in "\n".join(problems)
    assert any(":1:2: column (not a name) is not a variable" in p for p in problems)
    assert any(":1:3: column 'lnag' is not a variable of the flow (did you mean 'lang'?)" in p
               for p in problems)


def test_a_wide_header_is_checked_in_linear_time(tmp_path: Path) -> None:
    """40,000 columns (all repeats) are refused in well under a second, with a cap on the
    problems reported."""
    header = "call," + ",".join(["lang"] * 40_000)
    started = time.monotonic()
    problems = problems_of(tmp_path, "c.csv", header + "\n")
    assert time.monotonic() - started < 1.5
    assert len(problems) == 39_999 and "appears twice (first as column 2)" in problems[0]


@pytest.mark.parametrize("line, reason", [
    ('{"call": "c-1", "lang": ' + "9" * 5000 + "}", "a number too long to read"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ('{"call": "c-1", "lang": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
])
def test_absurd_json_lines_are_located_problems(tmp_path: Path, line: str, reason: str) -> None:
    """Python's integer and recursion limits become a located message, not a crash."""
    problems = problems_of(tmp_path, "c.jsonl", '{"call": "ok-1", "lang": "1"}\n' + line + "\n")
    assert problems == [f"{tmp_path / 'c.jsonl'}:2:1: not usable JSON: {reason}"
                        + ("; a line is one flat object" if "nested" in reason else "")]


def test_json_lines_split_only_at_newline(tmp_path: Path) -> None:
    """U+2028 and U+0085 inside a JSON string are valid; the line is not cut there."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"call": "c-1", "lang": "1", "card": "12\u2028\u008534"}\r\n'
                    '{"call": "c-2", "lang": "2", "card": "5"}\n', encoding="utf-8")
    specs, problems = read_calls([], str(path), flow())
    assert problems == []
    assert [s.call for s in specs] == ["c-1", "c-2"]
    assert [s.where for s in specs] == [f"{path}:1", f"{path}:2"]


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_only_regular_calls_files_are_read(tmp_path: Path, special: str) -> None:
    """A device or FIFO as the calls file is refused at once."""
    path = special
    if special == "fifo":
        path = str(tmp_path / "calls.csv")
        os.mkfifo(path)
    started = time.monotonic()
    _, problems = read_calls([], path, flow())
    assert time.monotonic() - started < 1
    assert problems == [f"{path}: is not a regular file (a device, FIFO or socket); give the "
                        "path of a file"]


def test_undecodable_calls_file_names_its_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "c.csv", b"call,lang\nc-1,1\nc-2,\xff\n")
    assert problems == [f"{tmp_path / 'c.csv'}:3:1: not UTF-8 text; save it as UTF-8 "
                        "(CSV UTF-8 in Excel)"]


def test_a_number_for_a_secret_is_not_echoed(tmp_path: Path) -> None:
    """A JSON number where a secret's string belongs: refused by kind, never by value."""
    problems = problems_of(tmp_path, "c.jsonl", '{"call": "c-1", "lang": "1", "card": '
                           + SECRET + "}\n")
    assert len(problems) == 1 and "must be a string, not a number" in problems[0]
    assert SECRET not in problems[0]
