"""From what an HTTP engine got back to an outcome from `base`, the same for every engine.

An engine hands over either an `Answer` (a status line arrived; the body, bounded, if it
could be read) or `NoAnswer` (no status line; `reached` says whether the request may
have reached the server). The rule that decides safety is which failures could have
delivered the digits:

- nothing reached the server (connection refused, connect timeout, no free connection),
  or the server said so (429, 503): `Transient`, safe to retry;
- the request may have been acted on (500, 502, 504, read timeout, connection dropped
  after sending, an answer that is not HTTP): `Unknown` for a send. The live-call GET has
  no side effect, so for it the same failures are `Transient`.

Once a status line has arrived it decides the outcome alone. The engines' reasons come
from the phrases below, so a fault reads the same whichever engine met it; the API's
explanation goes in `detail`, cleaned and with the token redacted.
"""

from __future__ import annotations

import email.utils
import errno
import json
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from ivrflow.transport.base import (
    Accepted,
    AuthDenied,
    CallGone,
    CallOutcome,
    CallPlaced,
    LiveOutcome,
    Rejected,
    SendOutcome,
    StreamOutcome,
    StreamStarted,
    Transient,
    Unknown,
)

MAX_RETRY_AFTER = 60.0
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
# Vobiz's answers are a few hundred bytes; anything past this is not an answer to read.
MAX_BODY = 8 * 1024
MAX_DETAIL = 200
# The longest header line either engine takes (aiohttp's parser's limit): a longer one
# makes the answer "not valid HTTP".
MAX_HEADER_LINE = 8190
# Compressed answers are never inflated (a small gzip body can expand a thousandfold).
REQUEST_HEADERS = {"Accept-Encoding": "identity"}

# ivrflow's words for an answer that never came, shared by the engines
CONNECT_IN_TIME = "could not connect in time"
CLOSED = "the server closed the connection after the request was sent"
NOT_HTTP = "the answer was not valid HTTP"
RESET = "the server reset the connection before answering"
WRITE_LOST = "the connection was lost while the request was being sent"
LOST = "the connection was lost before an answer came"
NOT_IN_TIME = "no answer in time"
FAILED = "the request failed before an answer came"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None  # the raw Retry-After header
    body: bytes | None  # None: unreadable (compressed, cut short, endless or too slow)


@dataclass(frozen=True, slots=True)
class NoAnswer:
    reached: bool  # False: certainly nothing reached the server
    reason: str  # one of the phrases above, or "could not connect (why)"


def send_outcome(got: Answer | NoAnswer, token: str) -> SendOutcome:
    """What a DTMF request's answer means; a send that may have arrived is Unknown."""
    if isinstance(got, NoAnswer):
        return Unknown(None, got.reason) if got.reached else Transient(None, got.reason)
    return classify(got, safe=False, token=token)


def idempotent_outcome(got: Answer | NoAnswer, token: str) -> LiveOutcome:
    """What the answer to a request that may be repeated means (a GET, a DELETE): any
    failure without an answer may be retried."""
    if isinstance(got, NoAnswer):
        return Transient(None, got.reason)
    return classify(got, safe=True, token=token)


def live_outcome(got: Answer | NoAnswer, token: str) -> LiveOutcome:
    """What a live-call lookup's answer means: a 2xx whose body names a state other than
    in-progress is a call gone."""
    outcome = idempotent_outcome(got, token)
    if isinstance(outcome, Accepted):
        assert isinstance(got, Answer)
        state = live_state(got.body)
        if state is not None:
            return CallGone(got.status, "the call's status is not in-progress",
                            detail=clean_detail(state, token))
    return outcome


def call_outcome(got: Answer | NoAnswer, token: str) -> CallOutcome:
    """What Make Call's answer means. Placing a call is billable and rings someone: like a
    send, a request that may have arrived is Unknown and is never repeated blindly."""
    outcome = send_outcome(got, token)
    if not isinstance(outcome, Accepted):
        return outcome
    return CallPlaced(outcome.status, _named(got, "request_uuid"))


def stream_outcome(got: Answer | NoAnswer, token: str) -> StreamOutcome:
    """What starting an audio stream's answer means. Starting one twice does no harm on
    the call, but a stream may have started all the same: the run stops every stream of
    the call when it ends, so an unknown start is no risk either."""
    outcome = send_outcome(got, token)
    if not isinstance(outcome, Accepted):
        return outcome
    return StreamStarted(outcome.status, _named(got, "stream_id"))


def _named(got: Answer | NoAnswer, key: str) -> str | None:
    """The identifier an accepted answer's JSON body gives under `key`, if it has the
    shape of one (None otherwise: the answer is outside text)."""
    assert isinstance(got, Answer)
    data = _json(got.body)
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and STREAM_ID.fullmatch(value) else None


def classify(answer: Answer, *, safe: bool, token: str = "") -> SendOutcome:
    """Map an HTTP answer to an outcome; `safe`: the request had no side effect."""
    status = answer.status
    if 200 <= status < 300:
        return Accepted(status)
    message = status_message(status)
    detail = clean_detail(api_explanation(answer.body), token)
    if status in (401, 403):
        return AuthDenied(status, message, detail=detail)
    if status == 404:
        return CallGone(status, message, detail=detail)
    if status in (429, 503):
        return Transient(status, message, retry_after(answer.retry_after), detail=detail)
    if status >= 500:
        if safe:
            return Transient(status, message, detail=detail)
        return Unknown(status, message, detail=detail)
    return Rejected(status, message, detail=detail)


def _json(body: bytes | None) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not text, or absurdly nested
        return None


def live_state(body: bytes | None) -> str | None:
    """None when the body says the call is in progress (or says nothing), else its state."""
    data = _json(body)
    if not isinstance(data, dict):
        return None
    status = data.get("call_status")
    if isinstance(status, str):
        return None if status.lower() == "in-progress" else status
    calls = data.get("calls")
    if isinstance(calls, list) and calls and isinstance(calls[0], dict):
        state = calls[0].get("call_state")
        if isinstance(state, str):
            return None if state.upper() in ("ACTIVE", "IN-PROGRESS") else state
    return None


def status_message(status: int) -> str:
    """ivrflow's words for a status: the standard phrase, never the server's own."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def api_explanation(body: bytes | None) -> str:
    """The API's own text from `{"error": "..."}`, `{"error": {"message": ...}}` or
    `{"message": ...}`, raw (not yet cleaned); "" when there is none."""
    data = _json(body)
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("code")
    text = error or data.get("message") or ""
    if isinstance(text, str):
        return text
    try:
        return json.dumps(text)
    except (ValueError, RecursionError):
        return ""


def error_message(status: int, body: bytes | None) -> str:
    """An answer as one line: ivrflow's message, then the API's explanation (cleaned,
    not redacted: the adapter redacts with the token it holds)."""
    explanation = clean_detail(api_explanation(body), "")
    message = status_message(status)
    return f"{message}: {explanation}" if explanation else message


def clean_detail(text: str, token: str) -> str:
    """Outside text made safe to show: no control or format characters (terminal
    escapes, bidi overrides), whitespace collapsed, never the token, at most 200
    characters (cut after redacting, so no part of the token can be left)."""
    kept = "".join(" " if c.isspace() else c for c in text if c.isspace() or c.isprintable())
    kept = " ".join(kept.split())
    if token:
        kept = kept.replace(token, "****")
    return kept if len(kept) <= MAX_DETAIL else kept[:MAX_DETAIL - 3].rstrip() + "..."


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), capped at 60 s."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def read_timeout_reason(seconds: float | None) -> str:
    return NOT_IN_TIME if seconds is None else f"no answer within {seconds:g}s"


def connect_reason(exc: BaseException) -> str:
    """ivrflow's words for a failure before the request could reach the server, from the
    first cause in `exc`'s chain that says why."""
    for cause in causes(exc):
        why = _connect_cause(cause)
        if why:
            return f"could not connect ({why})"
    return "could not connect"


def _connect_cause(cause: BaseException) -> str:
    if isinstance(cause, ssl.SSLCertVerificationError):
        return "the server's TLS certificate could not be verified"
    if isinstance(cause, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(cause, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ConnectionResetError):
        return "connection reset"
    if isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH:
        return "network unreachable"
    if isinstance(cause, OSError) and cause.errno == errno.EHOSTUNREACH:
        return "host unreachable"
    return ""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from, outermost first (cycles and depth bounded)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
