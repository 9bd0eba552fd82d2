"""Load a flow file: YAML -> schema -> recipe-level checks -> a typed `Flow`.

Every problem in the file is collected and raised together as `FlowInvalid`, each at its
line and column, so an author fixes them in one pass.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from ivrflow import digits as dtmf
from ivrflow import schema
from ivrflow.durations import format_seconds, seconds
from ivrflow.errors import FlowInvalid, Problem
from ivrflow.model import ConfirmLive, Flow, RetryPolicy, Send, Step, Variable, Wait
from ivrflow.yamlsource import Source, load, read_text

MAX_WAIT = 3600.0
MIN_INTERVAL = 0.1


def load_flow(path: str | Path) -> Flow:
    """Read and validate a flow file; raise `FlowInvalid` with every problem found."""
    display = str(path)
    return parse_flow(read_text(Path(path), display), display)


def parse_flow(text: str, display: str = "<flow>") -> Flow:
    """Validate flow text; `display` is the name used in messages."""
    source = load(text, display)
    if not isinstance(source.data, dict):
        raise FlowInvalid([source.problem((), (
            f"a flow must be a mapping with version, name and steps, not "
            f"{schema._describe(source.data)}"))])
    problems = source.problems + schema.check(source)
    flagged = {(p.line, p.column) for p in problems}
    # Recipe-level checks look only at parts of the right shape, so a file with schema
    # problems still gets every other problem reported in the same pass.
    problems += [p for p in _recipe_problems(source) if (p.line, p.column) not in flagged]
    if problems:
        raise FlowInvalid(problems)
    return _build(source)


def _seconds(value: Any) -> float | None:
    """Seconds in a duration, or None when it is not one (the schema reports that)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return seconds(value)
    except ValueError:
        return None


def _recipe_problems(source: Source) -> list[Problem]:
    """What JSON Schema cannot say: references, regexes, limits in units, the deadline."""
    data: dict[str, Any] = source.data
    problems: list[Problem] = []
    declared: dict[str, Any] = data["vars"] if isinstance(data.get("vars"), dict) else {}
    for name, spec in declared.items():
        pattern = spec.get("pattern") if isinstance(spec, dict) else None
        if not isinstance(pattern, str):
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            problems.append(source.problem(("vars", name, "pattern"),
                                           f"vars.{name}.pattern is not a valid regular "
                                           f"expression: {exc.msg}"))
            continue
        default = spec.get("default")
        if isinstance(default, str) and not compiled.fullmatch(default):
            shown = "its default" if spec.get("secret") else f"its default {default!r}"
            problems.append(source.problem(("vars", name, "default"),
                                           f"vars.{name}: {shown} does not match its pattern "
                                           f"{pattern}"))
    timeout = _seconds(data.get("timeout", 1800))
    if timeout == 0:
        problems.append(source.problem(("timeout",), "timeout must be more than 0"))
    steps: list[Any] = data["steps"] if isinstance(data.get("steps"), list) else []
    for index, step in enumerate(steps):
        where = ("steps", index)
        label = schema.label(where)
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("send"), str):
            for name in dtmf.references(step["send"]):
                if name not in declared:
                    close = difflib.get_close_matches(name, list(declared), 1)
                    tip = f"did you mean '{close[0]}'? " if close else ""
                    problems.append(source.problem((*where, "send"), (
                        f"{label}: ${{{name}}} is not a declared variable; {tip}"
                        f"declare it under vars: ({name}: {{}})")))
        elif "wait" in step:
            wait = step["wait"]
            if isinstance(wait, dict):
                until = _seconds(wait.get("until"))
                if until is not None and timeout is not None and until > timeout:
                    problems.append(source.problem((*where, "wait", "until"), (
                        f"{label}: waits until {format_seconds(until)}, after the flow's "
                        f"timeout of {format_seconds(timeout)}; raise timeout or shorten the wait"
                    )))
            elif isinstance(wait, str) and (_seconds(wait) or 0) > MAX_WAIT:
                problems.append(source.problem((*where, "wait"), (
                    f"{label}: one wait may last at most 1 hour, not {wait}; "
                    "split it into several waits if you really mean it")))
        elif isinstance(step.get("confirm_live"), dict):
            interval = step["confirm_live"].get("interval")
            every = _seconds(interval)
            if every is not None and every < MIN_INTERVAL:
                problems.append(source.problem((*where, "confirm_live", "interval"), (
                    f"{label}: interval {interval} would poll the API too fast; "
                    "use at least 100ms")))
    return problems


def _retry(spec: dict[str, Any] | None, base: RetryPolicy) -> RetryPolicy:
    if not spec:
        return base
    return RetryPolicy(
        attempts=spec.get("attempts", base.attempts),
        backoff=seconds(spec["backoff"]) if "backoff" in spec else base.backoff,
        max_backoff=seconds(spec["max_backoff"]) if "max_backoff" in spec else base.max_backoff,
        unknown=spec.get("unknown", base.unknown),
    )


def _build(source: Source) -> Flow:
    data: dict[str, Any] = source.data
    flow_retry = _retry(data.get("retry"), RetryPolicy())
    leg = data.get("leg", "aleg")
    variables = {}
    for name, spec in (data.get("vars") or {}).items():
        line, column = source.where(("vars", name), key=True)
        variables[name] = Variable(name=name, pattern=spec.get("pattern"),
                                   secret=spec.get("secret", False), env=spec.get("env"),
                                   default=spec.get("default"), line=line, column=column)
    steps: list[Step] = []
    for index, spec in enumerate(data["steps"]):
        line, column = source.where(("steps", index))
        common: dict[str, Any] = {"number": index + 1, "name": spec.get("name"),
                                  "line": line, "column": column}
        if "send" in spec:
            steps.append(Send(digits=spec["send"], leg=spec.get("leg", leg),
                              retry=_retry(spec.get("retry"), flow_retry), **common))
        elif "wait" in spec:
            wait = spec["wait"]
            if isinstance(wait, dict):
                steps.append(Wait(until=seconds(wait["until"]), **common))
            else:
                steps.append(Wait(seconds=seconds(wait), **common))
        else:
            options = spec["confirm_live"] if isinstance(spec["confirm_live"], dict) else {}
            steps.append(ConfirmLive(timeout=seconds(options.get("timeout", 30)),
                                     interval=seconds(options.get("interval", 1)),
                                     retry=_retry(spec.get("retry"), flow_retry), **common))
    return Flow(
        path=source.path, name=data["name"], steps=tuple(steps),
        description=data.get("description"), leg=leg,
        tone=seconds(data.get("tone", 0.25)), gap=seconds(data.get("gap", 0)),
        timeout=seconds(data.get("timeout", 1800)), retry=flow_retry, variables=variables,
    )
