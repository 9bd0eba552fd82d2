"""An event loop on virtual time, for tests of many tasks that sleep and spend time.

`VirtualClock` (ivrflow.engine.clock) serves one task at a time: its sleep jumps to the
deadline at once, whoever else is waiting. Here the loop itself keeps virtual time: when
nothing is ready to run, it jumps to the earliest timer instead of blocking, so every
task wakes exactly when its own deadline comes, in deadline order, and a thousand tasks
sleeping at once behave as they would in real time, instantly. `spend(seconds)` models
CPU work: it moves time on while the loop is busy, so the tasks due meanwhile wake late,
as they would behind a real send that costs the loop that long.

No I/O: the selector only ever polls (this loop is for fakes, not sockets).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Selector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[Any]:
        assert self.loop is not None
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is set")
        self.loop.virtual += max(0.0, timeout)  # nothing else can happen before it
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        selector = _Selector()
        super().__init__(selector)
        selector.loop = self
        self.virtual = start
        self.spent = 0.0  # all the CPU time `spend` modelled: the loop thread's CPU clock
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self.virtual

    def spend(self, seconds: float) -> None:
        """Time passing while the loop is busy (the CPU cost of a step)."""
        self.virtual += seconds
        self.spent += seconds


class LoopClock:
    """ivrflow's `Clock` on the running loop's time (virtual under VirtualTimeLoop)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - self.now()))


def run_virtual(main: Coroutine[Any, Any, T], start: float = 1000.0) -> T:
    """Run `main` to its end on a fresh VirtualTimeLoop."""
    loop = VirtualTimeLoop(start)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def spend(seconds: float) -> None:
    """Spend `seconds` of virtual CPU time on the running VirtualTimeLoop."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    loop.spend(seconds)
