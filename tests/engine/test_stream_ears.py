"""The ears of a live call over a real WebSocket on loopback: a fake Vobiz streams
synthesized prompts (espeak-ng) with line noise, faster than real time, and each
listening wait ends where the IVR's prompt does."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from ivrflow.engine.clock import MonotonicClock
from ivrflow.engine.ears import AudioLost, Prompt
from ivrflow.engine.stream_ears import StreamEars
from ivrflow.listen import speech
from ivrflow.transport.audio_stream import AudioStreamServer

RATE = 8000
FRAME = 2 * RATE // 50  # bytes of 20 ms of 16-bit PCM


def big_endian(pcm: bytes) -> bytes:
    return b"".join(pcm[i + 1:i + 2] + pcm[i:i + 1] for i in range(0, len(pcm), 2))


def audio(*parts: str | float) -> bytes:
    """Speech for each text, noise for each number of seconds (16-bit LE at 8 kHz)."""
    out = b""
    for part in parts:
        if isinstance(part, str):
            said = speech.synthesize(part, RATE)
            out += speech.mix(said, speech.noise(len(said) / 2 / RATE, RATE))
        else:
            out += speech.noise(part, RATE, seed=len(out))
    return out


Stream = Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]


def vobiz(pcm: bytes, pace: float = 0.002, close: bool = False) -> Stream:
    """A fake Vobiz: the start message, then 20 ms frames `pace` seconds apart."""
    async def stream(socket: aiohttp.ClientWebSocketResponse) -> None:
        await socket.send_str(json.dumps({"event": "start", "start": {
            "callId": "call-1", "streamId": "s-1",
            "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": RATE}}}))
        data = big_endian(pcm)
        for i in range(0, len(data) - FRAME + 1, FRAME):
            await socket.send_str(json.dumps({"event": "media", "streamId": "s-1", "media": {
                "track": "inbound", "payload": base64.b64encode(data[i:i + FRAME]).decode()}}))
            await asyncio.sleep(pace)
        if close:
            await socket.close()
        else:
            await asyncio.sleep(5)
    return stream


def listen(stream: Stream | None, *, silence: float = 0.8, seconds: float = 3.0,
           connect_within: float = 5.0) -> Prompt:
    async def main() -> Prompt:
        async with AudioStreamServer(port=0) as server:
            clock = MonotonicClock()
            ears = StreamEars(server, clock, connect_within=connect_within)
            task = None
            if stream is not None:
                async def client() -> None:
                    async with aiohttp.ClientSession() as session, session.ws_connect(
                            f"ws://127.0.0.1:{server.port}{server.path}") as socket:
                        await stream(socket)
                task = asyncio.create_task(client())
            try:
                return await ears.prompt(silence=silence, phrases=(), barge=False,
                                         deadline=clock.now() + seconds)
            finally:
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
    return asyncio.run(main())


def test_a_prompt_with_an_inner_pause_ends_once_after_its_silence() -> None:
    """Two sentences 0.4 s apart, then quiet: one prompt, ended, the speech in between
    not cut at the short pause."""
    prompt = listen(vobiz(audio(0.5, "welcome to the benefits line", 0.4,
                                "for english press one", 3.0)))
    assert prompt.ended
    assert prompt.speech_began is not None and prompt.speech_ended is not None
    assert prompt.speech_ended > prompt.speech_began


def test_only_noise_is_no_prompt_and_the_wait_ends_at_its_deadline() -> None:
    prompt = listen(vobiz(audio(6.0), pace=0.01), seconds=1.0)
    assert not prompt.ended and prompt.speech_began is None


def test_a_stream_that_never_connects_is_audio_lost_in_plain_words() -> None:
    with pytest.raises(AudioLost, match=r"did not connect within 0.3s"):
        listen(None, connect_within=0.3)


def test_a_stream_that_closes_during_the_wait_is_audio_lost() -> None:
    with pytest.raises(AudioLost, match=r"audio stream ended"):
        listen(vobiz(audio(0.5, "welcome"), close=True))
