"""`ivrflow test`: play each flow's `expect` block against its menu, on virtual time.

The flow runs through the real interpreter; only the transport (the menu simulator) and
the clock (virtual) stand in for the phone call, so a test sees the timing a live run
would produce, in milliseconds.
"""

from __future__ import annotations

import asyncio
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.events import RunResult
from ivrflow.engine.interpreter import run_flow
from ivrflow.language.model import Flow
from ivrflow.language.variables import resolve
from ivrflow.menu.loader import load_menu
from ivrflow.menu.simulator import Happening, MenuSimulator
from ivrflow.menu.transport import MenuTransport
from ivrflow.output import escape_controls

if TYPE_CHECKING:
    from ivrflow.menu.voice import MenuVoice


@dataclass(frozen=True, slots=True)
class TestOutcome:
    flow: Flow
    passed: bool
    final: str  # the node the call ended in ("" if the menu hung up)
    path: tuple[Happening, ...]  # the nodes entered, in order
    reason: str  # why it failed ("" when it passed)
    virtual: float  # seconds of call time played
    wall: float  # seconds it took to play them
    result: RunResult
    ending: str = ""  # how the call ended, in words: "hung up in 'x' after 2 repeats"


def run_expectation(flow: Flow) -> TestOutcome:
    """Play `flow` against the menu of its `expect` block; the flow must have one."""
    assert flow.expect is not None
    started = time.perf_counter()
    menu = load_menu(flow.expect.menu, speak=True)
    expect = flow.expect
    bindings = resolve(flow, row=expect.values, environ={}, row_origin="expect.vars",
                       row_where=lambda name: f"{flow.path}:{expect.line}:{expect.column}")
    secret = bindings.secret_digits(flow.steps)
    clock = VirtualClock()
    transport = MenuTransport(menu, clock, flow.tone, is_secret=secret.__contains__)
    voice = _voice(flow, transport.simulator)
    ears = None
    if flow.listens:
        from ivrflow.engine.listening import check_detection
        from ivrflow.menu.ears import MenuEars

        assert voice is not None
        ears = MenuEars(voice, clock, check_detection(flow))
    result = asyncio.run(run_flow(flow, bindings, transport, "test-call", clock=clock,
                                  ears=ears))
    simulator = transport.simulator
    # the flow ends when its last step does: a send's digits still play after the request
    end = max([clock.now()] + [simulator.t0 + r.end for r in result.steps if r.end is not None])
    simulator.advance(end)
    final = "" if simulator.hung_up else simulator.node.name
    passed = result.ok and final == flow.expect.reach
    path = tuple(h for h in simulator.trace if h.kind == "enter")
    if simulator.runaway:
        reason = f"the menu model ran away: {simulator.trace[-1].detail}"
    else:
        reason = "" if passed else _explain(flow, result, simulator.trace, transport.sends,
                                            final, voice)
    return TestOutcome(flow, passed, final, path, reason, end - simulator.t0,
                       time.perf_counter() - started, result, _ending(simulator))


def _voice(flow: Flow, simulator: MenuSimulator) -> MenuVoice | None:
    """The menu's audio, when the recipe listens or the menu has words to tell a failure
    by (and the synthesizer is there to say them)."""
    if not flow.listens and not any(n.say for n in simulator.menu.nodes.values()):
        return None
    from ivrflow.menu.voice import MenuVoice

    try:
        return MenuVoice(simulator)
    except ImportError:
        if flow.listens:
            raise
        return None


def _ending(simulator: MenuSimulator) -> str:
    """How the call stood when the flow ended."""
    node = simulator.node
    if simulator.hung_up:
        hangup = next((h for h in reversed(simulator.trace) if h.kind == "hangup"), None)
        why = f" ({hangup.detail})" if hangup is not None and hangup.detail else ""
        return f"the menu hung up in '{hangup.node if hangup else node.name}'{why}"
    if node.end:
        return f"the call is in the final node '{node.name}'"
    repeats = f" after {simulator.repeats} repeat(s)" if simulator.repeats else ""
    doing = "collecting digits" if node.collects else "waiting for input"
    return f"the call is still in '{node.name}', {doing}{repeats}"


def _explain(flow: Flow, result: RunResult, trace: Sequence[Happening],
             sends: Sequence[tuple[float, str]], final: str,
             voice: MenuVoice | None = None) -> str:
    """The first thing that went astray, in the recipe author's terms, with what the IVR
    was saying at that moment when the menu has words."""
    assert flow.expect is not None
    text, at = _astray(flow, result, trace, sends, final)
    if voice is None or at is None:
        return text
    return f"{text}; the IVR: {escape_controls(voice.saying(at))}"


def _astray(flow: Flow, result: RunResult, trace: Sequence[Happening],
            sends: Sequence[tuple[float, str]], final: str) -> tuple[str, float | None]:
    """What went astray, and when the recipe acted on it (seconds into the call)."""
    assert flow.expect is not None
    for happening in trace:
        t = happening.t
        if happening.kind == "ignored":
            if "barge_in false" in happening.detail:
                return (f"{happening.shown_digit()} at {t:.2f} s arrived during the prompt of "
                        f"'{happening.node}' (barge_in false) and was ignored"), t
            return f"{happening.shown_digit()} at {t:.2f} s was ignored: {happening.detail}", t
        if happening.kind == "unknown_key":
            return (f"{happening.shown_digit()} at {t:.2f} s in '{happening.node}': "
                    f"{happening.detail}"), t
        if happening.kind == "timeout":
            later = [at for at, _ in sends if at > t]
            then = (f"the next key came at {later[0]:.2f} s" if later
                    else "no more digits were sent")
            # the recipe acted when its next key came (if it came at all)
            return (f"'{happening.node}' timed out at {t:.2f} s waiting for input: {then}",
                    later[0] if later else None)
    if not result.ok:
        return f"the flow failed: {result.reason}", result.duration
    where = f"in '{final}'" if final else "after the menu hung up"
    return (f"the flow ended at {result.duration:.2f} s {where}, not in "
            f"'{flow.expect.reach}'"), result.duration


def render(outcome: TestOutcome) -> str:
    """Two or three lines: verdict, the path with times, and why it failed."""
    flow = outcome.flow
    assert flow.expect is not None
    verdict = "PASS" if outcome.passed else "FAIL"
    head = (f"{verdict} {flow.path}: reached '{outcome.final}'" if outcome.passed else
            f"{verdict} {flow.path}: expected to reach '{flow.expect.reach}'")
    head += f" ({outcome.virtual:.1f} s of call in {outcome.wall * 1000:.0f} ms)"
    path = " -> ".join(f"{h.node} {h.t:.2f}s{_note(h)}" for h in outcome.path)
    lines = [head, f"  path: {path}"]
    if outcome.reason:
        lines.append(f"  why: {outcome.reason}")
    if not outcome.passed and outcome.ending:
        lines.append(f"  end: {outcome.ending}")
    return "\n".join(lines)


def _note(entered: Happening) -> str:
    """Why a node was entered again, when it was: a timeout's repeat or a replay."""
    if entered.detail.startswith("repeat"):
        return " (repeat)"
    if entered.detail == "an invalid entry":
        return " (replayed: an invalid entry)"
    return ""


Invalid = tuple[str, str] | tuple[str, str, float]  # path, message[, seconds spent on it]


def junit(outcomes: Sequence[TestOutcome], invalid: Sequence[Invalid],
          skipped: Sequence[str] = (), *, started: datetime | None = None,
          hostname: str | None = None) -> bytes:
    """A JUnit XML report, in the shape of the Jenkins/Ant junit-10.xsd: a <testsuites>
    root holding one <testsuite>. One test case per flow; a flow that did not reach its
    node is a <failure type="expectation">, an invalid file an <error type="invalid">
    (with the seconds spent on it, when given), and each of `skipped` (paths of flows
    without an `expect` block) a <skipped> case. `started` (default: the report's time
    less the suite's) is the suite's `timestamp`, local time to the second; `hostname`
    defaults to this machine's. Every text goes through `_xml`, so the report is
    well-formed whatever names and paths hold."""
    failures = sum(1 for o in outcomes if not o.passed)
    errors = [(entry[0], entry[1], float(entry[2]) if len(entry) == 3 else 0.0)
              for entry in invalid]
    seconds = sum(o.wall for o in outcomes) + sum(t for _, _, t in errors)
    counts = {"tests": str(len(outcomes) + len(errors) + len(skipped)),
              "failures": str(failures), "errors": str(len(errors))}
    root = ET.Element("testsuites", {"name": "ivrflow", **counts, "time": f"{seconds:.3f}"})
    suite = ET.SubElement(root, "testsuite", {
        "name": "ivrflow", **counts, "skipped": str(len(skipped)), "time": f"{seconds:.3f}",
        "timestamp": _timestamp(started, seconds),
        "hostname": _xml(hostname or _hostname())})
    for outcome in outcomes:
        case = ET.SubElement(suite, "testcase", name=_xml(outcome.flow.path),
                             classname=_xml(outcome.flow.name), time=f"{outcome.wall:.3f}")
        if not outcome.passed:
            failure = ET.SubElement(case, "failure", message=_xml(outcome.reason),
                                    type="expectation")
            failure.text = _xml(render(outcome))
    for path, message, spent in errors:
        case = ET.SubElement(suite, "testcase", name=_xml(path), classname="invalid",
                             time=f"{spent:.3f}")
        first = message.splitlines()[0] if message else ""
        error = ET.SubElement(case, "error", message=_xml(first), type="invalid")
        error.text = _xml(message)
    for path in skipped:
        case = ET.SubElement(suite, "testcase", name=_xml(path), classname="untested",
                             time="0.000")
        ET.SubElement(case, "skipped", message="no expect block: not tested")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _timestamp(started: datetime | None, seconds: float) -> str:
    """ISO 8601 local time to the second, without an offset: the form the Ant schema's
    timestamp pattern allows (YYYY-MM-DDTHH:MM:SS)."""
    when = started or datetime.now() - timedelta(seconds=seconds)
    if when.tzinfo is not None:
        when = when.astimezone().replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def _hostname() -> str:
    try:
        return socket.gethostname() or "localhost"
    except OSError:  # pragma: no cover - no name at all
        return "localhost"


def _xml(text: str) -> str:
    """Text XML 1.0 can carry: controls, lone surrogates and U+FFFE/U+FFFF as escapes."""
    return escape_controls(text).replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")
