"""What a sandbox does: its credentials, how its calls live and die, and its faults.

Every record here is frozen and checked when built, so a sandbox never starts with a
configuration it cannot honour. The defaults describe a well-behaved API: every call is
live from its first request and never hangs up, and nothing fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOST = "127.0.0.1"
"""The only address a sandbox listens on: it is a test double for this machine alone."""

DEMO_AUTH_ID = "MA_SANDBOX"
"""The account id a sandbox accepts unless told otherwise."""

DEMO_AUTH_TOKEN = "sandbox-token"
"""The auth token a sandbox accepts unless told otherwise. Not a secret."""

MAX_BODY_BYTES = 64 * 1024
"""Request bodies longer than this are refused with 413."""


@dataclass(frozen=True, slots=True)
class Fail:
    """Answer `count` DTMF requests with `status` (400-599) instead of 202.

    500, 502 and 504 stand for "played, then failed": the digits count as heard. Any
    other status (503, 4xx) stands for a refusal before anything was played.
    """

    status: int
    count: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) \
                or not 400 <= self.status <= 599:
            raise ValueError(f"a failure status must be 400-599, not {self.status!r}")
        _check_count(self.count)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Answer `count` DTMF requests with 429 and `Retry-After: retry_after` seconds.

    `retry_after=None` leaves the header out, as the Vobiz documentation does. The
    digits of a rate-limited request are not heard.
    """

    count: int = 1
    retry_after: int | None = 1

    def __post_init__(self) -> None:
        _check_count(self.count)
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool)
            or not isinstance(self.retry_after, int)
            or self.retry_after < 0
        ):
            raise ValueError(
                f"retry_after must be whole seconds (0 or more) or None, "
                f"not {self.retry_after!r}")


@dataclass(frozen=True, slots=True)
class Drop:
    """Read `count` DTMF requests in full, then close the connection without answering.

    The server got the digits, so they count as heard (with fault "drop"); the client
    cannot know that.
    """

    count: int = 1

    def __post_init__(self) -> None:
        _check_count(self.count)


DtmfFault = Fail | RateLimit | Drop
"""One entry of a sandbox's DTMF fault script."""


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox does besides where it listens.

    Calls: a call id exists from the first authenticated request that names it. It is
    live from `live_after` seconds after that request (never, with `never_live`) until
    `hangup_after` seconds after it (never, with None), or until it is hung up.

    Faults replace successes only: a request answered 400, 401, 404, 405 or 413 anyway
    does not use one up. `dtmf_faults` is a script consumed in order, one entry per DTMF
    request that would have been accepted: `(Fail(503, 2), Drop())` answers the first
    two such requests 503, drops the third and accepts the rest. `live_fail` answers
    that many live-call GETs that would have been 200 with `live_fail_status`.
    `latency` (seconds) delays every answer the sandbox gives.

    `max_records` bounds the request and heard histories kept for `Sandbox.requests()`
    and `Sandbox.heard()` (oldest dropped first); None keeps everything.

    Slow or silent clients: a connection that has not sent a whole request head within
    `idle_timeout` seconds of opening (or of its last answer) is closed, and a request
    whose body has not arrived `body_timeout` seconds after its head is answered 408.
    """

    auth_id: str = DEMO_AUTH_ID
    auth_token: str = DEMO_AUTH_TOKEN
    live_after: float = 0.0
    never_live: bool = False
    hangup_after: float | None = None
    dtmf_faults: tuple[DtmfFault, ...] = ()
    latency: float = 0.0
    live_fail: int = 0
    live_fail_status: int = 503
    max_records: int | None = None
    idle_timeout: float = 15.0
    body_timeout: float = 10.0
    dial: str = "answer"  # what a placed call meets: one of DIAL_OUTCOMES
    ring_after: float = 0.1  # seconds from Make Call to the ring callback
    answer_after: float = 0.3  # seconds from ringing to the answer (or its failure)
    bad_signature: bool = False  # sign callbacks with the wrong token

    def __post_init__(self) -> None:
        if not self.auth_id or any(c in self.auth_id for c in "/ \t\r\n?#%"):
            raise ValueError(
                f"auth_id must be a non-empty path segment, not {self.auth_id!r}")
        if not self.auth_token or any(c in self.auth_token for c in "\r\n"):
            raise ValueError("auth_token must be a non-empty single line")
        _check_seconds("live_after", self.live_after)
        if self.hangup_after is not None:
            _check_seconds("hangup_after", self.hangup_after)
        _check_seconds("latency", self.latency)
        if self.never_live and self.live_after:
            raise ValueError("never_live and live_after contradict each other: pick one")
        if not isinstance(self.dtmf_faults, tuple) or not all(
                isinstance(f, (Fail, RateLimit, Drop)) for f in self.dtmf_faults):
            raise ValueError("dtmf_faults must be a tuple of Fail, RateLimit and Drop")
        _check_count(self.live_fail)
        if isinstance(self.live_fail_status, bool) \
                or not isinstance(self.live_fail_status, int) \
                or not 400 <= self.live_fail_status <= 599:
            raise ValueError(
                f"live_fail_status must be 400-599, not {self.live_fail_status!r}")
        if self.max_records is not None:
            _check_count(self.max_records)
        if self.dial not in DIAL_OUTCOMES:
            raise ValueError(f"dial must be one of {', '.join(DIAL_OUTCOMES)}, not "
                             f"{self.dial!r}")
        _check_seconds("ring_after", self.ring_after)
        _check_seconds("answer_after", self.answer_after)
        for name in ("idle_timeout", "body_timeout"):
            _check_seconds(name, getattr(self, name))
            if not getattr(self, name):
                raise ValueError(f"{name} must be more than 0 seconds")


DIAL_OUTCOMES = ("answer", "no-answer", "busy", "failed", "machine")


def _check_count(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"a count must be a whole number, 0 or more, not {count!r}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds, 0 or more, not {value!r}")
