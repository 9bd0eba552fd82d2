"""Read a YAML file into plain values, remembering where each value came from.

PyYAML's constructors lose positions, keep the last of duplicate keys and expand aliases
without limit. This module composes the node graph (cheap: an alias is a reference to an
already-built node) and builds values itself, so that it can:

- record the 1-based line and column of every value and every mapping key (`Source`);
- refuse duplicate keys, merge keys, deep nesting and alias bombs;
- note the YAML 1.1 scalars that silently change meaning (octal `0123`, sexagesimal
  `12:30`, `yes`/`no` booleans) as `Trap`s, for the caller to report in context.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

try:  # libyaml's composer is several times faster and gives the same marks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

from ivrflow.errors import FlowInvalid, Problem
from ivrflow.language.inputfile import UnreadableFile, read_bytes

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # values built, counting each alias expansion; a 1 MiB recipe needs far fewer
MAX_DEPTH = 64

JsonPath = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP}
MAX_NUMBER_TEXT = 32  # characters; Python refuses int() past 4300 digits, floats overflow
_PLAIN_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_CORE_BOOL = {"true", "false", "True", "False", "TRUE", "FALSE"}
# Text to YAML 1.1 (PyYAML) that YAML 1.2's core schema, which editors and most other
# tools use, reads as a number: `09`, `0812`, `1e5`, `0o17`.
_YAML12_INT = re.compile(r"[-+]?[0-9]+")
_YAML12_NUMBER = re.compile(r"0o[0-7]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Trap:
    """A plain scalar that YAML (1.1, or 1.2 for text 1.1 keeps) reads as something other
    than what it looks like."""

    text: str  # as written in the file
    value: Any  # what YAML makes of it: PyYAML (1.1), or 1.2 for kind "yaml12"
    kind: str  # "octal", "sexagesimal", "number", "boolean", ...


@dataclass(slots=True)
class Source:
    """A loaded document plus where each of its parts stands in the file."""

    path: str
    data: Any
    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    traps: dict[JsonPath, Trap] = field(default_factory=dict)
    plain: dict[JsonPath, str] = field(default_factory=dict)  # source text of unquoted non-text
    unquoted_text: set[JsonPath] = field(default_factory=set)  # plain scalars read as text
    broken: set[JsonPath] = field(default_factory=set)  # values already reported as unusable
    problems: list[Problem] = field(default_factory=list)  # found while building: duplicates...
    text: str = ""

    def where(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value at `path` (or of its key), else of its nearest parent."""
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            path = path[:-1]
            table = self.values
        return self.values.get((), (1, 1))

    def problem(self, path: JsonPath, message: str, *, key: bool = False) -> Problem:
        line, column = self.where(path, key=key)
        return Problem(self.path, line, column, message)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read_text(path: Path, display: str) -> str:
    """Read a recipe file (a regular file of at most 1 MiB) as UTF-8 text."""
    try:
        raw = read_bytes(path, MAX_FILE_BYTES)
    except UnreadableFile as exc:
        raise FlowInvalid([Problem(display, 1, 1, exc.reason)]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _fail(display, line, 1, "not UTF-8 text: save the file as UTF-8")


def _fail(display: str, line: int, column: int, message: str) -> NoReturn:
    raise FlowInvalid([Problem(display, line, column, message)])


def load(text: str, display: str) -> Source:
    """Parse one YAML document into a `Source`.

    Malformed or hostile YAML raises `FlowInvalid`; lesser problems (duplicate keys, merge
    keys) are kept in `Source.problems` so they are reported with the rest of the file's.
    """
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        _fail(display, 1, 1, f"file is larger than {MAX_FILE_BYTES:,} bytes (1 MiB)")
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise FlowInvalid([_syntax_problem(exc, text, display)]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        _fail(display, line, column,
              f"a control character (U+{code:04X}) is not allowed in YAML; remove it")
    except yaml.YAMLError as exc:  # pragma: no cover - every other PyYAML error is marked
        _fail(display, 1, 1, "invalid YAML: " + " ".join(str(exc).split()))
    if root is None:
        _fail(display, 1, 1, "the file is empty: a flow is a mapping with version, name and steps")
    source = Source(display, None, text=text)
    builder = _Builder(source)
    source.data = builder.build(root, (), 0)
    source.problems = builder.problems
    return source


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, display: str) -> Problem:
    """One line for a YAML syntax error: where it is and, for the common slips, the fix."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join((exc.problem or "invalid YAML").split())
    context = " ".join((exc.context or "").split())
    start = exc.context_mark
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""

    def at(message: str, where: tuple[int, int] = (line, column)) -> Problem:
        return Problem(display, where[0], where[1], message)

    if "\t" in here[: column + 1]:
        return at("invalid YAML: a tab in the indentation; indent with spaces")
    if "alias" in what + context or "anchor" in what + context:
        star = max(here.rfind("*", 0, column), here.rfind("&", 0, column))
        if star >= 0:
            written = here[star:].split(" #", 1)[0].strip()
            what = "alias" if here[star] == "*" else "anchor"
            return at(f'a bare {here[star]} starts a YAML {what}; quote the digits: '
                      f'send: "{written}"', (line, star + 1))
    if "quoted scalar" in context and start is not None:
        return at("a quoted string starting here is never closed; add the closing quote",
                  (start.line + 1, start.column + 1))
    if "expected a single document" in context + what:
        return at("a flow file holds one YAML document, but a second one starts here (---); "
                  "remove it or move it to its own file")
    if "mapping values are not allowed" in what:
        return at('invalid YAML: a ": " inside a value; quote text that contains it, '
                  'e.g. description: "Billing: press 2"')
    if ("expected key" in what or "expected <block end>" in what) and start is not None:
        return at(f"invalid YAML: this line is indented differently from the mapping that "
                  f"starts at line {start.line + 1}, column {start.column + 1}; line the keys up")
    if context and start is not None and start.line + 1 != line:
        what += f" {context} that starts at line {start.line + 1}, column {start.column + 1}"
    return at(f"invalid YAML: {what}")


class _Builder:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.count = 0
        self.active: set[int] = set()

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.source.path, *_pos(node), message))

    def build(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise FlowInvalid([Problem(self.source.path, *_pos(node), (
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?); "
                "refused"))])
        if depth > MAX_DEPTH:
            raise FlowInvalid([Problem(self.source.path, *_pos(node),
                                       f"nested deeper than {MAX_DEPTH} levels; refused")])
        self.source.values.setdefault(path, _pos(node))
        expected = _SCALAR_TAGS if isinstance(node, yaml.ScalarNode) else \
            {_SEQ} if isinstance(node, yaml.SequenceNode) else {_MAP}
        if node.tag not in expected or (isinstance(node, yaml.ScalarNode) and node.style
                                        and node.tag != _STR):
            self.problem(node, f"YAML tags ({_short_tag(node.tag)}) are not supported; "
                               "remove the tag")
            self.source.broken.add(path)
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.problem(node, "an alias refers to a node that contains it (a cycle); refused")
            self.source.broken.add(path)
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i), depth + 1)
                        for i, item in enumerate(node.value)]
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.Node, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.problem(key_node, "merge keys (<<) are not supported: write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, "a mapping key must be plain text")
                continue
            key = key_node.value
            if key in first_seen:
                self.problem(key_node, (
                    f"duplicate key '{key}' (first at line {first_seen[key]}): YAML would "
                    "silently keep only the last one; remove one of them"))
                continue
            first_seen[key] = key_node.start_mark.line + 1
            self.source.keys[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        text = node.value
        if node.style or node.tag == _STR:  # quoted, block, or resolved as text
            if not node.style:
                self.source.unquoted_text.add(path)
                if len(text) <= MAX_NUMBER_TEXT and _YAML12_NUMBER.fullmatch(text):
                    # read as YAML 1.2 does, so that where text is wanted the schema
                    # refuses it and the trap message asks for quotes
                    self.source.plain[path] = text
                    number = _yaml12_number(text)
                    self.source.traps[path] = Trap(text, number, "yaml12")
                    return number
            return text
        traps = self.source.traps
        self.source.plain[path] = text
        if node.tag in (_INT, _FLOAT) and len(text) > MAX_NUMBER_TEXT:
            raise FlowInvalid([Problem(self.source.path, *_pos(node), (
                f"this number ({len(text)} characters) is too large for any setting"))])
        if node.tag == _NULL:
            return None
        if node.tag == _BOOL:
            flag = text.lower() in ("yes", "y", "true", "on")
            if text not in _CORE_BOOL:
                traps[path] = Trap(text, flag, "boolean")
            return flag
        if node.tag == _INT:
            whole = _yaml11_int(text)
            if not _PLAIN_DECIMAL.fullmatch(text):
                unsigned = text.lstrip("+-")
                octal = unsigned[:1] == "0" and unsigned[1:2].isdigit()
                kind = "sexagesimal" if ":" in text else "octal" if octal else "number"
                traps[path] = Trap(text, whole, kind)
            return whole
        if node.tag == _FLOAT:
            real = _yaml11_float(text)
            if not _PLAIN_FLOAT.fullmatch(text):
                traps[path] = Trap(text, real, "sexagesimal" if ":" in text else "number")
            return real
        # timestamps and any other implicit type: keep the text, the schema will judge it
        return text


def _yaml12_number(text: str) -> int | float:
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text) if _YAML12_INT.fullmatch(text) else float(text)


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag


def _yaml11_int(text: str) -> int:
    """The integer PyYAML's YAML 1.1 resolver makes of `text`."""
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if digits == "0":
        return 0
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0"):
        return sign * int(digits, 8)
    if ":" in digits:
        return sign * _base60(digits, int)
    return sign * int(digits)


def _yaml11_float(text: str) -> float:
    digits = text.replace("_", "").lower()
    sign = -1.0 if digits.startswith("-") else 1.0
    digits = digits.lstrip("+-")
    if digits == ".inf":
        return sign * float("inf")
    if digits == ".nan":
        return float("nan")
    if ":" in digits:
        return sign * _base60(digits, float)
    return sign * float(digits)


N = TypeVar("N", int, float)


def _base60(text: str, number: Callable[[str], N]) -> N:
    """YAML 1.1's sexagesimal `1:30:00` as `number`s: each part sixty of the next."""
    parts = text.split(":")
    value = number(parts[0])
    for part in parts[1:]:
        value = value * 60 + number(part)
    return value
