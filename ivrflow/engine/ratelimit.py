"""One request budget for a whole batch: a rate limit, and a pause when the API says 429.

`RateGate` lets requests through one at a time, each at least `1/rate` seconds after the
previous one actually went (a token bucket of depth one, so no second ever carries more
than `rate` requests plus the one in hand), and holds them all back while a 429's
Retry-After runs: the account's limit is shared, so one call's 429 slows every call.
`GatedTransport` puts the gate in front of any transport: the interpreter awaits its
`admit()` before each request, so a request held at the gate and then stopped (by the
deadline or a signal) is known never to have left.
"""

from __future__ import annotations

import asyncio

from ivrflow.engine.clock import Clock
from ivrflow.language.model import Leg
from ivrflow.transport.base import (
    CallOutcome,
    LiveOutcome,
    SendOutcome,
    Transient,
    Transport,
)

DEFAULT_429_PAUSE = 1.0


class RateGate:
    def __init__(self, clock: Clock, rate: float | None = None) -> None:
        self.clock = clock
        self.interval = 1.0 / rate if rate else 0.0
        self.last_release = float("-inf")
        self.paused_until = float("-inf")
        self._turn = asyncio.Lock()  # requests pass one at a time, in arrival order

    async def acquire(self) -> None:
        """Wait until this request may go: `interval` after the previous one really went
        (not after when it was due: a late wake-up must not let two through at once), and
        not while a 429's pause runs."""
        async with self._turn:
            while True:
                ready = max(self.last_release + self.interval, self.paused_until)
                if ready <= self.clock.now():
                    break
                await self.clock.sleep_until(ready)
            self.last_release = self.clock.now()

    def pause(self, seconds: float) -> None:
        """Hold every request back for `seconds` from now."""
        self.paused_until = max(self.paused_until, self.clock.now() + seconds)


class GatedTransport:
    """A transport whose every request passes the shared gate first."""

    def __init__(self, inner: Transport, gate: RateGate) -> None:
        self.inner = inner
        self.gate = gate

    def observe(self, outcome: SendOutcome | CallOutcome) -> None:
        """A 429 pauses every request of the batch (the limit is the account's)."""
        self._observe(outcome)

    def _observe(self, outcome: SendOutcome | CallOutcome) -> None:
        if isinstance(outcome, Transient) and outcome.status == 429:
            self.gate.pause(outcome.retry_after if outcome.retry_after is not None
                            else DEFAULT_429_PAUSE)

    async def admit(self) -> None:
        """Wait at the gate. The interpreter calls this before each request, apart from
        the request, so that time spent here is known to have sent nothing."""
        await self.gate.acquire()

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        outcome = await self.inner.send_digits(call, digits, leg)
        self._observe(outcome)
        return outcome

    async def live(self, call: str) -> LiveOutcome:
        outcome = await self.inner.live(call)
        self._observe(outcome)
        return outcome
