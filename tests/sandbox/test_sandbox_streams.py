"""The sandbox's Audio Stream API over real HTTP and a real WebSocket on loopback.

The receiving end is a plain aiohttp WebSocket server in the test's own thread loop,
which records every message as it arrives.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from .api import Api
from .conftest import MakeApi


@dataclass
class Receiver:
    """A WebSocket server on loopback that keeps what it was sent."""

    url: str = ""
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    connections: int = 0
    closed_at: float | None = None

    def events(self) -> list[str]:
        return [m["event"] for _, m in self.messages]

    def media(self) -> list[bytes]:
        return [base64.b64decode(m["media"]["payload"]) for _, m in self.messages
                if m["event"] == "media"]

    def wait_for(self, count: int, within: float = 3.0) -> None:
        end = time.monotonic() + within
        while len(self.messages) < count and time.monotonic() < end:
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runners: list[web.AppRunner] = []
    sockets: list[web.WebSocketResponse] = []

    async def handle(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sockets.append(socket)
        got.connections += 1
        async for message in socket:
            got.messages.append((time.monotonic(), json.loads(message.data)))
        got.closed_at = time.monotonic()
        return socket

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/audio/{token}", handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        got.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/audio/t0ken"
        runners.append(runner)

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), ready.set(),
                                              loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield got

    async def close() -> None:
        for socket in sockets:
            await socket.close()
        await runners[0].cleanup()

    asyncio.run_coroutine_threadsafe(close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def start(api: Api, call: str = "c1", **body: Any) -> Any:
    api.live(call)  # the call exists (and is live) from its first request
    return api.client.post(f"{api.account}/Call/{call}/Stream/", headers=api.auth, json=body)


@pytest.mark.parametrize(("content_type", "frame_bytes", "encoding", "rate"), [
    ("audio/x-l16;rate=8000", 320, "audio/x-l16", 8000),
    ("audio/x-l16;rate=16000", 640, "audio/x-l16", 16000),
    ("audio/x-mulaw;rate=8000", 160, "audio/x-mulaw", 8000),
])
def test_a_stream_sends_the_documented_start_then_20_ms_frames_in_real_time(
        api: Api, receiver: Receiver, content_type: str, frame_bytes: int, encoding: str,
        rate: int) -> None:
    began = time.monotonic()
    answer = start(api, service_url=receiver.url, content_type=content_type,
                   audio_track="inbound", bidirectional=False)
    assert answer.status_code == 201, answer.text
    stream_id = answer.json()["stream_id"]
    assert answer.json()["message"] == "Stream started"
    receiver.wait_for(26)
    first_at, first = receiver.messages[0]
    assert first["event"] == "start"
    assert first["start"]["streamId"] == stream_id and first["start"]["callId"] == "c1"
    assert first["start"]["mediaFormat"] == {"encoding": encoding, "sampleRate": rate}
    media = receiver.messages[1:26]
    assert all(m["event"] == "media" and m["streamId"] == stream_id for _, m in media)
    assert {len(p) for p in receiver.media()[:25]} == {frame_bytes}
    # 25 frames are half a second of audio, and they come at the pace they play
    spread = media[-1][0] - media[0][0]
    assert 0.3 < spread < 0.8, spread
    assert first_at - began < 1.0

    listed = api.client.get(f"{api.account}/Call/c1/Stream/", headers=api.auth).json()
    assert [s["stream_id"] for s in listed["objects"]] == [stream_id]
    assert listed["objects"][0]["status"] == "in-progress"
    stop = api.client.delete(f"{api.account}/Call/c1/Stream/{stream_id}/", headers=api.auth)
    assert stop.status_code == 204
    end = time.monotonic() + 2
    while receiver.closed_at is None and time.monotonic() < end:
        time.sleep(0.01)
    assert receiver.closed_at is not None  # as with Vobiz: no stop message, the socket closes
    count = len(receiver.messages)
    assert receiver.events()[-1] == "media"
    time.sleep(0.1)
    assert len(receiver.messages) == count  # nothing after the stop
    one = api.client.get(f"{api.account}/Call/c1/Stream/{stream_id}/", headers=api.auth)
    assert one.json()["status"] == "completed"


def test_a_hang_up_ends_the_call_s_stream(api: Api, receiver: Receiver) -> None:
    assert start(api, service_url=receiver.url).status_code == 201
    receiver.wait_for(5)
    assert api.client.delete(f"{api.account}/Call/c1/", headers=api.auth).status_code == 204
    end = time.monotonic() + 2
    while receiver.closed_at is None and time.monotonic() < end:
        time.sleep(0.01)
    assert receiver.closed_at is not None


def test_stopping_every_stream_of_a_call_and_unknown_streams(
        api: Api, receiver: Receiver) -> None:
    assert start(api, service_url=receiver.url).status_code == 201
    assert start(api, service_url=receiver.url).status_code == 201
    receiver.wait_for(4)
    assert receiver.connections == 2
    gone = api.client.delete(f"{api.account}/Call/c1/Stream/st-nope/", headers=api.auth)
    assert gone.status_code == 404
    assert api.client.delete(f"{api.account}/Call/c1/Stream/",
                             headers=api.auth).status_code == 204
    listed = api.client.get(f"{api.account}/Call/c1/Stream/", headers=api.auth).json()
    assert {s["status"] for s in listed["objects"]} == {"completed"}


@pytest.mark.parametrize(("body", "says"), [
    ({}, "service_url is required"),
    ({"service_url": 5}, "service_url is required"),
    ({"service_url": "wss://127.0.0.1:9/x"}, "only to ws:// on loopback"),
    ({"service_url": "ws://10.0.0.1:9/x"}, "only to ws:// on loopback"),
    ({"service_url": "ws://example.com/x"}, "only to ws:// on loopback"),
    ({"service_url": "http://127.0.0.1:9/x"}, "only to ws:// on loopback"),
    ({"service_url": "ws://127.0.0.1:9/x", "bidirectional": True}, "bidirectional"),
    ({"service_url": "ws://127.0.0.1:9/x", "content_type": "audio/wav"}, "content_type"),
    ({"service_url": "ws://127.0.0.1:9/x", "audio_track": "all"}, "audio_track"),
])
def test_a_stream_the_sandbox_cannot_start_is_400_and_connects_nowhere(
        api: Api, body: dict[str, Any], says: str) -> None:
    answer = start(api, **body)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert api.client.get(f"{api.account}/Call/c1/Stream/",
                          headers=api.auth).json()["objects"] == []


def test_no_stream_on_a_call_that_is_not_live(make_api: MakeApi, receiver: Receiver) -> None:
    api = make_api(never_live=True)
    assert start(api, service_url=receiver.url).status_code == 404
    time.sleep(0.1)
    assert receiver.connections == 0


def test_the_stream_endpoints_check_credentials_and_methods(api: Api) -> None:
    path = f"{api.account}/Call/c1/Stream/"
    assert api.client.post(path, json={}).status_code == 401
    assert api.client.put(path, headers=api.auth, json={}).status_code == 405
    assert api.client.post(f"{api.account}/Call/c1/stream/", headers=api.auth,
                           json={}).status_code == 401  # mis-cased, as Vobiz answers


def test_a_stream_to_a_closed_port_fails_quietly(api: Api) -> None:
    answer = start(api, service_url="ws://127.0.0.1:9/x")
    assert answer.status_code == 201
    stream_id = answer.json()["stream_id"]
    end = time.monotonic() + 3
    status = "in-progress"
    while status == "in-progress" and time.monotonic() < end:
        time.sleep(0.02)
        status = api.client.get(f"{api.account}/Call/c1/Stream/{stream_id}/",
                                headers=api.auth).json()["status"]
    assert status == "failed"
    assert api.live().status_code == 200  # the sandbox carries on


def test_garbage_bodies_are_400(api: Api) -> None:
    api.live("c1")
    path = f"{api.account}/Call/c1/Stream/"
    bodies = (b"\xff\xfe", b"[1, 2]", b"{", b'{"service_url": "ws://127.0.0.1:9/x"')
    for content in bodies:
        answer = api.client.post(path, content=content,
                                 headers={**api.auth, "Content-Type": "application/json"})
        assert answer.status_code == 400, content
    assert api.client.post(path, headers=api.auth, content=b"x" * 70_000).status_code == 413


def test_streams_playing_at_once_are_capped(api: Api, receiver: Receiver,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ivrflow.sandbox import streams

    monkeypatch.setattr(streams, "MAX_STREAMS", 2)
    assert start(api, service_url=receiver.url).status_code == 201
    assert start(api, service_url=receiver.url).status_code == 201
    third = start(api, service_url=receiver.url)
    assert third.status_code == 503 and third.headers["Retry-After"] == "1"
