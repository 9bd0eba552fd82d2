"""The sandbox's Audio Stream API: it forks a call's audio to a WebSocket, as Vobiz does.

On `POST .../Call/{uuid}/Stream/` the sandbox connects to the `service_url` as a
WebSocket client and sends, in real time, the documented messages: one `start` (the
nested shape, with `streamId` and `mediaFormat`), then a `media` message every 20 ms
whose `payload` is base64 audio in the asked `content_type` (L16 big-endian or µ-law, 8
or 16 kHz). What the call sounds like comes from its `Voice`: the menu model behind the
sandbox speaking its prompts (ivrflow.menu.voice), or quiet line noise without one.

Frames are due on a monotonic schedule from the stream's start (frame n at start + n *
20 ms, never drifting), and a late frame is sent at once rather than skipped, as a real
media server does. The stream ends on `DELETE`, when its call ends, when the other side
closes, or when the sandbox stops; as with Vobiz, there is no stop message: the socket
closes.

The sandbox never reaches beyond this machine: it streams only to `ws://` on loopback
(checked by the handler before anything is started).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from ivrflow.listen.audio import FRAME_SECONDS as FRAME
from ivrflow.transport.audio_stream import CONTENT_TYPES

CONNECT_TIMEOUT = 5.0  # seconds for the WebSocket's connection and handshake
TRACKS = ("inbound", "outbound", "both")
MAX_STREAMS = 64  # playing at once; more are refused (503), so a loop cannot exhaust it
MAX_KEPT = 1000  # finished streams remembered for GET

Voice = Callable[[float, float], bytes]
"""A call's audio: (monotonic start, seconds) -> 16-bit little-endian PCM at the
stream's rate."""
Voices = Callable[[str, int], Voice]
"""The voice of a call at a rate."""


def line_noise(call: str, rate: int) -> Voice:
    """A call with nobody speaking: quiet line noise."""
    from ivrflow.listen.speech import noise

    loop = noise(2.0, rate, seed=1)
    samples = len(loop) // 2
    doubled = loop + loop  # a slice of up to the loop's length never runs off its end

    def voice(start: float, seconds: float) -> bytes:
        first = round(start * rate) % samples
        count = min(samples, round(seconds * rate))
        return doubled[2 * first:2 * (first + count)]

    return voice


@dataclass
class Stream:
    stream_id: str
    call: str
    service_url: str
    content_type: str
    track: str
    started_wall: float
    status: str = "in-progress"
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        rate = CONTENT_TYPES[self.content_type][1]
        return {"stream_id": self.stream_id, "call_uuid": self.call,
                "service_url": self.service_url, "audio_track": self.track,
                "bidirectional": False, "content_type": self.content_type,
                "sampling_rate": rate, "status": self.status,
                "start_time": _iso(self.started_wall)}


class StreamPlayer:
    """Every audio stream of one sandbox."""

    def __init__(self, voices: Voices | None, is_live: Callable[[str], bool],
                 auth_id: str) -> None:
        self._voices = voices or line_noise
        self._is_live = is_live
        self._auth_id = auth_id
        self._streams: dict[str, Stream] = {}
        self._session: aiohttp.ClientSession | None = None

    @property
    def full(self) -> bool:
        return sum(1 for s in self._streams.values() if s.status == "in-progress") \
            >= MAX_STREAMS

    def start(self, call: str, service_url: str, content_type: str, track: str) -> Stream:
        if len(self._streams) >= MAX_KEPT:  # forget the oldest finished ones
            for old in [k for k, v in self._streams.items() if v.status != "in-progress"
                        ][:len(self._streams) - MAX_KEPT + 1]:
                del self._streams[old]
        stream = Stream("st-" + uuid.uuid4().hex, call, service_url, content_type, track,
                        time.time())
        self._streams[stream.stream_id] = stream
        stream.task = asyncio.get_running_loop().create_task(self._play(stream))
        return stream

    def of_call(self, call: str) -> list[Stream]:
        return [s for s in self._streams.values() if s.call == call]

    def get(self, call: str, stream_id: str) -> Stream | None:
        stream = self._streams.get(stream_id)
        return stream if stream is not None and stream.call == call else None

    async def stop(self, stream: Stream) -> None:
        if stream.task is not None and not stream.task.done():
            stream.task.cancel()
            await asyncio.gather(stream.task, return_exceptions=True)
        if stream.status == "in-progress":
            stream.status = "completed"

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            await self.stop(stream)
        if self._session is not None:
            await self._session.close()

    async def _play(self, stream: Stream) -> None:
        encoding, rate = CONTENT_TYPES[stream.content_type]
        if self._session is None:
            # no proxy from the environment and no cookies: the stream goes straight to
            # the loopback address it was given
            self._session = aiohttp.ClientSession(
                trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                              sock_connect=CONNECT_TIMEOUT))
        try:
            async with self._session.ws_connect(
                    stream.service_url, timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                    max_msg_size=64 * 1024, autoclose=True, heartbeat=None,
                    proxy=None) as socket:
                await self._send_audio(stream, socket, encoding, rate)
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            stream.status = "failed"
            stream.problem = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            if stream.status == "in-progress":
                stream.status = "completed"

    async def _send_audio(self, stream: Stream, socket: aiohttp.ClientWebSocketResponse,
                          encoding: str, rate: int) -> None:
        from ivrflow.listen.audio import L16, MULAW, AudioFormat, encode

        fmt = AudioFormat(L16 if encoding == "l16" else MULAW, rate)
        voice = self._voices(stream.call, rate)
        await socket.send_str(json.dumps({"event": "start", "sequenceNumber": 0, "start": {
            "callId": stream.call, "streamId": stream.stream_id,
            "accountId": self._auth_id, "tracks": [stream.track],
            "mediaFormat": {"encoding": f"audio/x-{encoding}", "sampleRate": rate}}}))
        began = time.monotonic()
        n = 0
        while self._is_live(stream.call) and not socket.closed:
            due = began + n * FRAME
            delay = due + FRAME - time.monotonic()  # a frame goes once it has played
            if delay > 0:
                await asyncio.sleep(delay)
            payload = encode(voice(due, FRAME), fmt)
            await socket.send_str(json.dumps({
                "event": "media", "sequenceNumber": n + 1, "streamId": stream.stream_id,
                "media": {"track": stream.track, "timestamp": str(round(n * FRAME * 1000)),
                          "chunk": n + 1,
                          "payload": base64.b64encode(payload).decode("ascii")}}))
            n += 1


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall))
