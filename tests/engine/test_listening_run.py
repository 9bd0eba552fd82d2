"""`ivrflow run` on a flow that listens, end to end on loopback: a fake Vobiz (REST API and
audio stream) in another thread, the real CLI, a real WebSocket, real time (about 3 s)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ivrflow.cli import main
from ivrflow.listen import speech

RATE = 8000
FRAME = 2 * RATE // 50
PREFIX = "/api/v1/Account/MA_X/Call/c1"


@dataclass
class FakeVobiz:
    """Answers the Stream and DTMF endpoints; on a stream start it connects to the
    service URL and plays `audio` in real time, recording when its speech ended."""

    audio: bytes
    speech_ends: float = 0.0  # seconds into the audio at which the speech stops
    start_status: int = 201
    requests: list[tuple[float, str, str, Any]] = field(default_factory=list)
    url: str = ""
    audio_began: float | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append((time.monotonic(), request.method, request.path, body))
        if request.path == f"{PREFIX}/Stream/" and request.method == "POST":
            if self.start_status >= 300:
                return web.json_response({"error": "call not found"}, status=self.start_status)
            asyncio.get_running_loop().create_task(self.stream(body["service_url"]))
            return web.json_response({"api_id": "a", "stream_id": "st-1"}, status=201)
        if request.path.endswith("/DTMF/"):
            return web.json_response({"message": "digits sent"}, status=202)
        return web.Response(status=204)

    async def stream(self, url: str) -> None:
        data = b"".join(self.audio[i + 1:i + 2] + self.audio[i:i + 1]
                        for i in range(0, len(self.audio), 2))  # L16 is big-endian
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"event": "start", "start": {
                "callId": "c1", "streamId": "st-1",
                "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": RATE}}}))
            began = time.monotonic()
            self.audio_began = began
            for n, i in enumerate(range(0, len(data) - FRAME + 1, FRAME)):
                await asyncio.sleep(max(0.0, began + n * 0.02 - time.monotonic()))
                await ws.send_str(json.dumps({"event": "media", "streamId": "st-1", "media": {
                    "payload": base64.b64encode(data[i:i + FRAME]).decode()}}))
            await asyncio.sleep(5)  # the call goes on; the run stops the stream


@pytest.fixture
def vobiz() -> Iterator[FakeVobiz]:
    said = speech.synthesize("welcome to the benefits line, for english press one", RATE)
    seconds = len(said) / 2 / RATE
    fake = FakeVobiz(speech.noise(0.5, RATE) + speech.mix(said, speech.noise(seconds, RATE))
                     + speech.noise(2.0, RATE, seed=1), speech_ends=0.5 + seconds)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def serve() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", fake.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return runner

    runner: list[web.AppRunner] = []
    thread = threading.Thread(target=lambda: (runner.append(loop.run_until_complete(serve())),
                                              ready.set(), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(5)
    yield fake

    async def close() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner[0].cleanup()

    asyncio.run_coroutine_threadsafe(close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(fake: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        flow: str, *extra: str) -> int:
    path = tmp_path / "flow.yaml"
    path.write_text(flow)
    monkeypatch.setenv("VOBIZ_AUTH_ID", "MA_X")
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", "tok")
    port = free_port()
    return main(["run", str(path), "--call", "c1", "--api-url", fake.url,
                 "--listen", f"127.0.0.1:{port}", "--stream-url", f"ws://127.0.0.1:{port}",
                 *extra])


FLOW = ("version: 1\nname: l\ntone: 0\nsteps:\n  - wait: {silence: 800ms, max: 10s}\n"
        "  - send: '1'\n")


def test_the_digit_goes_when_the_prompt_ended_and_the_stream_is_stopped(
        vobiz: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream is started with the documented body, the digit arrives after the
    speech stopped plus the silence (loosely: within 400 ms more), and the stream is
    stopped by its id."""
    assert run(vobiz, tmp_path, monkeypatch, FLOW) == 0
    methods = [(m, p) for _, m, p, _ in vobiz.requests]
    assert methods == [("POST", f"{PREFIX}/Stream/"), ("POST", f"{PREFIX}/DTMF/"),
                       ("DELETE", f"{PREFIX}/Stream/st-1/")]
    body = vobiz.requests[0][3]
    assert body["audio_track"] == "inbound" and body["bidirectional"] is False
    assert body["content_type"] == "audio/x-l16;rate=8000"
    assert body["service_url"].startswith("ws://127.0.0.1:") and "/audio/" in body["service_url"]
    assert vobiz.audio_began is not None
    true_end = vobiz.audio_began + vobiz.speech_ends + 0.8
    sent_at = vobiz.requests[1][0]
    assert true_end - 0.1 < sent_at < true_end + 0.4, sent_at - true_end


def test_a_stream_the_api_will_not_start_sends_nothing(
        vobiz: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    vobiz.start_status = 404
    assert run(vobiz, tmp_path, monkeypatch, FLOW) == 3
    assert [m for _, m, _, _ in vobiz.requests] == ["POST"]
    assert "the call's audio stream could not be started (HTTP 404 Not Found" in \
        capsys.readouterr().err


HEARD = ("version: 1\nname: l\ntone: 0\nsteps:\n"
         "  - wait: {heard: 'for english, press one', silence: 800ms, max: 10s}\n"
         "  - send: '1'\n")


def test_a_phrase_the_ivr_says_is_heard_and_the_digit_follows_its_prompt(
        vobiz: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(vobiz, tmp_path, monkeypatch, HEARD) == 0
    assert [m for _, m, _, _ in vobiz.requests] == ["POST", "POST", "DELETE"]
    assert vobiz.audio_began is not None
    assert vobiz.requests[1][0] > vobiz.audio_began + vobiz.speech_ends


def test_a_phrase_the_ivr_never_says_is_exit_5_and_nothing_is_sent(
        vobiz: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    flow = HEARD.replace("for english, press one", "for spanish press two")
    assert run(vobiz, tmp_path, monkeypatch, flow) == 5
    assert [m for _, m, _, _ in vobiz.requests] == ["POST", "DELETE"]
    assert "the IVR did not say 'for spanish press two'" in capsys.readouterr().err


def test_a_word_the_recognizer_cannot_know_is_refused_before_anything_is_sent(
        vobiz: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    flow = HEARD.replace("for english, press one", "press qzxvw")
    assert run(vobiz, tmp_path, monkeypatch, flow) == 2
    assert vobiz.requests == []
    assert "the recognizer does not know 'qzxvw'" in capsys.readouterr().err


def test_record_audio_keeps_what_was_heard_as_a_wav_file(
        vobiz: FakeVobiz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wave

    folder = tmp_path / "audio"
    folder.mkdir()
    assert run(vobiz, tmp_path, monkeypatch, FLOW, "--record-audio", str(folder)) == 0
    with wave.open(str(folder / "c1.wav")) as heard:
        assert (heard.getnchannels(), heard.getsampwidth(), heard.getframerate()) == (1, 2, RATE)
        seconds = heard.getnframes() / RATE
    assert vobiz.speech_ends + 0.5 < seconds <= len(vobiz.audio) / 2 / RATE + 0.02
    assert run(vobiz, tmp_path, monkeypatch, FLOW, "--record-audio",
               str(tmp_path / "missing")) == 2


def test_sigint_during_a_listening_wait_stops_the_stream_and_exits_130(
        vobiz: FakeVobiz, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("silence: 800ms, max: 10s", "silence: 5s, max: 20s"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ivrflow", "run", str(path), "--call", "c1", "--api-url",
         vobiz.url, "--listen", f"127.0.0.1:{port}", "--stream-url", f"ws://127.0.0.1:{port}"],
        env={**os.environ, "VOBIZ_AUTH_ID": "MA_X", "VOBIZ_AUTH_TOKEN": "tok"},
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not vobiz.requests and time.monotonic() < deadline:  # the stream has started
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    assert [(m, p) for _, m, p, _ in vobiz.requests] == [
        ("POST", f"{PREFIX}/Stream/"), ("DELETE", f"{PREFIX}/Stream/st-1/")]
    assert "Traceback" not in err and "nothing more was sent" in err
