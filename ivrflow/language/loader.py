"""Load a flow file: YAML -> schema -> recipe-level checks -> a typed `Flow`.

Every problem in the file is collected and raised together as `FlowInvalid`, each at its
line and column, so an author fixes them in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ivrflow.errors import FlowInvalid, Problem
from ivrflow.language import digits as dtmf
from ivrflow.language import patterns, schema
from ivrflow.language.durations import format_seconds, seconds
from ivrflow.language.inputfile import STDIN, STDIN_NAME
from ivrflow.language.model import (
    DEFAULT_LISTEN_MAX,
    DEFAULT_SILENCE,
    ConfirmLive,
    Expect,
    Flow,
    Listen,
    RetryPolicy,
    Send,
    Step,
    Variable,
    Wait,
)
from ivrflow.language.suggest import Suggestions
from ivrflow.language.timing import timeline
from ivrflow.language.yamlsource import JsonPath, Source, load, read_text

MAX_WAIT = 3600.0
MAX_DURATION = 86400.0
MAX_TONE = 5.0
MIN_INTERVAL = 0.1
MIN_SILENCE = 0.2
MAX_SILENCE = 10.0


def load_flow(path: str | Path) -> Flow:
    """Read and validate a flow file; raise `FlowInvalid` with every problem found."""
    display = STDIN_NAME if str(path) == STDIN else str(path)
    return parse_flow(read_text(Path(path), display), display)


def parse_flow(text: str, display: str = "<flow>") -> Flow:
    """Validate flow text; `display` is the name used in messages."""
    source = load(text, display)
    if not isinstance(source.data, dict):
        raise FlowInvalid([source.problem((), (
            f"a flow must be a mapping with version, name and steps, not "
            f"{schema.describe(source.data)}"))])
    problems = source.problems + schema.check(source)
    flagged = {(p.line, p.column) for p in problems}
    # Recipe-level checks look only at parts of the right shape, so a file with schema
    # problems still gets its other problems reported in the same pass. A value the schema
    # already refused is not judged again, except for what only these checks can see.
    for _, problem, always in _recipe_problems(source):
        if always or (problem.line, problem.column) not in flagged:
            problems.append(problem)
    if problems:
        raise FlowInvalid(problems)
    flow = _build(source)
    problems = list(_timeline_problems(flow)) + list(_expect_problems(flow, source))
    if problems:
        raise FlowInvalid(problems)
    return flow


def _expect_problems(flow: Flow, source: Source) -> Iterator[Problem]:
    """An `expect` block must name a readable menu, one of its nodes, declared variables."""
    expect = flow.expect
    if expect is None:
        return
    names = Suggestions(flow.variables)
    for name in expect.values:
        if name not in flow.variables:
            close = names.closest(name)
            tip = f" (did you mean '{close}'?)" if close else ""
            yield source.problem(("expect", "vars", name), (
                f"expect.vars: '{name}' is not a declared variable{tip}"), key=True)
    from ivrflow.menu.loader import load_menu

    written = source.data["expect"]["menu"]
    if Path(written).is_absolute() or not written.endswith((".menu.yaml", ".menu.yml")):
        # a recipe must not make the test runner read (and quote) any file it likes
        yield source.problem(("expect", "menu"), (
            f"expect.menu: '{written}' must be a relative path to a *.menu.yaml file"))
        return
    target = Path(expect.menu).resolve()
    roots = (Path(flow.path).resolve().parent, Path.cwd().resolve())
    if not any(target.is_relative_to(root) for root in roots):
        # a link or ../ out of the recipes' tree could make the test runner quote any file
        yield source.problem(("expect", "menu"), (
            f"expect.menu: '{written}' leads outside this recipe's folder and the current "
            "directory (after following links); keep menu files in the recipes' tree"))
        return
    if not Path(expect.menu).is_file():
        looked = f" (looked for {expect.menu})" if expect.menu != written else ""
        yield source.problem(("expect", "menu"), (
            f"expect.menu: no menu file '{written}'{looked}; the path is relative to this "
            "flow file"))
        return
    try:
        menu = load_menu(expect.menu)
    except FlowInvalid as invalid:  # the menu's own problems, located in the menu file
        yield from invalid.problems
        return
    if expect.reach not in menu.nodes:
        node = Suggestions(menu.nodes).closest(expect.reach)
        tip = f" (did you mean '{node}'?)" if node else ""
        yield source.problem(("expect", "reach"), (
            f"expect.reach: '{expect.reach}' is not a node of {written}{tip}"))


def _seconds(value: Any) -> float | None:
    """Seconds in a duration, or None when it is not one (the schema reports that)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        result = seconds(value)
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def _durations(data: dict[str, Any]) -> Iterator[tuple[JsonPath, Any]]:
    """Every place a duration may stand, with its value."""
    for key in ("tone", "gap", "timeout"):
        if key in data:
            yield (key,), data[key]
    if isinstance(data.get("listen"), dict) and "silence" in data["listen"]:
        yield ("listen", "silence"), data["listen"]["silence"]
    retries: list[tuple[JsonPath, Any]] = [(("retry",), data.get("retry"))]
    steps: list[Any] = data["steps"] if isinstance(data.get("steps"), list) else []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here: JsonPath = ("steps", index)
        retries.append(((*here, "retry"), step.get("retry")))
        wait, live = step.get("wait"), step.get("confirm_live")
        if isinstance(wait, dict) and "until" in wait:
            yield (*here, "wait", "until"), wait["until"]
        elif isinstance(wait, dict):
            for key in ("silence", "max"):
                if key in wait:
                    yield (*here, "wait", key), wait[key]
        elif "wait" in step and not isinstance(wait, dict):
            yield (*here, "wait"), wait
        if isinstance(live, dict):
            for key in ("timeout", "interval"):
                if key in live:
                    yield (*here, "confirm_live", key), live[key]
    for path, retry in retries:
        if isinstance(retry, dict):
            for key in ("backoff", "max_backoff"):
                if key in retry:
                    yield (*path, key), retry[key]


def _recipe_problems(source: Source) -> Iterator[tuple[JsonPath, Problem, bool]]:
    """What JSON Schema cannot say: references, regexes, limits in units, the deadline.

    Yields (path, problem, always): `always` problems are reported even where the schema
    already found something, because the schema cannot see them.
    """
    data: dict[str, Any] = source.data

    def problem(path: JsonPath, message: str, always: bool = False
                ) -> tuple[JsonPath, Problem, bool]:
        return path, source.problem(path, f"{schema.label(path)}: {message}"), always

    declared: dict[str, Any] = data["vars"] if isinstance(data.get("vars"), dict) else {}
    for name, spec in declared.items():
        if isinstance(spec, dict) and spec.get("default") == "":
            yield problem(("vars", name, "default"), (
                "an empty default is never a value (empty means nothing, everywhere); give "
                "a value, or remove default so that the variable must be given"))
        pattern = spec.get("pattern") if isinstance(spec, dict) else None
        if not isinstance(pattern, str):
            continue
        try:
            patterns.compile_pattern(pattern)
        except patterns.BadPattern as bad:
            yield problem(("vars", name, "pattern"),
                          f"not a valid regular expression: {bad.reason}")
            continue
        default = spec.get("default")
        if isinstance(default, str) and not patterns.fullmatch(pattern, default):
            shown = "the secret default" if spec.get("secret") else f"'{default}'"
            yield problem(("vars", name, "default"), f"{shown} does not match the pattern "
                                                     f"{pattern}")

    for path, value in _durations(data):
        amount = _seconds(value)
        if amount is None:
            continue
        if amount > MAX_DURATION:
            shown = value if len(str(value)) <= 16 else f"{str(value)[:12]}..."
            yield problem(path, f"{shown} is longer than 24 hours")
        elif path[-1] == "wait" and isinstance(value, str) and amount > MAX_WAIT:
            yield problem(path, f"one wait may last at most 1 hour, not {value}; split it "
                                "into several waits if you really mean it")
        elif path[-1] == "max" and amount > MAX_WAIT:
            yield problem(path, f"a listening wait may last at most 1 hour, not {value}")
        elif path[-1] == "silence" and not MIN_SILENCE <= amount <= MAX_SILENCE:
            yield problem(path, f"{value} cannot end a prompt: use 200ms to 10s (pauses "
                                "inside a prompt are shorter than a second; 1.2s is usual)")
        elif path == ("tone",) and amount > MAX_TONE:
            yield problem(path, f"{value} means {format_seconds(amount)} per digit; did you "
                                f"mean {value}ms?" if not isinstance(value, str) else
                                f"{value} per digit is longer than any keypad tone "
                                f"(at most {MAX_TONE:g}s)")
        elif path[-1] == "interval" and amount < MIN_INTERVAL:
            yield problem(path, f"{value} would poll the API too fast; use at least 100ms")
        elif path == ("timeout",) and amount == 0:
            yield problem(path, "must be more than 0")

    timeout = _seconds(data.get("timeout", 1800))
    names = Suggestions(declared)
    steps: list[Any] = data["steps"] if isinstance(data.get("steps"), list) else []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here: JsonPath = ("steps", index)
        if isinstance(step.get("send"), str):
            for name in dtmf.references(step["send"]):
                if dtmf.NAME.fullmatch(name) and name not in declared:
                    close = names.closest(name)
                    tip = f"did you mean ${{{close}}}? Otherwise d" if close else "D"
                    yield problem((*here, "send"), (
                        f"${{{name}}} is not a declared variable; {tip}eclare it under vars: "
                        f"({name}: {{}})"), always=True)
        wait = step.get("wait")
        if isinstance(wait, dict):
            until = _seconds(wait.get("until"))
            if until is not None and timeout is not None and timeout < until <= MAX_DURATION:
                yield problem((*here, "wait", "until"), (
                    f"waits until {format_seconds(until)}, after the flow's timeout of "
                    f"{format_seconds(timeout)}; raise timeout or shorten the wait"))
            if "until" not in wait:
                yield from _listening_problems(wait, here, data, problem)
        retry = step.get("retry")
        if "confirm_live" in step and isinstance(retry, dict) and "unknown" in retry:
            yield problem((*here, "retry", "unknown"),
                          "applies to send steps only: a live-call check has no side effect "
                          "and is always retried")


def _listening_problems(wait: dict[str, Any], here: JsonPath, data: dict[str, Any],
                        problem: Callable[..., tuple[JsonPath, Problem, bool]]
                        ) -> Iterator[tuple[JsonPath, Problem, bool]]:
    """A listening wait whose parts cannot work together."""
    if wait.get("barge") is True and "heard" not in wait:
        yield problem((*here, "wait", "barge"), (
            "barge ends the wait as soon as a phrase is heard: give the phrases in heard, "
            "or remove barge"))
    defaults: dict[str, Any] = data["listen"] if isinstance(data.get("listen"), dict) else {}
    silence = _seconds(wait.get("silence", defaults.get("silence", DEFAULT_SILENCE)))
    longest = _seconds(wait.get("max", DEFAULT_LISTEN_MAX))
    if silence is not None and longest is not None and longest <= silence \
            and MIN_SILENCE <= silence <= MAX_SILENCE:  # a bad silence is reported itself
        yield problem((*here, "wait", "max" if "max" in wait else "silence"), (
            f"max {format_seconds(longest)} leaves no time for the prompt: it must be longer "
            f"than the silence that ends it ({format_seconds(silence)})"))
    timeout = _seconds(data.get("timeout", 1800))
    if longest is not None and timeout is not None and longest > timeout \
            and longest <= MAX_WAIT and "max" in wait:
        yield problem((*here, "wait", "max"), (
            f"max {format_seconds(longest)} is past the flow's timeout of "
            f"{format_seconds(timeout)}; raise timeout or lower max"))
    heard = wait.get("heard")
    phrases = [heard] if isinstance(heard, str) else heard if isinstance(heard, list) else []
    seen: dict[str, int] = {}
    for index, phrase in enumerate(phrases):
        if not isinstance(phrase, str):
            continue
        words = normal_phrase(phrase)
        where = (*here, "wait", "heard") if isinstance(heard, str) else \
            (*here, "wait", "heard", index)
        if words in seen:
            yield problem(where, f"'{phrase}' is the same phrase as number {seen[words] + 1} "
                                 "(case and punctuation do not count)")
        seen.setdefault(words, index)


def normal_phrase(phrase: str) -> str:
    """A phrase as the recognizer compares it: lowercase, punctuation gone, single spaces."""
    kept = "".join(c if c.isalnum() or c == "'" else " " for c in phrase.lower())
    return " ".join(kept.split())


def _timeline_problems(flow: Flow) -> Iterator[Problem]:
    """A step that cannot start before the flow's timeout, even with instant answers."""
    # at least the literal digits play; variables only add more
    for step, _, end in timeline(flow, lambda send: dtmf.REFERENCE.sub("", send.digits)):
        if end > flow.timeout:
            yield Problem(flow.path, step.line, step.column, (
                f"step {step.number}: the flow reaches {format_seconds(end)} here at the "
                f"earliest, past its timeout of {format_seconds(flow.timeout)}; raise "
                "timeout or shorten the waits"))
            return


def _retry(spec: dict[str, Any] | None, base: RetryPolicy) -> RetryPolicy:
    if not spec:
        return base
    return RetryPolicy(
        attempts=int(spec.get("attempts", base.attempts)),
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
    listen: dict[str, Any] = data.get("listen") or {}
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
            if isinstance(wait, dict) and "until" in wait:
                steps.append(Wait(until=seconds(wait["until"]), **common))
            elif isinstance(wait, dict):
                heard = wait.get("heard", [])
                phrases = [heard] if isinstance(heard, str) else heard
                steps.append(Listen(
                    silence=seconds(wait.get("silence", listen.get("silence",
                                                                  DEFAULT_SILENCE))),
                    max=seconds(wait.get("max", DEFAULT_LISTEN_MAX)),
                    heard=tuple(normal_phrase(p) for p in phrases),
                    barge=wait.get("barge", False), **common))
            else:
                steps.append(Wait(seconds=seconds(wait), **common))
        else:
            options = spec["confirm_live"] if isinstance(spec["confirm_live"], dict) else {}
            steps.append(ConfirmLive(timeout=seconds(options.get("timeout", 30)),
                                     interval=seconds(options.get("interval", 1)),
                                     retry=_retry(spec.get("retry"), flow_retry), **common))
    expect = None
    if "expect" in data:
        spec = data["expect"]
        line, column = source.where(("expect", "reach"))
        menu = str(Path(source.path).parent / spec["menu"])
        expect = Expect(menu=menu, reach=spec["reach"], values=dict(spec.get("vars") or {}),
                        line=line, column=column)
    return Flow(
        expect=expect,
        path=source.path, name=data["name"], steps=tuple(steps),
        description=data.get("description"), leg=leg,
        tone=seconds(data.get("tone", 0.25)), gap=seconds(data.get("gap", 0)),
        timeout=seconds(data.get("timeout", 1800)), retry=flow_retry, variables=variables,
        track=listen.get("track", "inbound"), answered_by=data.get("answered_by"),
    )
