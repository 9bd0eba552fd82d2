"""The sandbox places calls: Make Call dials a virtual callee and reports by callbacks.

`POST .../Call/` with `from`, `to` and `answer_url` (and optionally `ring_url`,
`hangup_url` and their methods) answers `{"api_id", "request_uuid", "message": "Call
fired"}` and then plays the call as Vobiz would, with callbacks signed by the sandbox's
auth token (`X-Vobiz-Signature-V3` and `-V2`, form-encoded POSTs):

1. `ring_after` seconds later, the ring callback (`CallStatus=ringing`);
2. `answer_after` seconds after that, per `SandboxConfig.dial`:
   - `answer` (the default): the call goes live under a new call uuid (not the request
     uuid, so a client must match callbacks by `RequestUUID`) and the answer URL is
     called; its VobizXML is read (at most 100 KB, within 3 s) for `<Wait length>`,
     after which the sandbox hangs up, as Vobiz would at the end of the XML;
   - `no-answer`, `busy`, `failed`: no answer; the hangup callback says so
     (`CallStatus`, `HangupCause`);
3. when the call ends, however it ends (`DELETE`, the menu model hanging up,
   `hangup_after`, the end of the Wait), the hangup callback (`CallStatus=completed`).

`machine` answers as a machine: with `machine_detection` asked for, the answer callback
carries `Machine=true` (`false` for a person). `bad_signature` signs every callback with
the wrong token, to test that clients refuse them.

Callbacks go only to `http://` URLs on loopback (anything else is a 400 at Make Call:
the sandbox reaches nothing beyond this machine), without proxies from the
environment; a callback that fails or times out is dropped, as Vobiz does after its
retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from ivrflow.sandbox.config import DIAL_OUTCOMES
from ivrflow.transport.checks import LOOPBACK
from ivrflow.transport.signatures import sign

__all__ = ["DIAL_OUTCOMES", "Dialer", "PlacedCall", "refusal"]
ENDINGS = {"no-answer": ("no-answer", "NO_ANSWER"), "busy": ("busy", "USER_BUSY"),
           "failed": ("failed", "UNALLOCATED_NUMBER")}
MAX_XML = 100 * 1024
CALLBACK_WITHIN = 3.0
_WAIT = re.compile(rb"<Wait\b[^>]*\blength\s*=\s*[\"'](\d{1,6})[\"']")
_NUMBER = re.compile(r"\+?[0-9]{3,20}|sip:[A-Za-z0-9._@:+-]{1,200}")


@dataclass
class PlacedCall:
    request_uuid: str
    call_uuid: str
    fields: Mapping[str, Any]
    status: str = "ringing"
    callbacks: list[tuple[str, int | None]] = field(default_factory=list)  # (kind, status)
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def refusal(data: Mapping[str, Any]) -> str | None:
    """Why a Make Call body is refused (400), or None."""
    for key in ("from", "to"):
        value = data.get(key)
        if not isinstance(value, str) or not _NUMBER.fullmatch(value):
            return f"{key} is required: a number in E.164 digits, such as 14155550123"
    if not isinstance(data.get("answer_url"), str):
        return "answer_url is required: the URL that returns the call's VobizXML"
    for key in ("answer_url", "ring_url", "hangup_url"):
        url = data.get(key)
        if url is None:
            continue
        if not isinstance(url, str) or len(url) > 2048 or not _loopback_http(url):
            return (f"{key}: the sandbox calls back only http:// URLs on loopback "
                    "(127.0.0.1, ::1 or localhost); nothing leaves this machine")
    for key in ("answer_method", "ring_method", "hangup_method"):
        if data.get(key, "POST") not in ("POST", "GET"):
            return f"{key} must be POST or GET"
    return None


def _loopback_http(url: str) -> bool:
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme == "http" and parsed.host in LOOPBACK


class Dialer:
    """The calls one sandbox places."""

    def __init__(self, *, auth_token: str, outcome: str, ring_after: float,
                 answer_after: float, bad_signature: bool,
                 mark_live: Callable[[str], None], is_live: Callable[[str], bool],
                 hang_up: Callable[[str], object]) -> None:
        self._token = "not-" + auth_token if bad_signature else auth_token
        self._outcome = outcome
        self._ring_after = ring_after
        self._answer_after = answer_after
        self._mark_live = mark_live
        self._is_live = is_live
        self._hang_up = hang_up
        self.calls: dict[str, PlacedCall] = {}
        self._session: aiohttp.ClientSession | None = None

    def place(self, data: Mapping[str, Any]) -> PlacedCall:
        call = PlacedCall(str(uuid.uuid4()), str(uuid.uuid4()), dict(data))
        self.calls[call.request_uuid] = call
        call.task = asyncio.get_running_loop().create_task(self._play(call))
        return call

    async def close(self) -> None:
        for call in self.calls.values():
            if call.task is not None and not call.task.done():
                call.task.cancel()
                await asyncio.gather(call.task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _play(self, call: PlacedCall) -> None:
        await asyncio.sleep(self._ring_after)
        await self._callback(call, "ring", {"CallStatus": "ringing"})
        await asyncio.sleep(self._answer_after)
        if self._outcome in ENDINGS:
            status, cause = ENDINGS[self._outcome]
            call.status = status
            self._hang_up(call.call_uuid)  # the uuid never goes live
            await self._callback(call, "hangup", {"CallStatus": status, "HangupCause": cause,
                                                  "Duration": "0", "BillDuration": "0"})
            return
        self._mark_live(call.call_uuid)
        call.status = "in-progress"
        began = time.monotonic()
        answer: dict[str, str] = {"CallStatus": "in-progress", "Event": "StartApp"}
        if str(call.fields.get("machine_detection", "")).lower() in ("true", "hangup"):
            answer["Machine"] = "true" if self._outcome == "machine" else "false"
        xml = await self._callback(call, "answer", answer)
        wait = _WAIT.search(xml or b"")
        ends = began + int(wait[1]) if wait else None
        if xml is None:
            self._hang_up(call.call_uuid)  # no XML to play: Vobiz ends the call
        while self._is_live(call.call_uuid):
            if ends is not None and time.monotonic() >= ends:
                self._hang_up(call.call_uuid)
                break
            await asyncio.sleep(0.02)
        call.status = "completed"
        duration = str(round(time.monotonic() - began))
        await self._callback(call, "hangup", {"CallStatus": "completed",
                                              "HangupCause": "NORMAL_CLEARING",
                                              "Duration": duration, "BillDuration": duration})

    async def _callback(self, call: PlacedCall, kind: str, fields: dict[str, str]
                        ) -> bytes | None:
        """Send one callback, signed; the answer's body (bounded) if it was 2xx."""
        url = call.fields.get(f"{kind}_url")
        if not isinstance(url, str):
            return None
        method = str(call.fields.get(f"{kind}_method", "POST"))
        form = {"CallUUID": call.call_uuid, "RequestUUID": call.request_uuid,
                "ALegUUID": call.call_uuid, "ALegRequestUUID": call.request_uuid,
                "From": str(call.fields["from"]), "To": str(call.fields["to"]),
                "Direction": "outbound", **fields}
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        headers = sign(self._token, url)
        status: int | None = None
        body: bytes | None = None
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            async with self._session.request(
                    method, url, headers=headers, allow_redirects=False,
                    data=form if method == "POST" else None,
                    params=form if method == "GET" else None,
                    timeout=aiohttp.ClientTimeout(total=CALLBACK_WITHIN)) as answer:
                status = answer.status
                content = bytearray()
                while len(content) <= MAX_XML:
                    chunk = await answer.content.read(MAX_XML + 1 - len(content))
                    if not chunk:
                        break
                    content += chunk
                if 200 <= answer.status < 300 and len(content) <= MAX_XML:
                    body = bytes(content)
        call.callbacks.append((kind, status))
        return body
