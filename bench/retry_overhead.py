"""What the retry wrapper costs a send accepted at its first try.

    python bench/retry_overhead.py [--calls 20000]

Calls `with_retries` around an attempt that succeeds at once, beside the bare attempt
(the anchor) and a tenacity loop set up for every call (what ivrflow did before the
first try ran bare). Prints microseconds per call. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.retrying import TryAgain, with_retries
from ivrflow.language.model import RetryPolicy


async def _ok(number: int) -> int:
    return number


async def _tenacity_always(number: int) -> int:
    async for attempt in AsyncRetrying(stop=stop_after_attempt(3), reraise=True,
                                       retry=retry_if_exception_type(TryAgain)):
        with attempt:
            return await _ok(attempt.retry_state.attempt_number)
    raise AssertionError("unreachable")


async def _per_call(run: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await run()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    clock, policy = VirtualClock(), RetryPolicy()

    async def measure() -> None:
        bare = await _per_call(lambda: _ok(1), args.calls)
        wrapped = await _per_call(
            lambda: with_retries(_ok, policy, clock, deadline=1e12), args.calls)
        always = await _per_call(lambda: _tenacity_always(1), args.calls)
        print(f"bare attempt (anchor): {bare:.2f} us; with_retries: {wrapped:.2f} us; "
              f"tenacity set up for every call: {always:.2f} us")

    asyncio.run(measure())


if __name__ == "__main__":
    main()
