"""The `--json` event stream against its JSON Schema: every event of real runs (one call, a
batch, retries, refusals, a hang-up, an interruption) is valid, `t` is a plain decimal,
and the schema's outcomes are exactly those the code can produce."""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from engine import conftest as engine
from engine.conftest import FAST, Run, Start, unpaced
from jsonschema import Draft202012Validator

from ivrflow.engine.events import EVENTS_VERSION, Event, schema_text
from ivrflow.sandbox import Drop, Fail

# the engine tests' fixtures: a sandbox per test, and `ivrflow run` pointed at it
sandbox = engine.sandbox
run_cli = engine.run_cli
http_engine = engine.http_engine

SCHEMA = json.loads(schema_text())
VALIDATOR = Draft202012Validator(SCHEMA)
# t: rounded to milliseconds, written as a plain decimal (never 2e-06)
PLAIN_T = re.compile(r'"t":(0|[1-9][0-9]*)\.[0-9]{1,3}[,}]')

ALL_KINDS = FAST + ("vars:\n  pin: {secret: true}\nsteps:\n  - confirm_live: "
                    "{timeout: 1s, interval: 100ms}\n  - wait: 100ms\n  - send: '1'\n"
                    "    name: menu\n  - send: '${pin}#'\n    leg: both\n")


def check_stream(out: str) -> list[dict[str, Any]]:
    """Every line is one event valid against the schema, with a plain `t`; each call's
    story begins with flow_started (version 1) unless it never started, and ends with
    one flow_finished."""
    events = []
    for line in out.splitlines():
        event = json.loads(line)
        errors = sorted(VALIDATOR.iter_errors(event), key=lambda e: list(e.path))
        assert not errors, f"{line}\n" + "\n".join(
            f"  {list(e.absolute_path)}: {e.message}" for e in errors)
        if event["event"] != "batch_finished":
            assert PLAIN_T.search(line), line
        events.append(event)
    assert events, "no events"
    calls: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if "call" in event:
            calls.setdefault(event["call"], []).append(event)
    for story in calls.values():
        assert story[-1]["event"] == "flow_finished"
        assert sum(1 for e in story if e["event"] == "flow_finished") == 1
        if story[-1]["outcome"] != "not_started":
            assert story[0]["event"] == "flow_started"
            assert story[0]["version"] == EVENTS_VERSION
        times = [e["t"] for e in story]
        assert times == sorted(times)
    if events[-1]["event"] == "batch_finished":
        assert events[-1]["calls"] == len(calls)
    return events


def outcomes(events: Iterable[dict[str, Any]], event: str) -> list[str]:
    return [e["outcome"] for e in events if e["event"] == event]


# -- the schema itself --------------------------------------------------------------------

def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith("events.schema.json")
    assert schema_text() == (ROOT / "schemas" / "events.schema.json").read_text("utf-8")
    assert SCHEMA["$defs"]["flow_started"]["properties"]["version"]["const"] == EVENTS_VERSION


def test_the_schema_refuses_what_the_format_does_not_say() -> None:
    """The schema has teeth: unknown events and fields, a missing version, a wrong
    outcome, a step event without its fields are all refused."""
    good = Event("flow_started", "c", 0.0, fields={"flow": "f", "file": "f.yaml",
                                                   "steps": 1}).to_json()
    assert VALIDATOR.is_valid(good)
    for bad in ({**good, "version": 2}, {k: v for k, v in good.items() if k != "version"},
                {**good, "extra": 1}, {**good, "event": "flow_paused"},
                {**good, "step": 1},
                {"event": "step_started", "call": "c", "t": 0.5, "step": 1, "kind": "send",
                 "name": None, "digits": "1"},
                {"event": "flow_finished", "call": "c", "t": 1.0, "step": None, "kind": None,
                 "name": None, "outcome": "exploded", "exit_code": 1, "reason": "",
                 "steps_done": 0, "steps": 1, "duration": 1.0},
                {"event": "batch_finished", "calls": 1, "ok": 1, "failed": 0,
                 "exit_code": 0, "call": "c"}):
        assert not VALIDATOR.is_valid(bad), bad


def test_t_is_a_plain_decimal_even_at_the_first_microsecond() -> None:
    """`t` is rounded to milliseconds: JSON never writes it in exponent form."""
    for t in (0.0000021, 0.00004, 0.0005, 0.0015, 18.0030215, 3599.9999):
        line = json.dumps(Event("step_started", "c", t, 1, "wait", None,
                                {"wait": 1.0}).to_json(), separators=(",", ":"))
        assert PLAIN_T.search(line), line


# -- outcomes: the schema's enums against the source --------------------------------------

def _source_outcomes() -> set[str]:
    """Every outcome string the interpreter and the batch can put in a result or event:
    `_Stop("...")`, `outcome="..."`, `outcome, ... = "...", ...` (or `x or ("...", ...)`),
    the batch's stop reason and its never-started calls."""
    found: set[str] = set()
    for name in ("interpreter.py", "batch.py"):
        tree = ast.parse((ROOT / "ivrflow" / "engine" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if callee == "_Stop" and isinstance(node.args[0], ast.Constant):
                    found.add(node.args[0].value)
                if callee == "RunResult" and len(node.args) > 2 \
                        and isinstance(node.args[2], ast.Constant):
                    found.add(node.args[2].value)
                found.update(k.value.value for k in node.keywords if k.arg == "outcome"
                             and isinstance(k.value, ast.Constant))
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
                first = node.targets[0].elts[0]
                if isinstance(first, ast.Name) and first.id == "outcome":
                    found.update(t.elts[0].value for t in ast.walk(node.value)
                                 if isinstance(t, ast.Tuple) and t.elts
                                 and isinstance(t.elts[0], ast.Constant))
            elif isinstance(node, ast.Dict):
                found.update(v.value for k, v in zip(node.keys, node.values, strict=True)
                             if isinstance(k, ast.Constant) and k.value == "outcome"
                             and isinstance(v, ast.Constant))
            elif isinstance(node, ast.FunctionDef) and node.name == "why_stopped":
                found.update(r.value.elts[0].value for r in ast.walk(node)
                             if isinstance(r, ast.Return) and isinstance(r.value, ast.Tuple))
    return found


def test_every_outcome_in_the_schema_is_one_the_code_produces_and_vice_versa() -> None:
    produced = _source_outcomes()
    assert {"ok", "interrupted", "stopped", "not_started", "rejected"} <= produced
    flow = set(SCHEMA["$defs"]["flowOutcome"]["enum"])
    step = set(SCHEMA["$defs"]["stepOutcome"]["enum"])
    assert flow == produced
    # a step ends as the flow does, but a call that never started has no steps
    assert step == produced - {"not_started"}


# -- real runs against the sandbox -------------------------------------------------------

def test_a_passing_run(sandbox: Start, run_cli: Run) -> None:
    box = sandbox(live_after=0.15)
    result = run_cli(box, ALL_KINDS, "--json", "--var", "pin=4321")
    assert result.code == 0, result.err
    events = check_stream(result.out)
    assert [e["kind"] for e in events if e["event"] == "step_started"] == [
        "confirm_live", "wait", "send", "send"]
    assert outcomes(events, "flow_finished") == ["ok"]
    assert "4321" not in result.out


@pytest.mark.parametrize(("config", "code", "step_outcome"), [
    ({"dtmf_faults": (Fail(503),)}, 0, "ok"),  # retried
    ({"dtmf_faults": (Fail(503, 10),)}, 1, "failed"),  # retries exhausted
    ({"dtmf_faults": (Fail(400),)}, 1, "rejected"),
    ({"dtmf_faults": (Fail(401),)}, 4, "auth_refused"),
    ({"dtmf_faults": (Fail(500),)}, 1, "unknown"),
    ({"dtmf_faults": (Drop(),)}, 1, "unknown"),
    ({"never_live": True}, 3, "not_live"),
], ids=["503-retried", "503-exhausted", "400", "401", "500", "drop", "never-live"])
def test_failing_and_retried_runs(sandbox: Start, run_cli: Run, config: dict[str, Any],
                                  code: int, step_outcome: str) -> None:
    box = sandbox(**config)
    result = run_cli(box, ALL_KINDS.replace("timeout: 1s", "timeout: 300ms"), "--json",
                     "--var", "pin=4321")
    assert result.code == code, result.err
    events = check_stream(result.out)
    assert outcomes(events, "step_finished")[-1] == step_outcome
    if config.get("dtmf_faults", (None,))[0] == Fail(503):
        assert [e["status"] for e in events if e["event"] == "attempt_failed"] == [503]


def test_a_call_that_hangs_up(sandbox: Start, run_cli: Run) -> None:
    box = sandbox(hangup_after=0.3)
    flow = FAST + "steps:\n  - send: '1'\n  - wait: 600ms\n  - send: '2'\n  - send: '3'\n"
    result = run_cli(box, flow, "--json")
    assert result.code == 3
    events = check_stream(result.out)
    assert outcomes(events, "flow_finished") == ["not_live"]


def test_a_flow_past_its_deadline(sandbox: Start, run_cli: Run) -> None:
    """Retries that would run past the flow's timeout end it as deadline."""
    flow = FAST.replace("tone: 0", "tone: 0\ntimeout: 150ms") + "steps:\n  - send: '1'\n"
    result = run_cli(sandbox(dtmf_faults=(Fail(503, 50),)), flow, "--json")
    assert result.code == 1, result.err
    assert outcomes(check_stream(result.out), "flow_finished") == ["deadline"]


def test_a_batch_from_a_calls_file(sandbox: Start, run_cli: Run, tmp_path: Path) -> None:
    box = sandbox(dtmf_faults=(Fail(400), Fail(503)))
    calls = tmp_path / "calls.csv"
    calls.write_text("call,pin\n" + "".join(f"c-{i},{i}{i}\n" for i in range(4)))
    result = run_cli(box, ALL_KINDS, "--json", "--calls", str(calls), "--concurrency", "1",
                     call=None)
    assert result.code == 1, result.err
    events = check_stream(result.out)
    assert unpaced(events[-1]) == {"event": "batch_finished", "calls": 4, "ok": 3, "failed": 1,
                          "exit_code": 1}
    assert sorted(outcomes(events, "flow_finished")) == ["ok", "ok", "ok", "rejected"]


def test_a_batch_stopped_by_an_auth_refusal(sandbox: Start, run_cli: Run) -> None:
    """One 401 stops the batch: stopped and not_started calls are valid events too."""
    box = sandbox(dtmf_faults=(Fail(401),))
    # every call holding a slot has started (the starts are paced) before the first 401
    flow = FAST + "steps:\n  - wait: 100ms\n  - send: '1'\n  - wait: 2s\n  - send: '2'\n"
    args = [a for i in range(5) for a in ("--call", f"c-{i}")]
    result = run_cli(box, flow, *args, "--concurrency", "2", "--json", call=None)
    assert result.code == 4
    events = check_stream(result.out)
    assert sorted(outcomes(events, "flow_finished")) == [
        "auth_refused", "not_started", "not_started", "not_started", "stopped"]
    assert events[-1]["event"] == "batch_finished" and events[-1]["exit_code"] == 4


def test_an_interrupted_batch(tmp_path: Path) -> None:
    """SIGINT mid-batch: interrupted and not_started calls, then batch_finished, all valid."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: t\nsteps:\n  - send: '1'\n  - wait: 30s\n"
                    "  - send: '2'\n")
    args = [a for i in range(5) for a in ("--call", f"c-{i}")]
    with subprocess.Popen([sys.executable, "-m", "ivrflow", "run", str(flow), *args,
                           "--sandbox", "--json", "--concurrency", "3"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT) as proc:
        guard = threading.Timer(30, proc.kill)  # never hang the suite
        guard.start()
        try:
            assert proc.stdout is not None
            lines = []
            while sum('"step_finished"' in line for line in lines) < 3:
                line = proc.stdout.readline()
                assert line, "the run ended before its sends were done"
                lines.append(line)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=20)
        finally:
            guard.cancel()
    assert proc.returncode == 130
    events = check_stream("".join(lines) + out)
    assert sorted(outcomes(events, "flow_finished")) == ["interrupted"] * 3 + [
        "not_started"] * 2
    assert unpaced(events[-1]) == {"event": "batch_finished", "calls": 5, "ok": 0, "failed": 5,
                          "exit_code": 130}


