"""What a run tells the world: events as it goes, and a result at the end.

Events are plain records; reporters (`ivrflow.engine.report`) turn them into human lines or JSON
Lines. Digits in events are already masked and reasons already redacted.

The JSON form of events (`Event.to_json`) is a versioned format, described by
`schemas/events.schema.json` (`ivrflow schema --events`): `flow_started` carries
`version` (`EVENTS_VERSION`), and `t` is rounded to milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# the version of the --json event format: raised by any change that could break a reader
EVENTS_VERSION = 1
T_DECIMALS = 3  # `t` in JSON: milliseconds, so always a plain decimal (never 2e-06)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened. `type` is flow_started, step_started, attempt_failed,
    step_finished or flow_finished; `fields` carries the rest (see the README and
    `schemas/events.schema.json`)."""

    type: str
    call: str
    t: float  # seconds since the flow started
    step: int | None = None
    kind: str | None = None
    name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The event as one record of the `--json` stream (see `schemas/events.schema.json`).

        `t` is rounded to milliseconds: JSON writes any float under 0.0001 in exponent
        form (a flow_started at 2 microseconds read `2e-06`), and a multiple of 0.001 is
        0 or at least 0.001, so `t` is always a plain decimal of at most 3 decimals.
        `flow_started`, which opens every call's story, carries the format's version."""
        record: dict[str, Any] = {"event": self.type}
        if self.type == "flow_started":
            record["version"] = EVENTS_VERSION
        record.update(call=self.call, t=_fixed(self.t), step=self.step, kind=self.kind,
                      name=self.name)
        record.update(self.fields)
        return record


def _fixed(seconds: float) -> float:
    value = round(seconds, T_DECIMALS)
    return 0.0 if value == 0 else value  # never -0.0


def schema_text() -> str:
    """The JSON Schema of the `--json` event stream (draft 2020-12), as shipped."""
    from ivrflow.language.schema import schema_text as bundled

    return bundled("events.schema.json")


Listener = Callable[[Event], None]


def chain(*listeners: Listener | None) -> Listener:
    """One listener that passes each event to every one given, in order (None skipped)."""
    present = [listener for listener in listeners if listener is not None]
    if len(present) == 1:
        return present[0]

    def each(event: Event) -> None:
        for listener in present:
            listener(event)

    return each


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
