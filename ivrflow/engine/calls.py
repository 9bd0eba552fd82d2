"""The calls of a batch: `--call` ids and `--calls FILE` rows, checked before anything runs.

A calls file is CSV with a header whose first column is `call` (a live call's id) or
`to` (a number to dial: the batch places its calls) and whose other columns name
declared variables, or JSON Lines objects with the same keys. Each row gives one
call and its own variable values; an empty CSV cell gives no value (the variable then
comes from its other sources). Every problem names the file, the row (its line) and the
column, and all of them are reported together.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivrflow.errors import InvalidInput
from ivrflow.language import digits as dtmf
from ivrflow.language.inputfile import UnreadableFile, read_bytes
from ivrflow.language.model import Flow
from ivrflow.language.suggest import Suggestions
from ivrflow.transport.checks import CALL_ID

MAX_CALLS_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One call of a batch and the variable values its row gives."""

    call: str  # the call's id; for a call to place, its number until it is answered
    values: Mapping[str, str] = field(default_factory=dict)
    where: str = ""  # "calls.csv:3" for a file row, "" for --call
    columns: Mapping[str, int] = field(default_factory=dict)  # variable -> 1-based column
    to: str | None = None  # a `to` column: the number to dial (the call is placed)

    def cell(self, name: str) -> str:
        """Where a variable's value of this row stands, for messages."""
        return f"{self.where}:{self.columns.get(name, 1)}" if self.where else f"--call {self.call}"


def read_calls(ids: Sequence[str], path: str | None, flow: Flow
               ) -> tuple[list[CallSpec], list[str]]:
    """Every call to run, in order, and every problem found (file:row:column: ...)."""
    problems: list[str] = []
    specs = [CallSpec(call) for call in ids]
    for call in ids:
        if not CALL_ID.fullmatch(call):
            problems.append(f"--call {call!r}: {_bad_id}")
    if path is not None:
        rows, file_problems = _read_file(Path(path), flow)
        if ids and any(row.to for row in rows):
            problems.append(f"{path}: its calls are to be placed (a 'to' column): leave out "
                            "--call, or give the live calls in a 'call' column")
        specs += rows
        problems += file_problems
    seen: dict[str, str] = {}
    for spec in specs:
        place = spec.where or "--call"
        key = spec.call.casefold()  # call uuids compare case-insensitively
        if key in seen:
            what = (f"number {spec.call!r} appears twice in the batch (first at {seen[key]}); "
                    "dialling it twice at once is refused" if spec.to else
                    f"call {spec.call!r} appears twice in the batch (first at {seen[key]}; "
                    "ids that differ only in case name one call); a call can run only one "
                    "flow at a time")
            problems.append(f"{spec.cell('call') if spec.where else place}: {what}")
        else:
            seen[key] = place
    if not specs and not problems:
        problems.append("no call to run: give --call ID or --calls FILE")
    return specs, problems


_bad_number = "not a phone number: use E.164 digits, such as 14155550123 (6-15 digits)"


def _number(text: str) -> str | None:
    """A number to dial, as its digits (a leading + dropped), or None."""
    from ivrflow.engine.dialing import NUMBER

    text = text.strip()
    return text.lstrip("+") if NUMBER.fullmatch(text) else None


def _shown_number(text: str) -> str:
    """A bad number as a message may quote it: short and printable, else not at all."""
    return repr(text) if len(text) <= 24 and text.isprintable() else "the value"


def report(problems: list[str], limit: int = 50) -> InvalidInput:
    """All problems of a batch as one error, in file order, the first `limit` of them."""
    ordered = sorted(dict.fromkeys(problems), key=_position)
    shown = ordered[:limit]
    if len(ordered) > limit:
        shown.append(f"... and {len(ordered) - limit} more problem(s)")
    return InvalidInput("\n".join(shown))


_bad_id = ("not a valid call id: use 1-128 letters, digits, '-' or '_', starting with a "
           "letter or digit")


_PLACE = re.compile(r"(.*?):(\d+)(?::(\d+))?: ")


def _position(problem: str) -> tuple[str, int, int]:
    """(file, line, column) of a "file:line:col: ..." problem, for sorting."""
    match = _PLACE.match(problem)
    if match is None:
        return problem, 0, 0
    return match[1], int(match[2]), int(match[3] or 0)


def _read_file(path: Path, flow: Flow) -> tuple[list[CallSpec], list[str]]:
    display = str(path)
    try:
        raw = read_bytes(path, MAX_CALLS_FILE_BYTES)
    except UnreadableFile as exc:
        tip = "; split the batch" if "larger than" in exc.reason else ""
        return [], [f"{display}: {exc.reason}{tip}"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return [], [f"{display}:{line}:1: not UTF-8 text; save it as UTF-8 (CSV UTF-8 in "
                    "Excel)"]
    if path.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{"):
        return _read_jsonl(text, display, flow)
    return _read_csv(text, display, flow)


def _shown_name(name: str) -> str:
    """A column name as a message may quote it: only a plausible variable name, since a
    header that is really a row of data must not be echoed."""
    return f"'{name}'" if dtmf.NAME.fullmatch(name) and len(name) <= 64 else "(not a name)"


def _check_names(names: Iterable[str], flow: Flow, where: str,
                 suggestions: Suggestions) -> list[str]:
    problems = []
    declared = ", ".join(flow.variables) or "none"
    for column, name in enumerate(names, start=2):
        if name not in flow.variables:
            shown = _shown_name(name)
            close = suggestions.closest(name) if shown != "(not a name)" else None
            tip = f" (did you mean '{close}'?)" if close else ""
            problems.append(f"{where}:{column}: column {shown} is not a variable of the flow"
                            f"{tip}; declared: {declared}")
    return problems


def _read_csv(text: str, display: str, flow: Flow) -> tuple[list[CallSpec], list[str]]:
    # newline="" keeps line breaks inside quoted cells; strict refuses an unclosed quote
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return [], [f"{display}: empty; the first line must be a header: call,<variables>"]
    except csv.Error as exc:
        return [], [f"{display}:1:1: not valid CSV: {exc}"]
    header = [h.strip() for h in header]
    if not header or header[0] not in ("call", "to"):
        # the line is not echoed: without a header it is a row of data, maybe a secret's
        return [], [f"{display}:1:1: the first line must be the header, and its first "
                    "column must be 'call' (live calls) or 'to' (numbers to dial): "
                    "call,<variables> (the line is not shown, as it may hold data)"]
    placing = header[0] == "to"
    problems = _check_names(header[1:], flow, f"{display}:1", Suggestions(flow.variables))
    first_at: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in first_at:
            problems.append(f"{display}:1:{index + 1}: column {_shown_name(name)} appears "
                            f"twice (first as column {first_at[name] + 1})")
        else:
            first_at[name] = index
    columns = {name: i + 1 for i, name in enumerate(header)}
    specs = []
    try:
        first = 2
        for row in reader:
            line, first = first, reader.line_num + 1  # a row may span lines: name its first
            if not any(cell.strip() for cell in row):
                continue  # blank lines are allowed anywhere
            where = f"{display}:{line}"
            if len(row) != len(header):
                problems.append(f"{where}:1: {len(row)} cells but the header has {len(header)}")
                continue
            call = row[0].strip()
            number = _number(call) if placing else None
            if placing and number is None:
                problems.append(f"{where}:1: {_shown_number(call)} is {_bad_number}")
                continue
            if not placing and not CALL_ID.fullmatch(call):
                problems.append(f"{where}:1: {call!r} is {_bad_id}")
                continue
            broken = [i for i, cell in enumerate(row) if "\n" in cell or "\r" in cell]
            if broken:
                problems.append(f"{where}:{broken[0] + 1}: a cell holds a line break (a quote "
                                "left open?); a value is one line")
                continue
            values = {name: cell for name, cell in zip(header[1:], row[1:], strict=True)
                      if cell != ""}
            specs.append(CallSpec(number or call, values, where, columns, number))
    except csv.Error as exc:
        problems.append(f"{display}:{reader.line_num}:1: not valid CSV: {exc}")
    return specs, problems


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _short_json(value: object) -> str:
    text = _json_kind(value) if isinstance(value, (list, dict)) else json.dumps(value)
    return text if len(text) <= 40 else _json_kind(value)


def _json_kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), "not a string")


def _parse_line(line: str) -> object:
    """One JSON Lines line; `ValueError` (with a column when known) for anything else.

    JSON text of absurd shape is refused as such: Python's integer-size limit and its
    recursion limit (an array nested 200,000 deep) both become a plain message."""
    try:
        return json.loads(line, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ValueError("nested too deeply; a line is one flat object") from None


def _read_jsonl(text: str, display: str, flow: Flow) -> tuple[list[CallSpec], list[str]]:
    specs, problems = [], []
    suggestions = Suggestions(flow.variables)
    # Lines end at "\n" only (a "\r" before it is dropped): U+2028 and friends are valid
    # inside a JSON string, and str.splitlines() would cut the line there.
    for line_number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{display}:{line_number}"
        try:
            row = _parse_line(line)
        except _DuplicateKey as dup:
            problems.append(f"{where}:1: key {_shown_name(dup.args[0])} appears twice in "
                            "this line")
            continue
        except json.JSONDecodeError as exc:
            problems.append(f"{where}:{exc.colno}: not valid JSON: {exc.msg}")
            continue
        except ValueError as exc:  # an integer of thousands of digits, deep nesting
            reason = str(exc) if "nested" in str(exc) else "a number too long to read"
            problems.append(f"{where}:1: not usable JSON: {reason}")
            continue
        key = "to" if isinstance(row, dict) and "to" in row and "call" not in row else "call"
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            problems.append(f"{where}:1: each line must be an object with a \"call\" string "
                            "(a live call) or a \"to\" string (a number to dial)")
            continue
        keys = [k for k in row if k != key]
        columns = {name: i + 2 for i, name in enumerate(keys)}
        bad = _check_names(keys, flow, where, suggestions)
        wrong_type = [f"{where}:{columns[k]}: \"{k}\" must be a string, not {shown}; "
                      "quote it" for k in keys
                      if k in flow.variables and not isinstance(row[k], str)
                      for shown in [_json_kind(row[k]) if flow.variables[k].secret
                                    else _short_json(row[k])]]
        number = _number(row[key]) if key == "to" else None
        if key == "to" and number is None:
            bad.append(f"{where}:1: {_shown_number(row[key])} is {_bad_number}")
        elif key == "call" and not CALL_ID.fullmatch(row["call"]):
            bad.append(f"{where}:1: {row['call']!r} is {_bad_id}")
        if bad or wrong_type:
            problems += bad + wrong_type
            continue
        specs.append(CallSpec(number or row[key], {k: row[k] for k in keys}, where,
                              {"call": 1, **columns}, number))
    return specs, problems
