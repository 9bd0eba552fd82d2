"""The audio stream's receiving end over a real WebSocket on loopback: the documented
message shapes are read, and everything else an attacker might send is refused and
reported, never crashing the run or reaching the detector."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from ivrflow.transport.audio_stream import MAX_MESSAGE, AudioStreamServer, Media

NESTED = {"event": "start", "start": {"callId": "call-1", "streamId": "s-1", "accountId": "MA",
                                      "tracks": ["inbound"],
                                      "mediaFormat": {"encoding": "audio/x-l16",
                                                      "sampleRate": 8000}}}
FLAT = {"event": "start", "streamId": "s-1", "callId": "call-1",
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}}


def media(payload: bytes, stream: str = "s-1") -> dict[str, Any]:
    return {"event": "media", "streamId": stream,
            "media": {"track": "inbound", "timestamp": "20", "chunk": 1,
                      "payload": base64.b64encode(payload).decode()}}


Client = Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]


def serve(client: Client, *, path: str | None = None, second: Client | None = None
          ) -> tuple[AudioStreamServer, list[Media | None], list[int | None]]:
    """Run the server, connect `client` (at `path`, default the right one), collect the
    frames; (server, frames, close codes the clients saw)."""
    codes: list[int | None] = []

    async def main() -> tuple[AudioStreamServer, list[Media | None]]:
        async with AudioStreamServer(port=0) as server:
            server.expected_call = "call-1"
            url = f"ws://127.0.0.1:{server.port}{path or server.path}"
            async with aiohttp.ClientSession() as session:
                try:
                    async with session.ws_connect(url) as socket:
                        if second is not None:
                            try:
                                async with session.ws_connect(url) as other:
                                    await second(other)
                            except aiohttp.WSServerHandshakeError as refused:
                                codes.append(refused.status)
                        await client(socket)
                        codes.append(socket.close_code)
                        await socket.close()
                        await asyncio.sleep(0.05)  # the server sees the end
                except aiohttp.WSServerHandshakeError as refused:
                    codes.append(refused.status)
            frames: list[Media | None] = []
            while not server.frames.empty():
                frames.append(server.frames.get_nowait())
            return server, frames

    server, frames = asyncio.run(main())
    return server, frames, codes


def sends(*messages: Any) -> Client:
    async def client(socket: aiohttp.ClientWebSocketResponse) -> None:
        for message in messages:
            if isinstance(message, bytes):
                await socket.send_bytes(message)
            elif isinstance(message, str):
                await socket.send_str(message)
            else:
                await socket.send_str(json.dumps(message))
        # read until the server closes (or a little while): its close frame comes so
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(socket.receive(), 0.3)
    return client


@pytest.mark.parametrize(("start", "encoding"), [(NESTED, "l16"), (FLAT, "mulaw")])
def test_both_start_shapes_and_their_frames_are_read(start: dict[str, Any],
                                                     encoding: str) -> None:
    server, frames, _ = serve(sends(start, media(b"\x00\x01" * 160), media(b"\xff" * 160)))
    assert server.start is not None and server.start.encoding == encoding
    assert server.start.stream_id == "s-1" and server.start.rate == 8000
    assert [f.payload[:2] for f in frames if f is not None] == [b"\x00\x01", b"\xff\xff"]
    assert frames[-1] is None and server.problems == []


@pytest.mark.parametrize(("messages", "problem"), [
    ([b"\x00" * 10], "a binary message came where Vobiz sends text"),
    (["not json"], "a message is not JSON"),
    (["[1, 2]"], "a message is not a JSON object"),
    ([media(b"\x00" * 320)], "audio came before the stream's start message"),
    ([NESTED, media(b"\x00" * 3)], "an L16 media payload has an odd number of bytes"),
    ([NESTED, {"event": "media", "media": {"payload": "@@@@"}}], "a media payload is not base64"),
    ([NESTED, media(b"\x00" * 320, stream="s-2")], "a media message names another stream"),
    ([NESTED, NESTED], "the stream started twice"),
    ([{**NESTED, "start": {**NESTED["start"], "callId": "call-2"}}],
     "the stream is of another call"),
    ([{**NESTED, "start": {**NESTED["start"], "streamId": "../x"}}],
     "the start message's streamId is missing or malformed"),
    ([{**NESTED, "start": {**NESTED["start"], "mediaFormat": {"encoding": "audio/x-mulaw",
                                                              "sampleRate": 16000}}}],
     "the stream's audio format is not one ivrflow reads (L16 at 8 or 16 kHz, or mu-law at "
     "8 kHz)"),
    ([{"event": "hello"}], "a message has an unknown event"),
    (["x" * (MAX_MESSAGE + 1)], "the audio stream broke (a message too large, or not "
                                "WebSocket)"),
])
def test_what_vobiz_never_sends_is_refused_and_reported(messages: list[Any],
                                                        problem: str) -> None:
    """The connection is closed, the reason recorded in ivrflow's words, and no frame
    of it reaches the detector (only the end mark)."""
    server, frames, codes = serve(sends(*messages))
    assert server.problems == [problem]
    assert frames == [None]
    assert codes and codes[-1] is not None and codes[-1] >= 1000


def test_another_path_is_a_404_and_a_second_stream_a_409() -> None:
    server, frames, codes = serve(sends(NESTED), path="/audio/guess")
    assert codes == [404] and server.problems == ["a connection to another path was refused"]
    assert frames == [] and server.start is None
    server, frames, codes = serve(sends(NESTED, media(b"\x00\x00" * 160)),
                                  second=sends(NESTED))
    assert codes[0] == 409
    assert server.problems == ["a second connection to the audio stream was refused"]
    assert len([f for f in frames if f is not None]) == 1


def test_the_service_url_carries_an_unguessable_path() -> None:
    one, two = AudioStreamServer(port=0), AudioStreamServer(port=0)
    assert one.path != two.path and len(one.token) >= 22
    assert one.service_url("wss://abc.example.net/") == f"wss://abc.example.net{one.path}"
