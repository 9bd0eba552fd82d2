"""A scripted transport for unit tests and offline runs.

Each call takes the next scripted outcome (or succeeds when the script is spent), records
what was asked and when, and can spend virtual time to stand for API latency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ivrflow.engine.clock import Clock, VirtualClock
from ivrflow.language.model import Leg
from ivrflow.transport.base import Accepted, LiveOutcome, SendOutcome


@dataclass(frozen=True, slots=True)
class SentDigits:
    at: float  # clock time at which the request was made
    call: str
    digits: str
    leg: Leg


class FakeTransport:
    def __init__(self, clock: Clock, *, sends: Iterable[SendOutcome] = (),
                 lives: Iterable[LiveOutcome] = (), latency: float = 0.0) -> None:
        self.clock = clock
        self.sends: deque[SendOutcome] = deque(sends)
        self.lives: deque[LiveOutcome] = deque(lives)
        self.latency = latency
        self.sent: list[SentDigits] = []
        self.live_checks: list[float] = []

    async def _spend(self) -> None:
        if isinstance(self.clock, VirtualClock):
            self.clock.advance(self.latency)
        await self.clock.sleep_until(self.clock.now())

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        self.sent.append(SentDigits(self.clock.now(), call, digits, leg))
        await self._spend()
        return self.sends.popleft() if self.sends else Accepted(202)

    async def live(self, call: str) -> LiveOutcome:
        self.live_checks.append(self.clock.now())
        await self._spend()
        return self.lives.popleft() if self.lives else Accepted(200)
