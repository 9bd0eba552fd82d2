"""Variable values: gathered from their sources, checked, and substituted into digits.

Strongest source first: `--var name=value`, `--vars-file FILE`, the declared `env`, the
`default`. Every problem is reported before anything is sent, and no message ever shows
the value of a secret variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ivrflow.errors import FlowInvalid, InvalidInput
from ivrflow.language import digits as dtmf
from ivrflow.language import patterns
from ivrflow.language.model import Flow, Send
from ivrflow.language.suggest import Suggestions
from ivrflow.language.yamlsource import load, read_text

_DIGIT_VALUE = re.compile(r"[0-9*#wW]*")


@dataclass(frozen=True, slots=True)
class Bindings:
    """Resolved variable values and which of them are secret."""

    values: Mapping[str, str]
    secrets: frozenset[str]
    sources: Mapping[str, str]  # name -> where the value came from, for messages

    def digits(self, step: Send) -> str:
        """The digits a send step really sends."""
        return dtmf.REFERENCE.sub(lambda m: self.values[m[1]], step.digits)

    def shown(self, step: Send) -> str:
        """The digits as people may see them: secrets as ****."""
        return dtmf.mask(step.digits, set(self.secrets), dict(self.values))

    def has_secret(self, step: Send) -> bool:
        """Whether the step's digits hold a secret variable's value."""
        return any(name in self.secrets for name in dtmf.references(step.digits))

    def secret_digits(self, steps: Iterable[object]) -> frozenset[str]:
        """Every digit string that a secret-bearing send among `steps` sends: a place that
        knows only digits (the sandbox, a menu) must show these masked."""
        return frozenset(self.digits(s) for s in steps
                         if isinstance(s, Send) and self.has_secret(s))

    def secret_values(self) -> list[str]:
        return [self.values[name] for name in self.secrets if self.values.get(name)]

    def redact(self, text: str) -> str:
        """`text` with every secret value replaced by ****, longest first (a secret may
        contain another)."""
        for value in sorted(self.secret_values(), key=len, reverse=True):
            text = text.replace(value, "****")
        return text


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`["card=1234", ...]` from `--var` options -> a mapping; malformed ones are refused.

    The value is never quoted in a message: it may be a secret. A name given twice and
    an empty value are refused (empty never means "use the default").
    """
    result: dict[str, str] = {}
    for number, item in enumerate(items, start=1):
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--var (the {_ordinal(number)} one) has no '=': write "
                               "--var NAME=VALUE, e.g. --var language=1")
        if not dtmf.NAME.fullmatch(name):
            raise InvalidInput(f"--var (the {_ordinal(number)} one): the name before '=' is "
                               "not a variable name (letters, digits and underscores)")
        if name in result:
            raise InvalidInput(f"--var {name}= is given twice; give it once")
        if value == "":
            raise InvalidInput(f"--var {name}= is empty; give a value, or leave the option "
                               "out to use the variable's other sources")
        result[name] = value
    return result


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def read_vars_file(path: str | Path) -> dict[str, str]:
    """A YAML mapping of variable names to quoted values, with located errors."""
    display = str(path)
    source = load(read_text(Path(path), display), display)
    if not isinstance(source.data, dict):
        raise FlowInvalid([source.problem((), "a vars file must be a mapping of name: \"value\"")])
    problems = list(source.problems)
    values: dict[str, str] = {}
    for name, value in source.data.items():
        trap = source.traps.get((name,))
        # Every value is quoted: unquoted, YAML 1.1 and 1.2 disagree on `09`, `0712`, `1e5`
        # (text, octal, a number), so an unquoted value is refused whatever it reads as.
        if isinstance(value, str) and (name,) not in source.unquoted_text:
            values[name] = value
        elif trap is not None or isinstance(value, (int, float, str)):
            # the value is not quoted back: it may be a secret
            problems.append(source.problem((name,), (
                f"{name}: values must be quoted text, so YAML cannot change them; "
                f'put the value in quotes: {name}: "..."')))
        else:
            problems.append(source.problem((name,), f"{name}: the value must be quoted text"))
    if problems:
        raise FlowInvalid(problems)
    return values


def resolve(flow: Flow, *, cli: Mapping[str, str] | None = None,
            file_values: Mapping[str, str] | None = None, file_name: str = "--vars-file",
            environ: Mapping[str, str] | None = None, row: Mapping[str, str] | None = None,
            row_where: Callable[[str], str] | None = None,
            row_origin: str = "the calls file") -> Bindings:
    """Resolve every declared variable; raise `InvalidInput` listing every problem.

    `row` holds one batch row's values (strongest of all); `row_where(name)` says where
    that row's cell for `name` stands, and problems of the row are reported there.
    """
    row = row or {}
    cli = cli or {}
    file_values = file_values or {}
    environ = os.environ if environ is None else environ
    lines: list[str] = []
    declared = list(flow.variables)
    names = Suggestions(declared)
    for origin, given in (("--var", cli), (file_name, file_values)):
        for name in given:
            if name not in flow.variables:
                close = names.closest(name)
                tip = f" (did you mean '{close}'?)" if close else ""
                known = ", ".join(declared) or "none"
                lines.append(f"{origin}: the flow declares no variable '{name}'{tip}; "
                             f"declared: {known}")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    used = {name for step in flow.steps if isinstance(step, Send)
            for name in dtmf.references(step.digits)}
    for name, var in flow.variables.items():
        at = f"{flow.path}:{var.line}:{var.column}"
        if row_where is not None:
            at = row_where(name)
        if name in row:
            value, origin = row[name], row_origin
        elif name in cli:
            value, origin = cli[name], f"--var {name}"
        elif name in file_values:
            value, origin = file_values[name], file_name
        elif var.env and var.env in environ:
            value, origin = environ[var.env], f"${var.env}"
        elif var.default is not None:
            value, origin = var.default, "its default"
        else:
            how = f"pass --var {name}=..., put it in a --vars-file"
            if row_where is not None:
                how = f"fill its '{name}' cell, " + how
            how += f", or set {var.env}" if var.env else ""
            lines.append(_at(at, f"variable '{name}' has no value: {how}"))
            continue
        if value == "":
            # empty is never a value: not from the environment (an unset shell variable
            # often exports as empty), a file or a default; a CSV's empty cell gives none
            lines.append(_at(at, f"variable '{name}': the value from {origin} is empty; give "
                                 "a value, or remove it to use the next source"))
            continue
        shown = "its value" if var.secret else f"value {value!r}"
        if var.pattern is not None and not patterns.fullmatch(var.pattern, value):
            lines.append(_at(at, f"variable '{name}': {shown} (from {origin}) does not match "
                                 f"its pattern {var.pattern}"))
            continue
        if name in used and not _DIGIT_VALUE.fullmatch(value):
            lines.append(_at(at, f"variable '{name}': {shown} (from {origin}) is sent as "
                                 "digits but holds characters other than 0-9 * # w W"))
            continue
        values[name] = value
        sources[name] = origin
    if not lines:
        bindings = Bindings(values, flow.secrets, sources)
        for step in flow.steps:
            if isinstance(step, Send) and not bindings.digits(step):
                lines.append(f"{flow.path}:{step.line}:{step.column}: step {step.number}: the "
                             "digits are empty once variables are filled in")
        if not lines:
            return bindings
    raise InvalidInput("\n".join(lines))


def _at(where: str, message: str) -> str:
    return f"{where}: {message}"
