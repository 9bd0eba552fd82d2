"""The callbacks of a call ivrflow placed: answer, ring and hangup, received and checked.

Vobiz reports a placed call's progress by POSTing form fields to the URLs given with
Make Call. They are input from the internet, so each is checked before it counts:

- the path carries a per-run token of 128 random bits (compared in constant time), and
  names one of three kinds (`answer`, `ring`, `hangup`); anything else is a 404;
- only POST, a form body of at most `MAX_BODY` bytes read within `READ_WITHIN` seconds,
  at most `MAX_FIELDS` fields;
- the signature (`ivrflow.transport.signatures`) must match on the URL ivrflow gave,
  with a nonce never seen before; otherwise 403, reported, and no effect;
- a callback for another call attempt (`RequestUUID`) is refused too;
- the fields used are checked against their shapes (a call uuid, a known status, a
  hangup cause of letters, digits and `_`); nothing else of them is kept or shown.

The answer callback is answered with VobizXML that keeps the call open while ivrflow
drives it over the REST API (`<Wait length="N"/>`); the others with an empty 200. Every
answer goes at once: Vobiz allows 3 s.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web

from ivrflow.transport.checks import CALL_ID
from ivrflow.transport.signatures import Verifier

KINDS = ("answer", "ring", "hangup")
MAX_BODY = 16 * 1024
MAX_FIELDS = 64
READ_WITHIN = 2.0
STATUSES = frozenset({"ringing", "in-progress", "completed", "busy", "failed", "timeout",
                      "no-answer", "canceled", "cancelled"})
_CAUSE = re.compile(r"[A-Za-z0-9_ ]{1,64}")


@dataclass(frozen=True, slots=True)
class Callback:
    """One accepted callback, in checked fields; `at` is the monotonic time it came."""

    kind: str
    at: float
    call_uuid: str | None
    status: str | None
    cause: str | None
    machine: bool | None


class CallbackReceiver:
    """The callbacks of one call attempt, under `/cb/<token>/` of the run's listener."""

    def __init__(self, auth_token: str, *, keep_open: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token = secrets.token_urlsafe(16)
        self.prefix = f"/cb/{self.token}/"
        self._verifier = Verifier(auth_token)
        self._keep_open = max(1, min(86_400, round(keep_open)))
        self._clock = clock
        self.public_base = ""  # set before the call is placed
        self.request_uuid: str | None = None  # known once Make Call answered
        self.received: list[Callback] = []
        self.problems: list[str] = []
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()
        self._early: list[tuple[str | None, Callback]] = []  # before Make Call answered
        self._expecting = False  # Make Call has answered (`expect`)

    def url(self, kind: str) -> str:
        return self.public_base.rstrip("/") + self.prefix + kind

    @property
    def answer(self) -> Callback | None:
        return next((c for c in self.received if c.kind == "answer"), None)

    @property
    def hangup(self) -> Callback | None:
        return next((c for c in self.received if c.kind == "hangup"), None)

    def expect(self, request_uuid: str | None) -> None:
        """The attempt Make Call named: callbacks that came before are judged now."""
        self.request_uuid = request_uuid
        self._expecting = True
        early, self._early = self._early, []
        for request, callback in early:
            if request_uuid is None or request == request_uuid:
                self._accept(callback)
            else:
                self.problems.append(f"a {callback.kind} callback for another call attempt "
                                     "was ignored")

    def handles(self, path: str) -> bool:
        return path.startswith("/cb/")

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        kind = request.path.rsplit("/", 1)[-1]
        if kind not in KINDS or not hmac.compare_digest(
                request.path.encode(), (self.prefix + kind).encode()):
            self.problems.append("a callback to an unknown path was refused")
            return web.Response(status=404)
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        if (request.content_length or 0) > MAX_BODY:
            self.problems.append(f"a {kind} callback larger than {MAX_BODY} bytes was refused")
            return web.Response(status=413)
        try:
            body = await asyncio.wait_for(read_bounded(request, MAX_BODY), READ_WITHIN)
        except (asyncio.TimeoutError, ValueError, OSError):
            self.problems.append(f"a {kind} callback's body could not be read in time")
            return web.Response(status=400)
        refusal = self._verifier.refusal(self.url(kind), request.headers)
        if refusal is not None:
            self.problems.append(refusal)
            return web.Response(status=403)
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                    max_num_fields=MAX_FIELDS))
        except (UnicodeDecodeError, ValueError):
            self.problems.append(f"a {kind} callback's form could not be read")
            return web.Response(status=400)
        callback = _checked(kind, fields, self._clock())
        request_uuid = fields.get("RequestUUID")
        request_uuid = request_uuid if request_uuid and CALL_ID.fullmatch(request_uuid) \
            else None
        if not self._expecting:  # Make Call's own answer has not come yet
            self._early.append((request_uuid, callback))
        elif self.request_uuid is not None and request_uuid not in (None, self.request_uuid):
            self.problems.append(f"a {kind} callback for another call attempt was ignored")
            return web.Response(status=403)
        else:
            self._accept(callback)
        if kind == "answer":
            xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Wait ' \
                  f'length="{self._keep_open}"/></Response>\n'
            return web.Response(text=xml, content_type="application/xml")
        return web.Response(status=200)

    def _accept(self, callback: Callback) -> None:
        self.received.append(callback)
        if callback.kind == "answer" and callback.call_uuid is not None:
            self.answered.set()
        if callback.kind == "hangup" or callback.status in STATUSES - {"ringing",
                                                                      "in-progress"}:
            self.ended.set()


class CallbackRouter:
    """The callbacks of many placed calls on one listener: one receiver per call attempt,
    each under its own token, found by the token in the path."""

    def __init__(self, auth_token: str, *, keep_open: float) -> None:
        self._token = auth_token
        self._keep_open = keep_open
        self.public_base = ""
        self._receivers: dict[str, CallbackReceiver] = {}
        self.problems: list[str] = []

    def new(self) -> CallbackReceiver:
        receiver = CallbackReceiver(self._token, keep_open=self._keep_open)
        receiver.public_base = self.public_base
        self._receivers[receiver.token] = receiver
        return receiver

    @property
    def receivers(self) -> list[CallbackReceiver]:
        return list(self._receivers.values())

    def handles(self, path: str) -> bool:
        return path.startswith("/cb/")

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        parts = request.path.split("/")
        receiver = self._receivers.get(parts[2]) if len(parts) == 4 else None
        if receiver is None:
            self.problems.append("a callback to an unknown path was refused")
            return web.Response(status=404)
        return await receiver.handle(request)


class TooLarge(ValueError):
    """A request body past its bound; reading stopped there."""


async def read_bounded(request: web.BaseRequest, limit: int) -> bytes:
    """A request's body, read as it comes, never more than `limit` bytes (TooLarge)."""
    body = bytearray()
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"a body larger than {limit} bytes")


def _checked(kind: str, fields: dict[str, str], at: float) -> Callback:
    """The fields ivrflow uses, each kept only if it has its documented shape."""
    call = fields.get("CallUUID")
    status = (fields.get("CallStatus") or "").lower()
    cause = fields.get("HangupCause")
    machine = (fields.get("Machine") or "").lower()
    return Callback(kind, at, call if call and CALL_ID.fullmatch(call) else None,
                    status if status in STATUSES else None,
                    cause if cause and _CAUSE.fullmatch(cause) else None,
                    True if machine == "true" else False if machine == "false" else None)
