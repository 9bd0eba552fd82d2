"""The Vobiz REST API over one `httpx.AsyncClient`.

Every failure is translated here, inside the adapter, into an outcome from `base`; the
rule that decides safety is which failures could have delivered the digits:

- nothing reached the server (connection refused, connect timeout, pool timeout), or the
  server said so (429, 503): `Transient`, safe to retry;
- the request may have been acted on (500, 502, 504, read/write timeout, connection dropped
  after sending, an answer that is not HTTP): `Unknown` for a send. The live-call GET has
  no side effect, so for it the same failures are `Transient`.

Once a status line has arrived it decides the outcome alone. Of the body at most
`MAX_BODY` bytes are read, within the read timeout, and only when it is not compressed
(identity is asked for; a compressed body is never inflated); whatever is left unread is
discarded with the connection. A body cut short, endless, too slow or compressed is simply
unreadable: the API's explanation (`detail`) is then empty and a live call's state unknown
(a 200 then counts as live).

Outcome messages are ivrflow's own words, never a lower layer's exception text; the API's
explanation goes in `detail`, cleaned and with the token redacted.

This adapter never retries; retry policy belongs to the interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
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

import httpx

from ivrflow._version import __version__
from ivrflow.errors import InvalidInput
from ivrflow.language.model import Leg
from ivrflow.transport.aiohttp_transport import NotHttp, SafeAiohttpTransport, ServerDisconnected
from ivrflow.transport.base import (
    Accepted,
    AuthDenied,
    CallGone,
    LiveOutcome,
    Rejected,
    SendOutcome,
    Transient,
    Unknown,
)

DEFAULT_API_URL = "https://api.vobiz.ai"
MAX_RETRY_AFTER = 60.0
CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=5.0, pool=10.0)
# Vobiz's answers are a few hundred bytes; anything past this is not an answer to read.
MAX_BODY = 8 * 1024
MAX_DETAIL = 200
# Compressed answers are never inflated (a small gzip body can expand a thousandfold).
REQUEST_HEADERS = {"Accept-Encoding": "identity"}


def check_call_id(call: str) -> str:
    """A call id safe to put in a URL path; anything else is invalid input."""
    if not CALL_ID.fullmatch(call):
        raise InvalidInput(f"invalid call id {call!r}: use 1-128 letters, digits, '-' or '_', "
                           "starting with a letter or digit")
    return call


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
CREDENTIAL = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no spaces or line breaks
AUTH_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def check_api_url(url: str) -> str:
    """An https base URL without a path, query or credentials (http only on loopback)."""
    if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise InvalidInput("invalid API URL: it carries credentials; give them in "
                           "VOBIZ_AUTH_ID and VOBIZ_AUTH_TOKEN instead")
    try:
        parsed = httpx.URL(url)
        scheme, host, path, port = parsed.scheme, parsed.host, parsed.path, parsed.port
    except Exception:
        scheme = host = path = ""
        port = -1
    if (scheme not in ("http", "https") or not host or "?" in url or "#" in url
            or path not in ("", "/") or not (port is None or 0 < port < 65536)):
        raise InvalidInput(f"invalid API URL {url!r}: give a base URL such as "
                           f"{DEFAULT_API_URL} or http://127.0.0.1:8765")
    if scheme == "http" and host not in LOOPBACK:
        raise InvalidInput(f"invalid API URL {url!r}: use https (plain http would send the "
                           "auth token in clear; it is allowed only for 127.0.0.1)")
    return url.rstrip("/")


def check_credentials(auth_id: str, auth_token: str) -> None:
    """Credentials that can go in a URL path and an HTTP header; never echoes the token."""
    if not AUTH_ID.fullmatch(auth_id):
        raise InvalidInput("VOBIZ_AUTH_ID is not a valid account id (letters, digits, '_', "
                           "'-' and '.', like MA_XXXXXXXX)")
    if not CREDENTIAL.fullmatch(auth_token):
        raise InvalidInput("VOBIZ_AUTH_TOKEN holds spaces, line breaks or non-ASCII "
                           "characters; check how it was set")


class VobizTransport:
    """Send DTMF and look up live calls on one account. Use as an async context manager."""

    def __init__(self, *, auth_id: str, auth_token: str, api_url: str = DEFAULT_API_URL,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, max_connections: int = 10,
                 client: httpx.AsyncClient | None = None) -> None:
        check_credentials(auth_id, auth_token)
        self.auth_id = auth_id
        self._token = auth_token
        self.api_url = check_api_url(api_url)
        self._read_timeout = timeout.read
        self._write_timeout = timeout.write
        self._client = client or httpx.AsyncClient(
            base_url=self.api_url,
            headers={"X-Auth-ID": auth_id, "X-Auth-Token": auth_token,
                     "User-Agent": f"ivrflow/{__version__}", "Accept": "application/json",
                     **REQUEST_HEADERS},
            timeout=timeout,
            transport=SafeAiohttpTransport(limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections)),
            follow_redirects=False,
        )

    async def __aenter__(self) -> VobizTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _call_path(self, call: str) -> str:
        return f"/api/v1/Account/{self.auth_id}/Call/{check_call_id(call)}/"

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        path = self._call_path(call) + "DTMF/"
        try:
            answer = await self._ask("POST", path, json={"digits": digits, "leg": leg})
        except httpx.HTTPError as exc:
            return self._failure(exc, safe=False)
        return _classify(answer, safe=False, token=self._token)

    async def live(self, call: str) -> LiveOutcome:
        try:
            answer = await self._ask("GET", self._call_path(call), params={"status": "live"})
        except httpx.HTTPError as exc:
            return self._failure(exc, safe=True)
        outcome = _classify(answer, safe=True, token=self._token)
        if isinstance(outcome, Accepted):
            state = _live_state(answer.body)
            if state is not None:
                return CallGone(answer.status, "the call's status is not in-progress",
                                detail=_detail(state, self._token))
        return outcome

    async def _ask(self, method: str, path: str, **options: Any) -> _Answer:
        """The status, headers and (bounded) body of one answer; raises only while the
        request is sent and the answer's head read, never once a status is known."""
        request = self._client.build_request(method, path, headers=REQUEST_HEADERS, **options)
        response = await self._client.send(request, stream=True)
        try:
            body = await _read_body(response, self._read_timeout)
        finally:
            # Closing a half-read answer discards its connection rather than draining it.
            with contextlib.suppress(httpx.HTTPError):
                await response.aclose()
        return _Answer(response.status_code, response.headers, body)

    def _failure(self, exc: httpx.HTTPError, *, safe: bool) -> Transient | Unknown:
        """No HTTP answer: Transient if nothing reached the server (or `safe`), else Unknown."""
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return Transient(None, _connect_reason(exc))
        reason = self._lost_reason(exc)
        return Transient(None, reason) if safe else Unknown(None, reason)

    def _lost_reason(self, exc: httpx.HTTPError) -> str:
        """ivrflow's words for a failure after the request may have reached the server."""
        if isinstance(exc, httpx.ReadTimeout):
            return f"no answer within {_seconds(self._read_timeout)}"
        if isinstance(exc, httpx.WriteTimeout):
            return f"the request could not be sent within {_seconds(self._write_timeout)}"
        if isinstance(exc, httpx.TimeoutException):
            return "no answer in time"
        if isinstance(exc, ServerDisconnected):
            return "the server closed the connection after the request was sent"
        if isinstance(exc, NotHttp):
            return "the answer was not valid HTTP"
        if isinstance(exc, httpx.RemoteProtocolError):  # another engine: not told apart
            return "the answer was not valid HTTP, or the connection closed before it came"
        if any(isinstance(cause, ConnectionResetError) for cause in _causes(exc)):
            return "the server reset the connection before answering"
        if isinstance(exc, httpx.WriteError):
            return "the connection was lost while the request was being sent"
        if isinstance(exc, httpx.ProxyError):
            return "the proxy failed"
        if isinstance(exc, httpx.NetworkError):
            return "the connection was lost before an answer came"
        return "the request failed before an answer came"


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes | None  # None: unreadable (compressed, cut short, endless or too slow)


async def _read_body(response: httpx.Response, seconds: float | None) -> bytes | None:
    """At most `MAX_BODY` raw bytes of the body, within `seconds`; else None."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return None  # compressed although identity was asked for: never inflated
    try:
        content = response.content  # already in memory (an answer made up by a mock)
    except httpx.ResponseNotRead:
        pass
    else:
        return content if len(content) <= MAX_BODY else None
    read = bytearray()

    async def gather() -> bool:
        async for chunk in response.aiter_raw():
            read.extend(chunk)
            if len(read) > MAX_BODY:
                return False
        return True

    try:
        complete = await asyncio.wait_for(gather(), seconds)
    except (httpx.HTTPError, asyncio.TimeoutError):  # cut short, malformed, or too slow
        return None
    return bytes(read) if complete else None


def _classify(answer: _Answer, *, safe: bool, token: str = "") -> SendOutcome:
    """Map an HTTP answer to an outcome; `safe`: the request had no side effect."""
    status = answer.status
    if 200 <= status < 300:
        return Accepted(status)
    message = status_message(status)
    detail = _detail(api_explanation(answer.body), token)
    if status in (401, 403):
        return AuthDenied(status, message, detail=detail)
    if status == 404:
        return CallGone(status, message, detail=detail)
    if status in (429, 503):
        return Transient(status, message, retry_after(answer.headers.get("Retry-After")),
                         detail=detail)
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


def _live_state(body: bytes | None) -> str | None:
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


def error_message(response: httpx.Response) -> str:
    """An already-read answer as one line: ivrflow's message, then the API's explanation
    (cleaned, not redacted: the adapter redacts with the token it holds)."""
    explanation = _detail(api_explanation(response.content), "")
    message = status_message(response.status_code)
    return f"{message}: {explanation}" if explanation else message


def _detail(text: str, token: str) -> str:
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


def _connect_reason(exc: httpx.TransportError) -> str:
    """ivrflow's words for a failure before the request could reach the server."""
    if isinstance(exc, httpx.PoolTimeout):
        return "no free connection in time"
    if isinstance(exc, httpx.ConnectTimeout):
        return "could not connect in time"
    for cause in _causes(exc):
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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from, outermost first (cycles and depth bounded)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _seconds(value: float | None) -> str:
    return "the timeout" if value is None else f"{value:g}s"
