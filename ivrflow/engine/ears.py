"""What the interpreter needs to hear the IVR: one small interface, one record.

A listening wait asks its `Ears` for the next prompt: to return once the IVR has spoken
and then been quiet for `silence` (the prompt ended), or, with `barge`, once one of the
`phrases` was recognised, or at `deadline` at the latest. What came back says what was
heard, with times on the flow's clock, and the interpreter decides what it means for
the recipe (ivrflow.engine.interpreter). Implementations: the call's audio stream
forked over a WebSocket (live calls), a menu model that speaks (offline), and scripted
fakes in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Words:
    """Words recognised in the IVR's audio, at clock time `t` (when they were said)."""

    t: float
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """What one listening wait heard; every time is on the flow's clock.

    `ended`: the prompt ended (speech, then the silence) before the deadline; `speech_began`
    and `speech_ended`: when the IVR started and stopped talking (None: it never did, or
    has not stopped); `phrase`: the expected phrase recognised (None: none of them);
    `transcript`: everything recognised meanwhile, in order.
    """

    ended: bool
    speech_began: float | None = None
    speech_ended: float | None = None
    phrase: str | None = None
    transcript: tuple[Words, ...] = field(default_factory=tuple)


class AudioLost(Exception):
    """The call's audio stopped coming (the stream dropped or never connected); `reason`
    says so in ivrflow's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Ears(Protocol):
    """The IVR's audio on one call, as prompts."""

    async def prompt(self, *, silence: float, phrases: tuple[str, ...], barge: bool,
                     deadline: float, since: float | None = None) -> Prompt:
        """Listen until the prompt ends (or a phrase, with `barge`), or until `deadline`
        (a clock time), to audio from `since` (a clock time no later than now; None: from
        now); raise AudioLost if the audio stops coming."""
        ...
