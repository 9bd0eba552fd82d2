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
import re
import time
from typing import Any

import httpx

from ivrflow._version import __version__
from ivrflow.errors import InvalidInput
from ivrflow.model import Leg
from ivrflow.transport.aiohttp_transport import SafeAiohttpTransport
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
# Cut only far beyond what is shown (reasons are redacted, then shortened to 300
# characters), so a cut never splits a secret that could then be shown in part.
MAX_MESSAGE = 10_000


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
        self._client = client or httpx.AsyncClient(
            base_url=self.api_url,
            headers={"X-Auth-ID": auth_id, "X-Auth-Token": auth_token,
                     "User-Agent": f"ivrflow/{__version__}", "Accept": "application/json"},
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
            response = await self._client.post(path, json={"digits": digits, "leg": leg})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Transient(None, _connect_reason(exc))
        except httpx.TimeoutException:
            return Unknown(None, f"no answer within {self._read_timeout:g}s")
        except httpx.TransportError as exc:
            return Unknown(None, f"connection lost after sending ({self._text(exc)})")
        except httpx.RequestError as exc:  # an answer that could not be read (bad encoding)
            return Unknown(None, f"the answer could not be read ({self._text(exc)})")
        return _classify(response, safe=False, token=self._token)

    def _text(self, exc: Exception) -> str:
        return _clean(_exc_text(exc), self._token)

    async def live(self, call: str) -> LiveOutcome:
        try:
            response = await self._client.get(self._call_path(call), params={"status": "live"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Transient(None, _connect_reason(exc))
        except httpx.TimeoutException:
            return Transient(None, f"no answer within {self._read_timeout:g}s")
        except httpx.RequestError as exc:
            return Transient(None, f"connection lost ({self._text(exc)})")
        outcome = _classify(response, safe=True, token=self._token)
        if isinstance(outcome, Accepted):
            state = _live_state(response)
            if state is not None:
                return CallGone(response.status_code, f"call status is {state}")
        return outcome


def _classify(response: httpx.Response, *, safe: bool, token: str = "") -> SendOutcome:
    """Map an HTTP answer to an outcome; `safe`: the request had no side effect."""
    status = response.status_code
    if 200 <= status < 300:
        return Accepted(status)
    message = _clean(error_message(response), token)
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
    except (ValueError, RecursionError):  # not JSON, not text, or absurdly nested
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
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message") or error.get("code")
        text = str(error or body.get("message") or "")
    text = " ".join(text.split())[:MAX_MESSAGE]
    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return f"{reason}: {text}" if text else reason


def _clean(text: str, token: str) -> str:
    """No control characters (terminal escapes) and never the token."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return text.replace(token, "****") if token else text


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
