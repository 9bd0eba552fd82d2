"""The HTTP face of a sandbox: one aiohttp handler that answers like the Vobiz API.

Checks run in the order a client meets them: body size (413), path (404), spelling
(401), method (405), credentials (401), then the endpoint's own input (400) and the
call's state (404). Faults replace only what would have been a success. Every request
that reaches the handler is recorded, and reported to the listeners, before the
configured latency and the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from yarl import URL

from ivrflow.sandbox.config import MAX_BODY_BYTES, Fail, RateLimit, SandboxConfig
from ivrflow.sandbox.dialer import Dialer
from ivrflow.sandbox.dialer import refusal as dial_refusal
from ivrflow.sandbox.faults import fault_name
from ivrflow.sandbox.routes import ALLOWED_METHODS, Endpoint, Route, match
from ivrflow.sandbox.state import HeardListener, RequestListener, RequestRecord, SandboxState
from ivrflow.sandbox.streams import TRACKS, StreamPlayer
from ivrflow.transport.audio_stream import CONTENT_TYPES
from ivrflow.transport.callbacks import TooLarge, read_bounded
from ivrflow.transport.checks import LOOPBACK

_DIGITS = re.compile(r"[0-9*#wW]+")
_LEGS = frozenset({"aleg", "bleg", "both"})
_JSON = "application/json"
DEFAULT_CONTENT_TYPE = "audio/x-l16;rate=8000"


@dataclass(frozen=True, slots=True)
class _Answer:
    """An answer decided but not yet sent; `status` None drops the connection."""

    status: int | None
    body: Mapping[str, object] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    digits: str | None = None
    leg: str | None = None
    fault: str | None = None
    close: bool = False  # close the connection after the answer


def _error(status: int, message: str, **extra: Any) -> _Answer:
    return _Answer(status, {"api_id": _api_id(), "error": message}, **extra)


def _api_id() -> str:
    return str(uuid.uuid4())


class _TooLarge(Exception):
    pass


class SandboxHandler:
    """The aiohttp low-level request handler of one sandbox."""

    def __init__(self, config: SandboxConfig, state: SandboxState,
                 on_request: RequestListener | None = None,
                 on_heard: HeardListener | None = None,
                 streams: StreamPlayer | None = None, dialer: Dialer | None = None
                 ) -> None:
        self._config = config
        self._state = state
        self._streams = streams or StreamPlayer(
            None, lambda call: state.is_live(call, time.monotonic()), config.auth_id)
        self._dialer = dialer
        self._on_request = on_request
        self._on_heard = on_heard

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        now = time.monotonic()
        wall = time.time()
        route = match(request.rel_url.raw_path)
        answer = await self._answer(request, route, now, wall)
        call = None if route is None else route.call
        record = RequestRecord(now, wall, request.method, request.raw_path, call,
                               answer.digits, answer.leg, answer.status, answer.fault)
        self._state.record(record, dtmf_post=route is not None
                           and route.endpoint is Endpoint.DTMF and request.method == "POST")
        if self._on_request is not None:
            self._on_request(record)
        if self._config.latency:
            await asyncio.sleep(self._config.latency)
        if answer.status is None:
            # Closing now, after the whole body was read, is the fault: the server has
            # the digits and the client never learns it. aiohttp then fails to write
            # the response below into the closed transport, which it expects.
            request.protocol.force_close()
            return web.Response(status=500)
        if answer.body is None:
            response = web.Response(status=answer.status, headers=answer.headers)
        else:
            response = web.Response(status=answer.status, headers=answer.headers,
                                    body=json.dumps(answer.body).encode(), content_type=_JSON)
        if answer.close:
            # Sent and closed here: aiohttp would otherwise linger, reading a body that
            # is not coming, for up to 10 s.
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
        return response

    async def _answer(self, request: web.BaseRequest, route: Route | None,
                      now: float, wall: float) -> _Answer:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        if route is None:
            return _error(404, "not found")
        if route.miscased:
            return _error(401, "paths are case-sensitive: use /api/v1/Account/{auth_id}"
                               "/Call/{call_uuid}/DTMF/")
        allowed = ALLOWED_METHODS[route.endpoint]
        if request.method not in allowed:
            return _error(405, f"method {request.method} not allowed here",
                          headers={"Allow": ", ".join(allowed)})
        refusal = self._check_auth(request, route)
        if refusal is not None:
            return refusal
        if route.call is not None:
            self._state.touch(route.call, now, wall)
        if route.endpoint is Endpoint.DTMF:
            assert route.call is not None
            return await self._send_digits(request, route.call, now, wall)
        if route.endpoint in (Endpoint.STREAMS, Endpoint.STREAM):
            assert route.call is not None
            return await self._stream(request, route, now)
        if route.endpoint is Endpoint.CALLS and request.method == "POST":
            return await self._make_call(request)
        if request.method == "DELETE":
            assert route.call is not None
            if self._state.hang_up(route.call, now, wall):
                return _Answer(204)
            return _error(404, f"call {route.call} is not in progress")
        if request.rel_url.query.get("status") != "live":
            return _error(400, "add ?status=live: only live calls can be retrieved")
        if route.endpoint is Endpoint.CALLS:
            return _Answer(200, {"api_id": _api_id(),
                                 "calls": self._state.live_calls(now)})
        assert route.call is not None
        return self._live_call(route.call, now, wall)

    def _check_auth(self, request: web.BaseRequest, route: Route) -> _Answer | None:
        auth_id = request.headers.get("X-Auth-ID")
        token = request.headers.get("X-Auth-Token")
        if auth_id is None or token is None:
            return _error(401, "missing X-Auth-ID or X-Auth-Token header")
        if auth_id != self._config.auth_id or token != self._config.auth_token:
            return _error(401, "invalid X-Auth-ID or X-Auth-Token")
        if route.auth_id != auth_id:
            return _error(401, "the account in the path is not the X-Auth-ID account")
        return None

    async def _json_body(self, request: web.BaseRequest, example: str
                         ) -> dict[str, Any] | _Answer:
        """The request's JSON object, or the answer that refuses it (`example`: what a
        good body looks like, for the message)."""
        try:
            body = await asyncio.wait_for(_read_body(request), self._config.body_timeout)
        except _TooLarge:
            return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        except asyncio.TimeoutError:
            return _error(408, f"the request body did not arrive within "
                               f"{self._config.body_timeout:g} s", close=True)
        except Exception:  # a body that cannot be read is the client's fault, never ours
            return _error(400, "the request body could not be read")
        try:
            # Decoding first refuses UTF-16 and UTF-32, which json.loads would guess at.
            data = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return _error(400, f"the body must be UTF-8 JSON like {example}")
        if not isinstance(data, dict):
            return _error(400, f"the body must be a JSON object like {example}")
        return data

    async def _send_digits(self, request: web.BaseRequest, call: str,
                           now: float, wall: float) -> _Answer:
        data = await self._json_body(request, '{"digits": "123#"}')
        if isinstance(data, _Answer):
            return data
        digits = data.get("digits")
        leg = data.get("leg", "aleg")
        shown_digits = digits if isinstance(digits, str) else None
        shown_leg = leg if isinstance(leg, str) else None
        if digits is None:
            return _error(400, "digits is required", leg=shown_leg)
        if shown_digits is None or not _DIGITS.fullmatch(shown_digits):
            return _error(400, "digits must be a string of 0-9, *, #, w and W",
                          digits=shown_digits, leg=shown_leg)
        if shown_leg is None or shown_leg not in _LEGS:
            return _error(400, "leg must be aleg, bleg or both",
                          digits=shown_digits, leg=shown_leg)
        outcome = self._state.dtmf(call, shown_leg, shown_digits, now, wall)
        if outcome.heard is not None and self._on_heard is not None:
            self._on_heard(outcome.heard)
        fault = outcome.fault
        name = None if fault is None else fault_name(fault)
        if outcome.status == 404:
            return _error(404, f"call {call} is not in progress",
                          digits=shown_digits, leg=shown_leg)
        if outcome.status == 202:
            return _Answer(202, {"api_id": _api_id(), "message": "digits sent"},
                           digits=shown_digits, leg=shown_leg)
        if isinstance(fault, RateLimit):
            headers = {} if fault.retry_after is None else {
                "Retry-After": str(fault.retry_after)}
            return _error(429, "Rate limit exceeded", headers=headers,
                          digits=shown_digits, leg=shown_leg, fault=name)
        if isinstance(fault, Fail):
            return _error(fault.status, _phrase(fault.status),
                          digits=shown_digits, leg=shown_leg, fault=name)
        return _Answer(None, digits=shown_digits, leg=shown_leg, fault=name)

    async def _make_call(self, request: web.BaseRequest) -> _Answer:
        """Make Call: dial a virtual callee (ivrflow.sandbox.dialer)."""
        if self._dialer is None:
            return _error(405, "this sandbox does not place calls", headers={"Allow": "GET"})
        data = await self._json_body(request, '{"from": "14155550123", "to": "18005550100", '
                                              '"answer_url": "http://127.0.0.1:8765/a"}')
        if isinstance(data, _Answer):
            return data
        refused = dial_refusal(data)
        if refused is not None:
            return _error(400, refused)
        call = self._dialer.place(data)
        return _Answer(201, {"api_id": _api_id(), "request_uuid": call.request_uuid,
                             "message": "Call fired"})

    async def _stream(self, request: web.BaseRequest, route: Route, now: float) -> _Answer:
        """The Audio Stream endpoints: start, list, get and stop."""
        call = route.call
        assert call is not None
        if route.endpoint is Endpoint.STREAM:
            assert route.stream is not None
            stream = self._streams.get(call, route.stream)
            if stream is None:
                return _error(404, f"stream {route.stream} not found on call {call}")
            if request.method == "DELETE":
                await self._streams.stop(stream)
                return _Answer(204)
            return _Answer(200, {"api_id": _api_id(), **stream.to_json()})
        if request.method == "GET":
            return _Answer(200, {"api_id": _api_id(), "objects": [
                s.to_json() for s in self._streams.of_call(call)]})
        if request.method == "DELETE":
            for stream in self._streams.of_call(call):
                await self._streams.stop(stream)
            return _Answer(204)
        data = await self._json_body(request, '{"service_url": "ws://127.0.0.1:8765/x"}')
        if isinstance(data, _Answer):
            return data
        refusal = _stream_refusal(data)
        if refusal is not None:
            return _error(400, refusal)
        if not self._state.is_live(call, now):
            return _error(404, f"call {call} is not in progress")
        if self._streams.full:
            return _error(503, "too many audio streams at once", headers={"Retry-After": "1"})
        stream = self._streams.start(call, data["service_url"],
                                     data.get("content_type", DEFAULT_CONTENT_TYPE),
                                     data.get("audio_track", "inbound"))
        return _Answer(201, {"api_id": _api_id(), "stream_id": stream.stream_id,
                             "message": "Stream started"})

    def _live_call(self, call: str, now: float, wall: float) -> _Answer:
        status, live = self._state.live_call(call, now, wall)
        if live is None:
            if status == 404:
                return _error(404, f"call {call} is not in progress")
            return _error(status, _phrase(status), fault=str(status))
        return _Answer(200, {
            "api_id": _api_id(),
            "call_status": "in-progress",
            "call_uuid": live.call_uuid,
            "caller_name": "ivrflow sandbox",
            "direction": "outbound",
            "from": "+15550100001",
            "to": "+15550100002",
            "request_uuid": live.request_uuid,
            "session_start": live.session_start,
            "stir_attestation": "A",
            "stir_verification": "Not Applicable",
        })


def _stream_refusal(data: dict[str, Any]) -> str | None:
    """Why a stream's start body is refused, or None. The sandbox reaches nothing beyond
    this machine, so it streams only to ws:// on loopback."""
    url = data.get("service_url")
    if not isinstance(url, str) or not url:
        return "service_url is required: the WebSocket URL to stream the call's audio to"
    try:
        parsed = URL(url)
        scheme, host = parsed.scheme, parsed.host
    except ValueError:
        scheme, host = "", ""
    if scheme != "ws" or host not in LOOPBACK or len(url) > 2048:
        return ("the sandbox streams only to ws:// on loopback (127.0.0.1, ::1 or "
                "localhost); nothing leaves this machine")
    if data.get("bidirectional", False) is not False:
        return "bidirectional streams are not supported by the sandbox; send false"
    if data.get("content_type", DEFAULT_CONTENT_TYPE) not in CONTENT_TYPES:
        return "content_type must be one of " + ", ".join(CONTENT_TYPES)
    if data.get("audio_track", "inbound") not in TRACKS:
        return "audio_track must be one of " + ", ".join(TRACKS)
    return None


async def _read_body(request: web.BaseRequest) -> bytes:
    if request.headers.get("Expect", "").lower() == "100-continue" \
            and request.version >= (1, 1):
        # The low-level server leaves this to the handler; curl waits for it.
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        return await read_bounded(request, MAX_BODY_BYTES)
    except TooLarge:
        raise _TooLarge from None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "sandbox fault"
