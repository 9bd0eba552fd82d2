"""The typed, validated flow that the planner and the interpreter walk.

Nothing downstream of the loader sees raw YAML values: durations are seconds (float),
defaults are filled in, and every step knows where it stands in its file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Leg = Literal["aleg", "bleg", "both"]
Track = Literal["inbound", "outbound", "both"]
DEFAULT_SILENCE = 1.2
DEFAULT_LISTEN_MAX = 30.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a send or confirm_live step retries transient failures."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    unknown: bool = False  # send only: retry when the outcome is unknown


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    pattern: str | None = None
    secret: bool = False
    env: str | None = None
    default: str | None = None
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepBase:
    number: int  # 1-based position in the flow
    name: str | None = None
    line: int = 0
    column: int = 0

    @property
    def kind(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait(StepBase):
    """Wait `seconds` after the previous step, or until `until` seconds after the start."""

    seconds: float | None = None
    until: float | None = None

    @property
    def kind(self) -> str:
        return "wait"


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen(StepBase):
    """Wait for the IVR: until its prompt ends (speech heard since the step began, then
    `silence` of quiet), and with `heard`, until one of the phrases was recognised and
    that prompt ended (with `barge`, as soon as a phrase is recognised); at most `max`.

    `heard` holds the phrases as the recognizer compares them: lowercase words, digits
    and apostrophes, single spaces, the punctuation dropped."""

    silence: float
    max: float
    heard: tuple[str, ...] = ()
    barge: bool = False

    @property
    def kind(self) -> str:
        return "wait"


@dataclass(frozen=True, slots=True, kw_only=True)
class Send(StepBase):
    """Send `digits` (a template that may hold ${name} references) on `leg`."""

    digits: str
    leg: Leg = "aleg"
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def kind(self) -> str:
        return "send"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmLive(StepBase):
    """Poll every `interval` seconds until the call is live, for at most `timeout`."""

    timeout: float = 30.0
    interval: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def kind(self) -> str:
        return "confirm_live"


Step = Wait | Listen | Send | ConfirmLive


@dataclass(frozen=True, slots=True)
class Expect:
    """What `ivrflow test` checks: the flow, played against `menu`, ends in node `reach`."""

    menu: str  # path of the menu model, resolved against the flow file's directory
    reach: str
    values: Mapping[str, str] = field(default_factory=dict)
    line: int = 0  # of `reach`
    column: int = 0


@dataclass(frozen=True, slots=True)
class Flow:
    """A loaded, valid flow."""

    path: str
    name: str
    steps: tuple[Step, ...]
    description: str | None = None
    leg: Leg = "aleg"
    tone: float = 0.25
    gap: float = 0.0
    timeout: float = 1800.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    variables: Mapping[str, Variable] = field(default_factory=dict)
    expect: Expect | None = None
    track: Track = "inbound"  # the audio the listening waits hear
    answered_by: str | None = None  # a placed call must be answered by: human | machine

    @property
    def listens(self) -> bool:
        """Whether any step is a listening wait (the run then needs the call's audio)."""
        return any(isinstance(step, Listen) for step in self.steps)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(name for name, var in self.variables.items() if var.secret)
