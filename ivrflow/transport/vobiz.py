"""The Vobiz REST API over one `httpx.AsyncClient`.

Every failure is translated here, inside the adapter, into an outcome from `base`; the
rule that decides safety is which failures could have delivered the digits:

- nothing reached the server (connection refused, connect timeout, pool timeout), or the
  server said so (429, 503): `Transient`, safe to retry;
- the request may have been acted on (500, 502, 504, read/write timeout, connection dropped
  after sending): `Unknown` for a send. The live-call GET has no side effect, so for it
  the same failures are `Transient`.

This adapter never retries; retry policy belongs to the interpreter.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

import httpx

from ivrflow._version import __version__
from ivrflow.errors import InvalidInput
from ivrflow.model import Leg
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


def check_call_id(call: str) -> str:
    """A call id safe to put in a URL path; anything else is invalid input."""
    if not CALL_ID.fullmatch(call):
        raise InvalidInput(f"invalid call id {call!r}: use 1-128 letters, digits, '-' or '_', "
                           "starting with a letter or digit")
    return call


def check_api_url(url: str) -> str:
    """An http(s) base URL without a path, query or credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if (parsed is None or parsed.scheme not in ("http", "https") or not parsed.host
            or parsed.userinfo or parsed.query or parsed.path not in ("", "/")):
        raise InvalidInput(f"invalid API URL {url!r}: give a base URL such as "
                           f"{DEFAULT_API_URL} or http://127.0.0.1:8765")
    return url.rstrip("/")


class VobizTransport:
    """Send DTMF and look up live calls on one account. Use as an async context manager."""

    def __init__(self, *, auth_id: str, auth_token: str, api_url: str = DEFAULT_API_URL,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, max_connections: int = 10,
                 client: httpx.AsyncClient | None = None) -> None:
        self.auth_id = auth_id
        self.api_url = check_api_url(api_url)
        self._read_timeout = timeout.read
        self._client = client or httpx.AsyncClient(
            base_url=self.api_url,
            headers={"X-Auth-ID": auth_id, "X-Auth-Token": auth_token,
                     "User-Agent": f"ivrflow/{__version__}", "Accept": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
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
            response = await self._client.post(path, json={"digits": digits, "leg": leg})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Transient(None, _connect_reason(exc))
        except httpx.TimeoutException:
            return Unknown(None, f"no answer within {self._read_timeout:g}s")
        except httpx.TransportError as exc:
            return Unknown(None, f"connection lost after sending ({_exc_text(exc)})")
        return _classify(response, safe=False)

    async def live(self, call: str) -> LiveOutcome:
        try:
            response = await self._client.get(self._call_path(call), params={"status": "live"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Transient(None, _connect_reason(exc))
        except httpx.TimeoutException:
            return Transient(None, f"no answer within {self._read_timeout:g}s")
        except httpx.TransportError as exc:
            return Transient(None, f"connection lost ({_exc_text(exc)})")
        outcome = _classify(response, safe=True)
        if isinstance(outcome, Accepted):
            state = _live_state(response)
            if state is not None:
                return CallGone(response.status_code, f"call status is {state}")
        return outcome


def _classify(response: httpx.Response, *, safe: bool) -> SendOutcome:
    """Map an HTTP answer to an outcome; `safe`: the request had no side effect."""
    status = response.status_code
    if 200 <= status < 300:
        return Accepted(status)
    message = error_message(response)
    if status in (401, 403):
        return AuthDenied(status, message)
    if status == 404:
        return CallGone(status, message)
    if status in (429, 503):
        return Transient(status, message, retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        return Transient(status, message) if safe else Unknown(status, message)
    return Rejected(status, message)


def _live_state(response: httpx.Response) -> str | None:
    """None when the body says the call is in progress (or says nothing), else its state."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("call_status")
    if isinstance(status, str):
        return None if status.lower() == "in-progress" else status
    calls = body.get("calls")
    if isinstance(calls, list) and calls and isinstance(calls[0], dict):
        state = calls[0].get("call_state")
        if isinstance(state, str):
            return None if state.upper() in ("ACTIVE", "IN-PROGRESS") else state
    return None


def error_message(response: httpx.Response) -> str:
    """The API's explanation, from `{"error": "text"}` or `{"error": {"message": ...}}`."""
    text = ""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message") or error.get("code")
        text = str(error or body.get("message") or "")
    text = " ".join(text.split())[:200]
    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return f"{reason}: {text}" if text else reason


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
    if isinstance(exc, httpx.PoolTimeout):
        return "no free connection in time"
    if isinstance(exc, httpx.ConnectTimeout):
        return "could not connect in time"
    return f"could not connect ({_exc_text(exc)})"


def _exc_text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
