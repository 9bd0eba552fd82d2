"""Read a menu model file: YAML -> `schemas/menu.schema.json` -> reference checks -> `Menu`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivrflow.errors import FlowInvalid, Problem
from ivrflow.language import schema
from ivrflow.language.durations import seconds
from ivrflow.language.suggest import Suggestions
from ivrflow.language.yamlsource import JsonPath, Source, load, read_text
from ivrflow.menu.model import Menu, Node

SCHEMA = "menu.schema.json"
ACTIONS = ("repeat", "hangup")
# A prompt or timeout is 0 or at least this long: a real prompt is never shorter, and a
# floor keeps a loop of announcements from making millions of events a second.
SHORTEST = 0.05


def load_menu(path: str | Path, *, speak: bool = False) -> Menu:
    """Read and check a menu file; raise `FlowInvalid` with every problem found.

    `speak`: the menu is about to play, so nodes with `say:` and no `prompt:` are timed by
    their synthesized speech (which needs the [listen] extra); without it the menu is only
    checked, and such nodes keep a prompt of 0 until timed (ivrflow.menu.voice).
    """
    display = str(path)
    menu = parse_menu(read_text(Path(path), display), display)
    if speak and menu.untimed:
        from ivrflow.menu.voice import time_by_speech

        menu = time_by_speech(menu)
    return menu


def parse_menu(text: str, display: str = "<menu>") -> Menu:
    source = load(text, display)
    if not isinstance(source.data, dict):
        raise FlowInvalid([source.problem((), "a menu must be a mapping with version, name, "
                                               "start and nodes")])
    problems = source.problems + [_as_menu(p) for p in schema.check(source, SCHEMA)]
    if problems:
        raise FlowInvalid(problems)
    problems = list(_reference_problems(source))
    if problems:
        raise FlowInvalid(problems)
    return _build(source)


def _as_menu(problem: Problem) -> Problem:
    """The schema layer speaks of flows; say menu where a menu file is meant."""
    message = problem.message.replace("the flow: ", "the menu: ").replace(
        "add a name such as `name: my-flow`", "add a name such as `name: my-menu`")
    return Problem(problem.path, problem.line, problem.column, message)


def _reference_problems(source: Source) -> list[Problem]:
    data: dict[str, Any] = source.data
    nodes: dict[str, Any] = data["nodes"]
    suggestions = Suggestions(nodes)
    problems: list[Problem] = []

    def unknown(path: JsonPath, target: str, what: str) -> None:
        close = suggestions.closest(target)
        tip = f" (did you mean '{close}'?)" if close else ""
        problems.append(source.problem(path, f"{schema.label(path)}: {what} '{target}' is not "
                                             f"a node of this menu{tip}"))

    if data["start"] not in nodes:
        unknown(("start",), data["start"], "start node")
    for name, node in nodes.items():
        here: JsonPath = ("nodes", name)
        for key in ("prompt", "timeout"):
            if key in node and 0 < seconds(node[key]) < SHORTEST:
                problems.append(source.problem((*here, key), (
                    f"nodes.{name}.{key}: {node[key]} is too short; use 0 or at least "
                    "50ms")))
        for key, target in (node.get("options") or {}).items():
            if target not in nodes:
                unknown((*here, "options", key), target, f"option {key} leads to")
        target = node.get("on_timeout")
        if target is not None and target not in ACTIONS and target not in nodes:
            unknown((*here, "on_timeout"), target, "on_timeout: neither repeat nor hangup, and")
        if "next" in node and node["next"] not in nodes:
            unknown((*here, "next"), node["next"], "next")
        kinds = [k for k in ("options", "collect") if k in node]
        if node.get("end") and kinds:
            problems.append(source.problem((*here, kinds[0]), (
                f"nodes.{name}: a final node (end: true) takes no input; remove {kinds[0]}")))
        if len(kinds) == 2:
            problems.append(source.problem((*here, "collect"), (
                f"nodes.{name}: a node either offers options or collects digits, not both")))
        collect = node.get("collect")
        if collect is not None:
            if "next" not in node:
                problems.append(source.problem((*here, "collect"), (
                    f"nodes.{name}: collect needs `next:`, the node to go to once the digits "
                    "are in")))
            if collect.get("min", 1) > collect.get("max", collect.get("min", 1)):
                problems.append(source.problem((*here, "collect", "min"), (
                    f"nodes.{name}.collect: min {collect['min']} is more than max "
                    f"{collect['max']}")))
            if "max" not in collect and "end" not in collect:
                problems.append(source.problem((*here, "collect"), (
                    f"nodes.{name}.collect: give max, end or both, or collection never ends")))
        elif "next" in node:
            problems.append(source.problem((*here, "next"), (
                f"nodes.{name}.next: only a collect node has next; use options or "
                "on_timeout to move on")))
    problems += _instant_loops(source, nodes)
    return problems


def _instant_loops(source: Source, nodes: dict[str, Any]) -> list[Problem]:
    """Nodes whose on_timeout chain comes back to them without any time passing."""
    def instant(name: str) -> str | None:
        node = nodes.get(name) or {}
        target = node.get("on_timeout")
        if seconds(node.get("prompt", 1)) + seconds(node.get("timeout", 5)) == 0 \
                and target in nodes:
            return str(target)
        return None

    problems: list[Problem] = []
    reported: set[str] = set()
    for start in nodes:
        chain, name = [start], instant(start)
        while name is not None and name not in chain:
            chain.append(name)
            name = instant(name)
        if name == start and not reported & set(chain):
            reported |= set(chain)
            loop = " -> ".join([*chain, start])
            problems.append(source.problem(("nodes", start), (
                f"nodes {loop} loop forever without time passing (prompt and timeout 0); "
                "give one of them a prompt or a timeout"), key=True))
    return problems


def _build(source: Source) -> Menu:
    data: dict[str, Any] = source.data
    nodes = {}
    for name, spec in data["nodes"].items():
        line, column = source.where(("nodes", name), key=True)
        collect = spec.get("collect") or {}
        nodes[name] = Node(
            name=name, prompt=seconds(spec["prompt"]) if "prompt" in spec else 0.0,
            say=spec.get("say"), timed_by_speech="prompt" not in spec,
            barge_in=spec.get("barge_in", True),
            timeout=seconds(spec.get("timeout", 5)), on_timeout=spec.get("on_timeout", "repeat"),
            max_repeats=spec.get("max_repeats", 2), options=dict(spec.get("options") or {}),
            collect_max=collect.get("max"), collect_end=collect.get("end"),
            collect_min=collect.get("min", 1), next=spec.get("next"),
            end=spec.get("end", False), line=line, column=column)
    return Menu(source.path, data["name"], data["start"], nodes)
