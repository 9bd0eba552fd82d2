"""What a run tells the world: events as it goes, and a result at the end.

Events are plain records; reporters (`ivrflow.report`) turn them into human lines or JSON
Lines. Digits in events are already masked and reasons already redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened. `type` is flow_started, step_started, attempt_failed,
    step_finished or flow_finished; `fields` carries the rest (see the README)."""

    type: str
    call: str
    t: float  # seconds since the flow started
    step: int | None = None
    kind: str | None = None
    name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"event": self.type, "call": self.call,
                                  "t": round(self.t, 6), "step": self.step, "kind": self.kind,
                                  "name": self.name}
        record.update(self.fields)
        return record


Listener = Callable[[Event], None]


@dataclass(slots=True)
class StepRecord:
    """How one step went. Times are seconds since the flow started."""

    number: int
    kind: str
    name: str | None
    start: float
    end: float | None = None
    attempts: int = 0
    outcome: str = "pending"  # ok, rejected, unknown, not_live, auth_refused, failed, ...
    status: int | None = None  # the last HTTP status, if any
    latency: float | None = None  # of the request that settled the step
    detail: str = ""  # digits (masked) or what the step waited for


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one flow on one call."""

    call: str
    flow: str
    outcome: str  # ok, failed, rejected, unknown, not_live, auth_refused, deadline, interrupted
    exit_code: int
    reason: str
    steps: tuple[StepRecord, ...]
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def steps_done(self) -> int:
        return sum(1 for s in self.steps if s.outcome == "ok")
