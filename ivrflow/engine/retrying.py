"""Retry policies, on tenacity. The only module that imports it.

An attempt asks for another try by raising `TryAgain`; any other exception ends the step
at once. Pauses grow exponentially from `backoff` with jitter, capped at `max_backoff`,
unless the server said how long to wait (Retry-After). Every pause goes through the
flow's clock, so virtual time drives retries too, and no pause may cross the deadline.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ivrflow.engine.clock import Clock
from ivrflow.language.model import RetryPolicy

T = TypeVar("T")


class TryAgain(Exception):
    """Raised by an attempt whose failure the policy may retry."""

    def __init__(self, reason: str, *, status: int | None = None,
                 retry_after: float | None = None, outcome: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.outcome = outcome


class DeadlineReached(Exception):
    """The next pause would end after the deadline: no further try is made."""

    def __init__(self, last: TryAgain) -> None:
        super().__init__(last.reason)
        self.last = last


RetryHook = Callable[[int, TryAgain, float], None]


async def with_retries(attempt: Callable[[int], Awaitable[T]], policy: RetryPolicy, clock: Clock,
                       *, deadline: float, on_retry: RetryHook | None = None) -> T:
    """Run `attempt(n)` (n = 1, 2, ...) until it returns, as `policy` allows.

    Raises the last `TryAgain` when the attempts are spent, or `DeadlineReached` when the
    next pause would cross `deadline`.

    The first try runs bare: most sends are accepted at once, and the retry machinery is
    only built once a try has failed. That failure is then handed to tenacity as its
    first attempt's, so pauses, the deadline and the hook see exactly what they would.
    """
    try:
        return await attempt(1)
    except TryAgain as failure:
        if policy.attempts <= 1:
            raise
        first: TryAgain | None = failure

    async def replay(number: int) -> T:
        nonlocal first
        if number == 1 and first is not None:
            failed, first = first, None
            raise failed
        return await attempt(number)

    exponential = wait_exponential(multiplier=policy.backoff, max=policy.max_backoff)

    def pause(state: RetryCallState) -> float:
        failure = _failure(state)
        if failure.retry_after is not None:
            return failure.retry_after
        # jitter of up to half the first pause spreads out clients that failed together
        jitter = random.uniform(0, policy.backoff / 2)
        return min(float(exponential(state)) + jitter, policy.max_backoff)

    async def sleep(seconds: float) -> None:
        await clock.sleep_until(clock.now() + seconds)

    def before_sleep(state: RetryCallState) -> None:
        failure = _failure(state)
        seconds = state.upcoming_sleep
        if clock.now() + seconds > deadline:
            raise DeadlineReached(failure)
        if on_retry is not None:
            on_retry(state.attempt_number, failure, seconds)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=pause,
        retry=retry_if_exception_type(TryAgain),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    async for try_ in retrying:
        with try_:
            return await replay(try_.retry_state.attempt_number)
    raise AssertionError("unreachable: tenacity either returns or reraises")  # pragma: no cover


def _failure(state: RetryCallState) -> TryAgain:
    assert state.outcome is not None
    failure = state.outcome.exception()
    assert isinstance(failure, TryAgain)
    return failure
