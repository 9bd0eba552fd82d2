"""The timeline of a flow, computed without touching the network.

A plan assumes every request is answered at once and the call is live from the start, so
its offsets are the earliest a real run can reach; the interpreter uses the same rules
(`ivrflow.language.timing`) and adds only real latency. A listening wait lasts as long as
the IVR's prompt: the plan counts it at its shortest (its silence), marks every offset
after it as "at the earliest", and says how long the flow may take at most.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivrflow.language.durations import format_seconds
from ivrflow.language.model import ConfirmLive, Flow, Listen, Send, Step, Wait
from ivrflow.language.timing import timeline
from ivrflow.language.variables import Bindings


@dataclass(frozen=True, slots=True)
class PlannedStep:
    step: Step
    start: float  # seconds after the flow started
    duration: float  # a listening wait: its shortest (its silence)
    detail: str  # what the step does, secrets masked
    earliest: bool = False  # after a listening wait: `start` is the earliest it can be


@dataclass(frozen=True, slots=True)
class Plan:
    flow: Flow
    steps: tuple[PlannedStep, ...]
    total: float
    confirm_slack: float  # how much later confirm_live steps may push everything
    listen_slack: float = 0.0  # how much longer the listening waits may take, at most


def make_plan(flow: Flow, bindings: Bindings) -> Plan:
    planned: list[PlannedStep] = []
    total = slack = listening = 0.0
    after_listening = False
    for step, start, end in timeline(flow, bindings.digits):
        if isinstance(step, Listen):
            detail = listen_detail(step)
            listening += step.max - (end - start)
        elif isinstance(step, Wait):
            detail = (f"until {format_seconds(step.until)}" if step.until is not None
                      else format_seconds(step.seconds or 0.0))
        elif isinstance(step, Send):
            detail = f"{bindings.shown(step)} on {step.leg}"
        else:
            assert isinstance(step, ConfirmLive)
            slack += step.timeout
            detail = (f"poll every {format_seconds(step.interval)}, "
                      f"up to {format_seconds(step.timeout)}")
        planned.append(PlannedStep(step, start, end - start, detail, after_listening))
        after_listening = after_listening or isinstance(step, Listen)
        total = end
    return Plan(flow, tuple(planned), total, slack, listening)


def listen_detail(step: Listen) -> str:
    """What a listening wait waits for, in the plan's words."""
    silence = format_seconds(step.silence)
    longest = format_seconds(step.max)
    if not step.heard:
        return f"until the prompt ends ({silence} silence), at most {longest}"
    said = " or ".join(f"'{phrase}'" for phrase in step.heard)
    if step.barge:
        return f"until {said} is heard (at once), at most {longest}"
    return f"until {said} is heard and the prompt ends ({silence} silence), at most {longest}"


def to_json(plan: Plan) -> dict[str, object]:
    return {
        "flow": plan.flow.name,
        "file": plan.flow.path,
        "total": round(plan.total, 6),
        "confirm_slack": plan.confirm_slack,
        "listen_slack": round(plan.listen_slack, 6),
        "steps": [{"step": p.step.number, "kind": p.step.kind, "name": p.step.name,
                   "start": round(p.start, 6), "duration": round(p.duration, 6),
                   "earliest": p.earliest, "detail": p.detail} for p in plan.steps],
    }


def render(plan: Plan) -> str:
    """The plan as an aligned text table."""
    flow = plan.flow
    lines = [f"{flow.path}: {flow.name}" + (f" - {flow.description}" if flow.description else ""),
             f"leg {flow.leg}, tone {format_seconds(flow.tone)}, gap {format_seconds(flow.gap)}, "
             f"timeout {format_seconds(flow.timeout)}", ""]
    rows = [("#", "start", "takes", "step", "")]
    for p in plan.steps:
        rows.append((str(p.step.number), f"{'>=' if p.earliest else ''}{p.start:.3f}s",
                     f"{'>=' if isinstance(p.step, Listen) else ''}{format_seconds(p.duration)}",
                     f"{p.step.kind} {p.detail}", f"({p.step.name})" if p.step.name else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append(f"{r[0]:>{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  "
                     f"{r[3]:<{widths[3]}}  {r[4]}".rstrip())
    total = f"\ntotal {plan.total:.3f}s, plus any API answer slower than its digits' playback"
    if plan.listen_slack:
        total = (f"\ntotal {plan.total:.3f}s at the earliest, at most "
                 f"{format_seconds(plan.total + plan.listen_slack)} (the listening waits end "
                 "when the IVR's prompts do), plus any API answer slower than its digits' "
                 "playback")
    if plan.confirm_slack:
        total += (f", plus up to {format_seconds(plan.confirm_slack)} "
                  "waiting for the call to be live")
    lines.append(total)
    return "\n".join(lines)
