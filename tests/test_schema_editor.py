"""The schemas as editors (the YAML language server) and other validators read them.

Defaults that equal what the loaders really use, the friendly hints in the keywords editors
show (`markdownDescription`, `patternErrorMessage`), labelled `defaultSnippets` instead of
object examples, and the checks the raw schemas now make by themselves, each tried both
ways with jsonschema alone. Where a loader checks the same rule, the CLI still reports one
located message in the loader's words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ivrflow.errors import FlowInvalid
from ivrflow.language.durations import seconds
from ivrflow.language.loader import parse_flow
from ivrflow.language.yamlsource import load
from ivrflow.menu.loader import parse_menu

SCHEMAS = {name: json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text("utf-8"))
           for name in ("flow", "menu")}
FLOW, MENU = SCHEMAS["flow"], SCHEMAS["menu"]
# values, not schemas: their mappings are documents, not keywords
DATA_KEYWORDS = ("default", "examples", "defaultSnippets", "const", "enum")


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema (a mapping) of a schema, with its JSON pointer."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            if key not in DATA_KEYWORDS:
                yield from walk(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


def resolve(schema: dict[str, Any], pointer: str) -> Any:
    node: Any = schema
    for part in pointer.strip("/").split("/") if pointer else []:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def validator(name: str, pointer: str = "") -> Draft202012Validator:
    """A jsonschema validator for a schema (or one of its subschemas), asserting formats."""
    root = SCHEMAS[name]
    registry: Registry[Any] = Registry().with_resource(root["$id"],
                                                       Resource.from_contents(root))
    return Draft202012Validator({"$ref": f"{root['$id']}#{pointer}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def keywords(name: str, document: Any) -> set[str]:
    """The keywords whose rules `document` breaks, nested oneOf branches included."""
    found: set[str] = set()

    def collect(errors: Any) -> None:
        for error in errors:
            found.add(str(error.validator))
            collect(error.context or [])

    collect(validator(name).iter_errors(document))
    return found


def test_schemas_are_valid_draft_2020_12() -> None:
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)


DOCUMENTS = sorted([*(ROOT / "flows").glob("*.yaml"), *(ROOT / "tests/flows/valid").glob("*.yaml"),
                    *(ROOT / "examples").rglob("*.yaml")])


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if "pre-commit" not in p.name],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_valid_document_passes_the_raw_schema(path: Path) -> None:
    data = load(path.read_text(encoding="utf-8"), path.name).data
    name = "menu" if path.name.endswith(".menu.yaml") else "flow"
    assert [e.message for e in validator(name).iter_errors(data)] == []


# --- the new checks, both ways ----------------------------------------------------------

def flow(extra: str = "", steps: str = "  - send: '1'\n") -> dict[str, Any]:
    text = f"version: 1\nname: x\n{extra}steps:\n{steps}"
    return load(text, "x.yaml").data  # type: ignore[no-any-return]


def menu(node: str) -> dict[str, Any]:
    text = f"version: 1\nname: m\nstart: a\nnodes:\n  a: {node}\n  b: {{prompt: 1s}}\n"
    return load(text, "m.yaml").data  # type: ignore[no-any-return]


CHECKS = [  # (what, schema, a valid document, an invalid one, the keyword that refuses it)
    ("variable pattern is a regex", "flow",
     flow("vars:\n  c: {pattern: '^[0-9]{16}$'}\n"), flow("vars:\n  c: {pattern: '[0-9'}\n"),
     "format"),
    ("variable pattern length", "flow",
     flow(f"vars:\n  c: {{pattern: '{'a' * 1000}'}}\n"),
     flow(f"vars:\n  c: {{pattern: '{'a' * 1001}'}}\n"), "maxLength"),
    ("tone at most 5 s", "flow", flow("tone: 5\n"), flow("tone: 6\n"), "maximum"),
    ("timeout more than 0", "flow", flow("timeout: 0.5\n"), flow("timeout: 0\n"),
     "exclusiveMinimum"),
    ("timeout at most 24 hours", "flow", flow("timeout: 86400\n"), flow("timeout: 86401\n"),
     "maximum"),
    ("gap at most 24 hours", "flow", flow("gap: 86400\n"), flow("gap: 86401\n"), "maximum"),
    ("backoff at most 24 hours", "flow", flow("retry: {max_backoff: 86400}\n"),
     flow("retry: {max_backoff: 86400.5}\n"), "maximum"),
    ("until at most 24 hours", "flow", flow(steps="  - wait: {until: 1200}\n"),
     flow(steps="  - wait: {until: 90000}\n"), "maximum"),
    ("interval at least 100 ms", "flow", flow(steps="  - confirm_live: {interval: 0.1}\n"),
     flow(steps="  - confirm_live: {interval: 0.05}\n"), "minimum"),
    ("unknown refused on confirm_live", "flow",
     flow(steps="  - confirm_live: true\n    retry: {attempts: 2}\n"
                "  - send: '1'\n    retry: {unknown: true}\n"),
     flow(steps="  - confirm_live: true\n    retry: {unknown: true}\n"), "not"),
    ("collect needs next", "menu", menu("{prompt: 1s, collect: {max: 3}, next: b}"),
     menu("{prompt: 1s, collect: {max: 3}}"), "required"),
    ("end: true excludes options", "menu", menu("{prompt: 1s, end: false, options: {'1': b}}"),
     menu("{prompt: 1s, end: true, options: {'1': b}}"), "not"),
    ("end: true excludes collect", "menu", menu("{prompt: 1s, end: true}"),
     menu("{prompt: 1s, end: true, collect: {max: 3}, next: b}"), "not"),
]


@pytest.mark.parametrize(("what", "name", "good", "bad", "keyword"), CHECKS,
                         ids=[c[0] for c in CHECKS])
def test_the_raw_schema_checks_both_ways(what: str, name: str, good: Any, bad: Any,
                                         keyword: str) -> None:
    assert keywords(name, good) == set()
    assert keyword in keywords(name, bad)


@pytest.mark.parametrize(("text", "expected"), [
    ("tone: 6\n", "x.yaml:3:7: tone: 6 means 6s per digit; did you mean 6ms?"),
    ("timeout: 0\n", "x.yaml:3:10: timeout: must be more than 0"),
    ("gap: 86401\n", "x.yaml:3:6: gap: 86401 is longer than 24 hours"),
    ("steps:\n  - confirm_live: {interval: 0.05}\n",
     "x.yaml:4:30: step 1 confirm_live.interval: 0.05 would poll the API too fast; use at "
     "least 100ms"),
    ("steps:\n  - confirm_live: true\n    retry: {unknown: true}\n",
     "x.yaml:5:22: step 1 retry.unknown: applies to send steps only: a live-call check has no "
     "side effect and is always retried"),
    (f"vars:\n  c: {{pattern: '{'a' * 1001}'}}\nsteps:\n  - send: '${{c}}'\n",
     "x.yaml:4:16: vars.c.pattern: not a valid regular expression: longer than 1000 "
     "characters"),
])
def test_a_rule_both_check_is_reported_once_in_the_loaders_words(text: str,
                                                                  expected: str) -> None:
    if "steps:" not in text:
        text += "steps:\n  - send: '1'\n"
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(f"version: 1\nname: x\n{text}", "x.yaml")
    assert [str(p) for p in caught.value.problems] == [expected]


@pytest.mark.parametrize(("node", "expected"), [
    ("{prompt: 1s, collect: {max: 3}}",
     "m.yaml:5:28: nodes.a: collect needs `next:`, the node to go to once the digits are in"),
    ("{prompt: 1s, end: true, options: {'1': b}}",
     "m.yaml:5:39: nodes.a: a final node (end: true) takes no input; remove options"),
    ("{prompt: 1s, end: true, collect: {max: 3}, next: b}",
     "m.yaml:5:39: nodes.a: a final node (end: true) takes no input; remove collect"),
])
def test_a_menu_rule_both_check_is_reported_once(node: str, expected: str) -> None:
    with pytest.raises(FlowInvalid) as caught:
        parse_menu(f"version: 1\nname: m\nstart: a\nnodes:\n  a: {node}\n  b: {{prompt: 1s}}\n",
                   "m.yaml")
    assert [str(p) for p in caught.value.problems] == [expected]


def test_the_menu_still_reports_its_other_problems_in_the_same_pass() -> None:
    """The schema's collect/next rule does not stop the reference checks from running."""
    with pytest.raises(FlowInvalid) as caught:
        parse_menu("version: 1\nname: m\nstart: a\nnodes:\n"
                   "  a: {prompt: 1s, collect: {max: 3}, on_timeout: zz}\n", "m.yaml")
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 2
    assert any("collect needs `next:`" in m for m in messages)
    assert any("'zz' is not a node" in m for m in messages)


# --- defaults ---------------------------------------------------------------------------

FLOW_DEFAULTS = [  # (pointer of the property, what the loaded flow uses without it)
    ("/properties/leg", lambda f: f.leg),
    ("/properties/leg", lambda f: f.steps[0].leg),
    ("/properties/tone", lambda f: f.tone),
    ("/properties/gap", lambda f: f.gap),
    ("/properties/timeout", lambda f: f.timeout),
    ("/$defs/retry/properties/attempts", lambda f: f.retry.attempts),
    ("/$defs/retry/properties/attempts", lambda f: f.steps[1].retry.attempts),
    ("/$defs/retry/properties/backoff", lambda f: f.retry.backoff),
    ("/$defs/retry/properties/max_backoff", lambda f: f.steps[0].retry.max_backoff),
    ("/$defs/retry/properties/unknown", lambda f: f.steps[0].retry.unknown),
    ("/$defs/variable/properties/secret", lambda f: f.variables["v"].secret),
    ("/$defs/confirmLiveStep/properties/confirm_live/oneOf/1/properties/timeout",
     lambda f: f.steps[1].timeout),
    ("/$defs/confirmLiveStep/properties/confirm_live/oneOf/1/properties/interval",
     lambda f: f.steps[1].interval),
    ("/$defs/confirmLiveStep/properties/confirm_live/oneOf/1/properties/timeout",
     lambda f: f.steps[2].timeout),
    ("/properties/listen/properties/track", lambda f: f.track),
    ("/properties/listen/properties/silence", lambda f: f.steps[3].silence),
    ("/$defs/waitStep/properties/wait/oneOf/2/properties/max", lambda f: f.steps[3].max),
    ("/$defs/waitStep/properties/wait/oneOf/2/properties/barge", lambda f: f.steps[3].barge),
]
MENU_DEFAULTS = [
    ("/$defs/node/properties/barge_in", lambda n: n.barge_in),
    ("/$defs/node/properties/timeout", lambda n: n.timeout),
    ("/$defs/node/properties/on_timeout", lambda n: n.on_timeout),
    ("/$defs/node/properties/max_repeats", lambda n: n.max_repeats),
    ("/$defs/node/properties/collect/properties/min", lambda n: n.collect_min),
]
BARE_FLOW = ("version: 1\nname: x\nvars:\n  v: {}\nsteps:\n  - send: '${v}'\n"
             "  - confirm_live: {}\n  - confirm_live: true\n  - wait: {heard: hello}\n")
BARE_MENU = ("version: 1\nname: m\nstart: a\nnodes:\n"
             "  a: {prompt: 1s, collect: {max: 3}, next: a}\n")


@pytest.mark.parametrize(("pointer", "used"), FLOW_DEFAULTS, ids=[p for p, _ in FLOW_DEFAULTS])
def test_flow_defaults_are_what_the_loader_uses(pointer: str, used: Any) -> None:
    subschema = resolve(FLOW, pointer)
    assert "default" in subschema
    default = subschema["default"]
    durations = ("#/$defs/duration", "#/$defs/silence")
    expected = seconds(default) if subschema.get("$ref") in durations else default
    assert used(parse_flow(BARE_FLOW, "x.yaml")) == expected


@pytest.mark.parametrize(("pointer", "used"), MENU_DEFAULTS, ids=[p for p, _ in MENU_DEFAULTS])
def test_menu_defaults_are_what_the_loader_uses(pointer: str, used: Any) -> None:
    subschema = resolve(MENU, pointer)
    assert "default" in subschema
    default = subschema["default"]
    expected = seconds(default) if subschema.get("$ref") == "#/$defs/duration" else default
    assert used(parse_menu(BARE_MENU, "m.yaml").nodes["a"]) == expected


def test_every_default_is_covered_and_valid() -> None:
    """Each `default` is checked against the loader above and passes its own subschema;
    no description still states a default in words instead."""
    tested = {("flow", p) for p, _ in FLOW_DEFAULTS} | {("menu", p) for p, _ in MENU_DEFAULTS}
    for name, schema in SCHEMAS.items():
        for pointer, subschema in walk(schema):
            if "default" in subschema and not pointer.endswith("/properties"):
                assert (name, pointer) in tested, f"{name} {pointer}: default not tested"
                assert list(validator(name, pointer).iter_errors(subschema["default"])) == []
            text = subschema.get("description")
            if isinstance(text, str):
                assert not re.search(r"\b[Dd]efault:? [0-9a-z]", text) \
                    or "default" in subschema or "the default" in text, f"{name} {pointer}"


# --- what editors show --------------------------------------------------------------------

def test_object_examples_became_labelled_snippets() -> None:
    for name, schema in SCHEMAS.items():
        for pointer, subschema in walk(schema):
            for example in subschema.get("examples", []):
                assert not isinstance(example, (dict, list)), \
                    f"{name} {pointer}: an object example shows as [object Object]"
            for snippet in subschema.get("defaultSnippets", []):
                assert snippet.get("label"), f"{name} {pointer}: a snippet without a label"
                assert "body" in snippet
                # a snippet body is a snippet: \$ stands for a literal $
                body = json.loads(json.dumps(snippet["body"]).replace("\\\\$", "$"))
                assert list(validator(name, pointer).iter_errors(body)) == [], \
                    f"{name} {pointer}: snippet {snippet['label']!r} is not valid"


def test_every_pattern_has_an_editor_message_and_every_hint_reaches_editors() -> None:
    for name, schema in SCHEMAS.items():
        for pointer, subschema in walk(schema):
            where = f"{name} {pointer}"
            if isinstance(subschema.get("pattern"), str):
                assert subschema.get("patternErrorMessage"), where
            if "x-hint" in subschema:
                assert subschema.get("markdownDescription"), where
                if "pattern" in subschema:  # the editor says what the CLI says
                    assert subschema["patternErrorMessage"] == subschema["x-hint"], where
                else:
                    assert subschema["errorMessage"] == subschema["x-hint"], where


def test_rules_left_to_the_loaders_are_real_keywords_of_their_subschema() -> None:
    """`x-loader-reports` names only keywords present beside it (a typo silences nothing)."""
    marked = 0
    for name, schema in SCHEMAS.items():
        for pointer, subschema in walk(schema):
            for keyword in subschema.get("x-loader-reports", []):
                assert keyword in subschema, f"{name} {pointer}: {keyword}"
                marked += 1
    assert marked >= 9
