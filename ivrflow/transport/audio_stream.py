"""The receiving end of a Vobiz audio stream: a WebSocket server for one expected stream.

Vobiz forks a call's audio to the `service_url` given when the stream is started
(`POST .../Call/{uuid}/Stream/`) and sends JSON text messages: one `start`, then a
`media` message per 20 ms frame, base64 audio in `payload`; the socket closes at the end.
Both documented shapes of `start` are accepted (`start.streamId` nested, or a flat
`streamId`), and the three content types (`audio/x-l16;rate=8000`, `...;rate=16000`,
`audio/x-mulaw;rate=8000`).

Everything that arrives is input from the internet, checked before use:

- the path carries a per-run token of 128 random bits, compared in constant time;
  any other path is a 404, and only one stream is accepted (a second connection: 409);
- messages are text, at most `MAX_MESSAGE` bytes (aiohttp refuses more before reading
  it whole), JSON objects of the documented shapes; a frame's payload decodes to at
  most `MAX_FRAME` bytes of the announced encoding;
- the stream must say it is the call and stream expected (when they are known);
- what is refused is recorded in `problems` (ivrflow's words, never the peer's text)
  and the connection closed with a WebSocket close code that says why.

Frames are handed on, with the monotonic time they arrived, through a bounded queue;
`None` marks the end of the stream.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ivrflow.transport.callbacks import CallbackReceiver, CallbackRouter

MAX_MESSAGE = 16 * 1024  # a 20 ms frame of 16 kHz L16 is 640 bytes, about 900 in base64
MAX_FRAME = 4096  # decoded bytes of one frame's audio
IDLE = 15.0  # seconds a connection may stay silent (no request head) before it is closed
QUEUE = 1000  # frames (20 s of audio) waiting for the detector before new ones are dropped
CONTENT_TYPES = {
    "audio/x-l16;rate=8000": ("l16", 8000),
    "audio/x-l16;rate=16000": ("l16", 16000),
    "audio/x-mulaw;rate=8000": ("mulaw", 8000),
}
_ENCODINGS = {"audio/x-l16": "l16", "l16": "l16", "audio/x-mulaw": "mulaw", "mulaw": "mulaw",
              "audio/pcmu": "mulaw", "pcmu": "mulaw"}
_SILENT = ("playedStream", "clearedAudio", "mark", "stop")  # events that carry no audio
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class BadMessage(Exception):
    """A message that is not what Vobiz sends; `reason` in ivrflow's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamStart:
    stream_id: str
    call_id: str | None
    encoding: str  # l16 (big-endian) or mulaw
    rate: int  # 8000 or 16000


@dataclass(frozen=True, slots=True)
class Media:
    at: float  # monotonic time it arrived
    payload: bytes  # the frame's audio, as sent (L16 big-endian or µ-law)
    track: str | None


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not set(value) <= _ID_CHARS:
        raise BadMessage(f"the start message's {what} is missing or malformed")
    return value


def parse_start(data: dict[str, Any]) -> StreamStart:
    """The `start` message, nested (`start: {streamId, callId, mediaFormat}`) or flat."""
    body = data.get("start") if isinstance(data.get("start"), dict) else data
    assert isinstance(body, dict)
    stream_id = _identifier(body.get("streamId", data.get("streamId")), "streamId")
    call = body.get("callId", data.get("callId"))
    call_id = None if call is None else _identifier(call, "callId")
    media = body.get("mediaFormat", data.get("mediaFormat"))
    if not isinstance(media, dict):
        raise BadMessage("the start message has no mediaFormat")
    encoding = _ENCODINGS.get(str(media.get("encoding", "")).strip().lower())
    rate = media.get("sampleRate")
    if isinstance(rate, str) and rate.isdigit():
        rate = int(rate)
    if encoding is None or rate not in (8000, 16000) or (encoding == "mulaw" and rate != 8000):
        raise BadMessage("the stream's audio format is not one ivrflow reads (L16 at 8 or "
                         "16 kHz, or mu-law at 8 kHz)")
    return StreamStart(stream_id, call_id, encoding, int(rate))


def parse_media(data: dict[str, Any], at: float, start: StreamStart) -> Media:
    media = data.get("media")
    if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
        raise BadMessage("a media message has no payload")
    if len(media["payload"]) > MAX_FRAME * 4 // 3 + 4:
        raise BadMessage("a media frame is larger than any 20 ms frame")
    try:
        payload = base64.b64decode(media["payload"], validate=True)
    except (binascii.Error, ValueError):
        raise BadMessage("a media payload is not base64") from None
    if start.encoding == "l16" and len(payload) % 2:
        raise BadMessage("an L16 media payload has an odd number of bytes")
    stream = data.get("streamId")
    if stream is not None and stream != start.stream_id:
        raise BadMessage("a media message names another stream")
    track = media.get("track")
    return Media(at, payload, track if isinstance(track, str) and len(track) <= 16 else None)


def parse(text: str, at: float, start: StreamStart | None) -> StreamStart | Media | None:
    """One message: its start, a frame, or None for events that carry no audio."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage("a message is not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("a message is not a JSON object")
    event = data.get("event")
    if event not in ("start", "media", *_SILENT):
        raise BadMessage("a message has an unknown event")
    if event == "start":
        if start is not None:
            raise BadMessage("the stream started twice")
        return parse_start(data)
    if start is None:
        raise BadMessage("audio came before the stream's start message")
    if event == "media":
        return parse_media(data, at, start)
    return None


class AudioStreamServer:
    """Accepts the one audio stream of a run at `path` on host:port.

    Use as an async context manager. `expected_call` / `expected_stream` (set once the
    stream was started through the API) are checked against the start message.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *,
                 clock: Callable[[], float] = time.monotonic,
                 callbacks: CallbackReceiver | CallbackRouter | None = None) -> None:
        """`callbacks`: a placed call's callbacks, served beside the stream (same port)."""
        self.host = host
        self.port = port
        self.token = secrets.token_urlsafe(16)
        self.path = f"/audio/{self.token}"
        self.expected_call: str | None = None
        self.expected_stream: str | None = None
        self.start: StreamStart | None = None
        self.frames: asyncio.Queue[Media | None] = asyncio.Queue(QUEUE)
        self.problems: list[str] = []
        self.dropped = 0  # frames dropped because the detector fell behind
        self.connected = asyncio.Event()
        self._clock = clock
        self._taken = False
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.callbacks = callbacks

    def service_url(self, public_base: str) -> str:
        """The URL to give Vobiz: the public base (a tunnel's wss:// address, or ws:// on
        loopback) with this run's path."""
        return public_base.rstrip("/") + self.path

    async def __aenter__(self) -> AudioStreamServer:
        app = web.Application(client_max_size=MAX_MESSAGE)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # a silent client (or half a request head) is closed after IDLE seconds: the
        # listener is public, through a tunnel, and must not be held open by anyone
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0, keepalive_timeout=IDLE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None and not self._socket.closed:
            with contextlib.suppress(Exception):  # the run is over: going away (1001)
                await asyncio.wait_for(self._socket.close(code=1001, message=b"done"), 1.0)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self.callbacks is not None and self.callbacks.handles(request.path):
            return await self.callbacks.handle(request)
        if request.method != "GET":
            return web.Response(status=405, headers={"Allow": "GET"})
        return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not hmac.compare_digest(request.path.encode(), self.path.encode()):
            self.problems.append("a connection to another path was refused")
            return web.Response(status=404)
        if self._taken:
            self.problems.append("a second connection to the audio stream was refused")
            return web.Response(status=409)
        self._taken = True
        socket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, autoping=True)
        await socket.prepare(request)
        self._socket = socket
        self.connected.set()
        try:
            await self._receive(socket)
        finally:
            self._end()
        return socket

    async def _receive(self, socket: web.WebSocketResponse) -> None:
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                try:
                    item = parse(message.data, self._clock(), self.start)
                    if isinstance(item, StreamStart):
                        self._check(item)
                        self.start = item
                    elif item is not None:
                        self._put(item)
                except BadMessage as bad:
                    self.problems.append(bad.reason)
                    await socket.close(code=1007 if "JSON" in bad.reason else 1008,
                                       message=b"refused")
                    return
            elif message.type == WSMsgType.BINARY:
                self.problems.append("a binary message came where Vobiz sends text")
                await socket.close(code=1003, message=b"text only")
                return
            elif message.type == WSMsgType.ERROR:
                self.problems.append("the audio stream broke (a message too large, or not "
                                     "WebSocket)")
                return

    def _check(self, start: StreamStart) -> None:
        if self.expected_call is not None and start.call_id not in (None, self.expected_call):
            raise BadMessage("the stream is of another call")
        if self.expected_stream is not None and start.stream_id != self.expected_stream:
            raise BadMessage("the stream is not the one started for this run")

    def _put(self, media: Media) -> None:
        try:
            self.frames.put_nowait(media)
        except asyncio.QueueFull:
            self.dropped += 1

    def _end(self) -> None:
        while True:
            try:
                self.frames.put_nowait(None)
                return
            except asyncio.QueueFull:  # make room for the end mark: it must get through
                self.frames.get_nowait()
                self.dropped += 1
