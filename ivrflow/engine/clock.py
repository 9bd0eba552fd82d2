"""Time, behind one small object, so tests and the menu simulator can replace it.

The interpreter never sleeps for a duration; it sleeps *until* a deadline computed from the
flow's start. Latency and retries therefore never accumulate into drift.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a sleep to an absolute deadline on that scale."""

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class MonotonicClock:
    """Real time: `time.monotonic`, which is also the event loop's clock.

    The event loop wakes a sleeper late: epoll rounds its timeout up to whole
    milliseconds, and Linux lets a long timeout slip by 0.1 % of its length (12 ms on a
    12 s wait). So the clock aims early, by `lead` plus 0.2 % of what is left, then:

    - with `spin` 0 (the default, and a batch's clock), sleeps once more for the short
      remainder, which ends at most about a millisecond late and costs nothing;
    - with `spin` > 0, yields to the loop for the last `spin` seconds until the deadline
      (on time to a few microseconds). That busy wait costs about half a millisecond of
      CPU a step, which only a single flow, with nothing else to run, can afford.

    Lateness never accumulates either way: every deadline is computed from the plan's
    offsets (a send is anchored to when it was due, not to when it went out).
    """

    def __init__(self, spin: float = 0.0, lead: float = 0.001) -> None:
        self.spin = spin
        self.lead = max(lead, spin)

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > self.lead:
            await asyncio.sleep(left - self.lead - left * 0.002)
        if self.spin:
            while time.monotonic() < deadline:
                await asyncio.sleep(0)  # other tasks run meanwhile; this one waits its turn
            return
        left = deadline - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)


SINGLE_FLOW_SPIN = 0.002
"""The spin of a clock that serves one flow alone (`ivrflow run` on one call)."""


class VirtualClock:
    """Virtual time for one flow at a time: sleeping jumps straight to the deadline.

    `advance` lets a fake transport spend time (API latency) without real waiting.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep_until(self, deadline: float) -> None:
        self._now = max(self._now, deadline)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is
