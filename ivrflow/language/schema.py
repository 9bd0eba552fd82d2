"""The flow JSON Schema: where it lives, and its verdicts as located, readable problems.

`schemas/flow.schema.json` is the single source of truth for the format. jsonschema's own
messages are written for schema authors ("... is not valid under any of the given
schemas"); this module turns each error into one sentence for a recipe author, placed at
the line and column of the offending value, and, for a `oneOf` between step kinds, reports
only the branch the author evidently meant.

The schemas also carry keywords for editors (the YAML language server): `default`,
`markdownDescription`, `patternErrorMessage`, `errorMessage` and `defaultSnippets`. The CLI's
hints come from `x-hint`. A rule marked `"x-loader-reports": [keyword, ...]` is one the
loaders check too, in their own words (often clearer, as they know the units): the schema
states it for editors and other validators, and this module stays silent about it, so a
problem is reported once, in the loader's words.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ivrflow.errors import Problem
from ivrflow.language.yamlsource import JsonPath, Source, Trap

ACTIONS = ("wait", "send", "confirm_live")
LISTENING = ("silence", "heard", "max", "barge")  # the keys of a listening wait


def schema_text(name: str = "flow.schema.json") -> str:
    """The text of a bundled schema: from the installed package, else from the repository."""
    packaged = resources.files("ivrflow").joinpath("schemas", name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "schemas" / name).read_text(encoding="utf-8")


@cache
def validator(name: str = "flow.schema.json") -> Draft202012Validator:
    schema = json.loads(schema_text(name))
    return Draft202012Validator(schema)


def check(source: Source, name: str = "flow.schema.json") -> list[Problem]:
    """Every problem the schema `name` finds in a loaded document, plus its YAML traps."""
    problems: list[Problem] = []
    flagged: set[JsonPath] = set()
    hidden = _secret_paths(source.data)
    for error in validator(name).iter_errors(source.data):
        for path, message, at_key in _explain(error, source):
            if any(path[:n] in source.broken for n in range(len(path) + 1)):
                continue  # the reader has already said why this value is unusable
            if path in hidden and not at_key:
                message = _hidden_message(path)
            problems.append(source.problem(path, message, key=at_key))
            flagged.add(path)
    for path, trap in source.traps.items():
        if path not in flagged:
            message = _hidden_message(path) if path in hidden else _trap_message(path, trap, None)
            problems.append(source.problem(path, message))
    return problems


def _secret_paths(data: Any) -> set[JsonPath]:
    """Where a value may be a secret's: a secret variable's default, and the test values
    (`expect.vars`) of secret or undeclared variables. Messages never quote them."""
    if not isinstance(data, dict):
        return set()
    given_vars = data.get("vars")
    declared: dict[str, Any] = given_vars if isinstance(given_vars, dict) else {}
    secret = {name for name, spec in declared.items()
              if not isinstance(spec, dict) or spec.get("secret") not in (False, None)}
    paths: set[JsonPath] = {("vars", name, "default") for name in secret}
    expect = data.get("expect")
    given = expect.get("vars") if isinstance(expect, dict) else None
    if isinstance(given, dict):
        paths |= {("expect", "vars", name) for name in given
                  if name in secret or name not in declared}
    return paths


def _hidden_message(path: JsonPath) -> str:
    return (f"{label(path)} must be quoted text, so YAML cannot change it (the value is not "
            f'shown: it may be a secret); write it in quotes: "..."')


def label(path: JsonPath) -> str:
    """`('steps', 2, 'retry', 'attempts')` -> 'step 3 retry.attempts'."""
    if not path:
        return "the flow"
    if path[0] == "steps" and len(path) > 1:
        head = f"step {int(path[1]) + 1}"
        rest = ".".join(str(p) for p in path[2:])
        return f"{head} {rest}" if rest else head
    return ".".join(str(p) for p in path)


def describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "text (quoted)",
               "integer": "a whole number", "number": "a number", "boolean": "true or false"}
_TRAP_READING = {"octal": "the octal number {value}", "sexagesimal": "{value} (base 60)",
                 "number": "the number {value}", "boolean": "the boolean {value}",
                 "yaml12": "the number {value}"}


def _expected(types: str | list[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_WORDS.get(t, t) for t in names)


def _is_duration(path: JsonPath) -> bool:
    return bool(path) and path[-1] in ("wait", "until", "tone", "gap", "timeout", "backoff",
                                       "max_backoff", "interval")


def _trap_message(path: JsonPath, trap: Trap, wanted: str | None) -> str:
    """What a YAML 1.1 trap did, and the fix that suits the key (`wanted`: what it needs)."""
    where = label(path)
    shown = str(trap.value).lower() if isinstance(trap.value, bool) else trap.value
    if isinstance(trap.value, float) and not math.isfinite(trap.value):
        return f"{where}: {trap.text} is not a finite number; write a number such as 4"
    reading = _TRAP_READING[trap.kind].format(value=shown)
    said = f"{where}: {trap.text} is read by YAML 1.1 as {reading}"
    if trap.kind == "yaml12":
        said = (f"{where}: {trap.text} is read by YAML 1.2 (editors, most tools) as "
                f"{reading}")
    if path[-1:] == ("send",):
        return (f"{where}: {trap.text} is not quoted, so YAML reads it as {reading}, which "
                f'would never be sent as written; quote the digits: send: "{trap.text}"')
    if wanted == "string":
        return f'{said}; quote it: "{trap.text}"'
    if wanted is not None:  # an enum or constant: name the choices
        return f"{said}; use {wanted}"
    if trap.kind == "boolean":
        return f"{said}; write {shown} instead of {trap.text}"
    if trap.kind == "sexagesimal" and _is_duration(path):
        return f"{said}; write a duration with a unit, e.g. {trap.value}s"
    if trap.kind == "octal":
        return f"{said}; write it without the leading zero"
    return f"{said}; write the number plainly, e.g. {trap.value}"


def _wanted(kind: str, rule: Any) -> str | None:
    """What a failed type/enum/const rule needed, in words for a trap message."""
    if kind == "type":
        return "string" if "string" in ([rule] if isinstance(rule, str) else rule) else None
    if kind == "enum":
        return "one of " + ", ".join(str(o) for o in rule)
    if kind == "const":
        return str(rule)
    return None


def _explain(error: ValidationError, source: Source) -> Iterator[tuple[JsonPath, str, bool]]:
    """Yield (path, message, point-at-key) for one jsonschema error."""
    path: JsonPath = tuple(error.absolute_path)
    where = label(path)
    kind = error.validator
    value: Any = error.instance
    rule: Any = error.validator_value
    subschema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if kind in subschema.get("x-loader-reports", ()):
        return  # the loader reports this rule itself, in its own words
    hint = subschema.get("x-hint")
    trap = source.traps.get(path)
    written = source.plain.get(path)
    if kind in ("oneOf", "anyOf"):
        yield from _explain_choice(error, source)
        return
    if "propertyNames" in error.relative_schema_path:
        yield (*path, value), f"{where}: invalid name '{value}': {hint or error.message}", True
        return
    if trap is not None and kind in ("type", "enum", "const", "pattern"):
        yield path, _trap_message(path, trap, _wanted(str(kind), rule)), False
        return
    if kind == "type":
        yield path, _type_message(path, value, rule, hint, written, source), False
    elif kind == "const" and path == ("version",):
        if isinstance(value, str):
            yield path, (f"version must be the number 1, not the text '{value}': write "
                         "version: 1 without quotes"), False
        elif value is None:
            yield path, "version is empty: write version: 1", False
        else:
            yield path, (f"version {written or value} is not supported: this ivrflow reads "
                         "version 1 (write version: 1)"), False
    elif kind == "enum":
        options = ", ".join(str(o) for o in rule)
        if isinstance(value, (dict, list)) or value is None:
            yield path, f"{where} must be one of {options}, not {describe(value)}", False
            return
        message = f"{where}: '{written or value}' is not one of {options}"
        close = difflib.get_close_matches(str(value), [str(o) for o in rule], 1)
        if close:
            message += f" (did you mean {close[0]}?)"
        yield path, message, False
    elif kind == "required":
        typos = _extra_keys(value, subschema)
        for missing in rule:
            if not isinstance(value, dict) or missing in value:
                continue
            if difflib.get_close_matches(missing, typos, 1, 0.6):
                continue  # the unknown-key message already suggests it
            yield path, _missing_message(path, missing), bool(path)
    elif kind == "additionalProperties":
        allowed = sorted(subschema.get("properties", {}))
        for key in _extra_keys(value, subschema):
            yield (*path, key), _unknown_key_message(where, key, allowed), True
    elif kind == "minItems" and path == ("steps",):
        yield path, "steps is empty: a flow needs at least one step", False
    elif kind == "minItems":
        yield path, f"{where} is empty: it needs at least {rule} item(s)", False
    elif kind == "maxItems":
        yield path, f"{where} has {len(value)} items; the limit is {rule}", False
    elif kind == "pattern":
        yield path, _pattern_message(path, value, rule, hint), False
    elif kind in ("minimum", "exclusiveMinimum"):
        if rule == 0:
            yield path, f"{where} must not be negative (got {written or value})", False
        else:
            extra = "; 1 means no retry" if path[-1:] == ("attempts",) else ""
            yield path, f"{where} must be at least {rule} (got {written or value}){extra}", False
    elif kind == "maximum":
        if path and path[-1] == "wait":
            yield path, (f"{where}: one wait may last at most 1 hour (3600 s), not {value} s; "
                         "split it into several waits if you really mean it"), False
        else:
            yield path, f"{where} must be at most {rule} (got {written or value})", False
    elif kind == "maxLength":
        yield path, (f"{where} is {len(value)} characters long; the limit is {rule}"), False
    elif kind == "minLength":
        yield path, f"{where} must not be empty", False
    else:  # pragma: no cover - a keyword the schema does not use yet
        yield path, f"{where}: {error.message}", False


def _type_message(path: JsonPath, value: Any, rule: Any, hint: str | None, written: str | None,
                  source: Source) -> str:
    where = label(path)
    if path[-1:] == ("send",):
        if value is None:
            line = source.where(path)[0]
            rest = source.text.splitlines()[line - 1].partition("send:")[2].strip()
            if rest.startswith("#"):
                return (f"{where} has no digits (a `#` starts a YAML comment); quote the "
                        f'digits: send: "{rest.split()[0]}"')
            return f'{where} has no digits; write them quoted: send: "1"'
        if isinstance(value, (int, float, bool)):
            return (f"{where}: digits must be quoted text, not {describe(value)}; quote "
                    f'them: send: "{written or value}"')
    if path[-1:] == ("default",) and len(path) == 3 and path[0] == "vars":
        return f'{where} must be quoted text; write default: "..."'
    message = f"{where} must be {_expected(rule)}, not {describe(value)}"
    return f"{message}: {hint}" if hint else message


def _missing_message(path: JsonPath, key: str) -> str:
    if not path:
        hints = {"version": "add `version: 1` at the top",
                 "name": "add a name such as `name: my-flow`",
                 "steps": "add a list of steps under `steps:`"}
        return f"missing required key '{key}': {hints.get(key, '')}".rstrip(": ")
    if path[:1] == ("steps",) and len(path) >= 2 and key == "until":
        return f"{label(path)} needs `until:` (for example wait: {{until: 12s}})"
    return f"{label(path)} is missing required key '{key}'"


def _extra_keys(value: Any, schema: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict) or schema.get("additionalProperties") is not False:
        return []
    known = schema.get("properties", {})
    return [k for k in value if k not in known]


def _unknown_key_message(where: str, key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, 1, 0.6)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    return f"{where}: unknown key '{key}'; {suggestion}allowed keys: {', '.join(allowed)}"


def _pattern_message(path: JsonPath, value: Any, pattern: str, hint: str | None) -> str:
    where = label(path)
    if path[-1:] == ("send",):
        from ivrflow.language.digits import explain_bad_digits

        return f"{where}: {explain_bad_digits(str(value))}"
    if _is_duration(path) and isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            return f"{where}: a duration cannot be negative (got '{value}')"
        if text[-1:].isupper() or text[-2:] == "MS":
            return f"{where}: invalid duration '{value}': units are lowercase: ms, s, m"
        long = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?(?:ms|s|m)", value)
        if long is not None and len(long[1]) > 9:
            return f"{where}: {value[:12]}... is longer than 24 hours"
        if long is not None:
            return f"{where}: {value}: write at most 6 digits after the decimal point"
    if hint:
        return f"{where}: invalid value '{value}': {hint}"
    return f"{where}: '{value}' does not match {pattern}"  # pragma: no cover - all have hints


def _explain_choice(error: ValidationError, source: Source) -> Iterator[tuple[JsonPath, str, bool]]:
    """Report a failed oneOf/anyOf as the one branch the author evidently meant."""
    path: JsonPath = tuple(error.absolute_path)
    value = error.instance
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)

    if path[:1] == ("steps",) and len(path) == 2:  # a step: choose by its action key
        if not isinstance(value, dict):
            tip = ""
            if isinstance(value, str) and value.split(" ", 1)[0] in ACTIONS and " " in value:
                action, argument = value.split(" ", 1)
                tip = f' (did you mean - {action}: "{argument.strip()}"?)' if action == "send" \
                    else f" (did you mean - {action}: {argument.strip()}?)"
            yield path, (f"{label(path)} must be a mapping with one of wait, send or "
                         f"confirm_live, not {describe(value)}{tip}"), False
            return
        present = sorted((a for a in ACTIONS if a in value),
                         key=lambda a: source.where((*path, a), key=True))
        if len(present) > 1:
            yield (*path, present[1]), (
                f"{label(path)} has {len(present)} actions ({', '.join(present)}); a step does "
                "exactly one thing: split it into separate steps"), True
            return
        if not present:
            unknown = [k for k in value if k not in ("name", "leg", "retry")]
            if unknown:
                key = unknown[0]
                close = difflib.get_close_matches(key, ACTIONS, 1, 0.6)
                tip = f"did you mean '{close[0]}'? " if close else ""
                yield (*path, key), (f"{label(path)}: unknown key '{key}'; {tip}"
                                     "a step needs one of wait, send, confirm_live"), True
            else:
                yield path, f"{label(path)} has no action: add one of wait, send, confirm_live", \
                    False
            return
        chosen: int | None = ACTIONS.index(present[0])
    elif path[-1:] == ("wait",) and isinstance(value, dict) and "until" in value and any(
            key in value for key in LISTENING):
        keys = ", ".join(key for key in value if key in LISTENING)
        yield path, (f"{label(path)}: until waits for a time, {keys} for the IVR; a wait does "
                     "one of them: split it into two waits"), False
        return
    elif error.validator == "anyOf" and by_branch and all(
            e.validator == "required" for errors in by_branch.values() for e in errors):
        needed = [key for errors in by_branch.values() for e in errors
                  for key in (e.validator_value if isinstance(e.validator_value, list) else [])]
        typos = _extra_keys(value, error.schema) if isinstance(error.schema, dict) else []
        if any(difflib.get_close_matches(key, typos, 1, 0.6) for key in needed):
            return  # the unknown-key message already suggests the key it needs
        hint = error.schema.get("x-hint", "") if isinstance(error.schema, dict) else ""
        yield path, f"{label(path)}: {hint}", False  # none of the keys one of which it needs
        return
    else:
        branches = error.schema.get(str(error.validator), []) \
            if isinstance(error.schema, dict) else []
        chosen = _closest_branch(by_branch, branches, value)
    if chosen is None:
        hint = error.schema.get("x-hint", "") if isinstance(error.schema, dict) else ""
        if value is None:
            yield path, f"{label(path)} has no value: {hint}", False
        else:
            yield path, f"{label(path)}: {hint}, not {describe(value)}", False
        return
    for sub in by_branch.get(chosen, []):
        yield from _explain(sub, source)
    if chosen not in by_branch:  # matched more than one branch: cannot happen with our schema
        yield path, f"{label(path)}: ambiguous value", False  # pragma: no cover


def _closest_branch(by_branch: dict[int, list[ValidationError]], branches: list[Any],
                    value: Any) -> int | None:
    """The branch whose type fits the value (a mapping or a scalar) and, among mappings,
    the one that knows most of its keys (`{until: ..}` or a listening wait); the first on
    a tie."""
    fitting = [index for index in sorted(by_branch)
               if not any(e.validator in ("type", "const") and not e.relative_path
                          for e in by_branch[index])]
    if not fitting:
        return None

    def known(index: int) -> float:
        """Keys of the value the branch knows; a near miss (a typo) counts half."""
        branch = branches[index] if index < len(branches) else {}
        names = list(branch.get("properties", {})) if isinstance(branch, dict) else []
        if not isinstance(value, dict):
            return 0
        return sum(1.0 if key in names else
                   0.5 if difflib.get_close_matches(str(key), names, 1, 0.6) else 0.0
                   for key in value)

    return max(fitting, key=lambda index: (known(index), -index))
