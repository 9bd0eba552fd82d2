"""Starting and stopping the audio stream through the API, on both HTTP engines, against a
crafted server: the exact requests, and answers that say too little or too much."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivrflow.errors import InvalidInput
from ivrflow.transport.base import CallGone, StreamStarted, Transient, Unknown
from tests.engine.test_hostile_api import closed, engine, reply, scenario
from tests.engine.test_hostile_api import transport as adapter

__all__ = ["engine"]  # the fixture that runs every test here on both engines
SERVICE = "wss://abc.example.net/audio/TOKEN"


async def start(transport: Any) -> Any:
    return await transport.start_stream("call-1", SERVICE, track="inbound")


def test_the_start_request_is_exactly_the_documented_one() -> None:
    answer = reply("201 Created", {"api_id": "a", "stream_id": "st-9", "message": "ok"})
    outcome, server, _ = scenario(answer, start)
    assert outcome == StreamStarted(201, "st-9")
    head, _, _ = server.heads[0].partition(b"\r\n")
    assert head == b"POST /api/v1/Account/MA_X/Call/call-1/Stream/ HTTP/1.1"


def test_the_start_body_names_the_url_track_one_way_and_format() -> None:
    outcome, server, _ = scenario(reply("202 Accepted", {"stream_id": "st-1"}), start)
    assert outcome == StreamStarted(202, "st-1")
    assert b"content-type: application/json" in server.heads[0].lower()
    assert json.loads(server.bodies[0]) == {
        "service_url": SERVICE, "audio_track": "inbound", "bidirectional": False,
        "content_type": "audio/x-l16;rate=8000"}


@pytest.mark.parametrize("body", [{}, {"stream_id": "../../x"}, {"stream_id": 5}, b"not json",
                                  {"stream_id": "a" * 200}])
def test_a_start_answer_without_a_usable_stream_id_still_counts_as_started(body: Any) -> None:
    """The stream may well run: it is stopped by the call (every stream) instead."""
    outcome, _, _ = scenario(reply("202 Accepted", body), start)
    assert outcome == StreamStarted(202, None)


def test_a_start_that_fails_says_so_in_the_usual_outcomes() -> None:
    assert isinstance(scenario(reply("404 Not Found", {"error": "no call"}), start)[0],
                      CallGone)
    assert isinstance(scenario(reply("500 Internal Server Error"), start)[0], Unknown)
    assert scenario(closed, start)[0] == Unknown(
        None, "the server closed the connection after the request was sent")


@pytest.mark.parametrize(("stream", "path"), [
    ("st-9", b"DELETE /api/v1/Account/MA_X/Call/call-1/Stream/st-9/ HTTP/1.1"),
    (None, b"DELETE /api/v1/Account/MA_X/Call/call-1/Stream/ HTTP/1.1")])
def test_stop_names_the_stream_or_stops_every_stream_of_the_call(stream: str | None,
                                                                 path: bytes) -> None:
    async def stop(transport: Any) -> Any:
        return await transport.stop_stream("call-1", stream)

    outcome, server, _ = scenario(reply("204 No Content"), stop)
    assert outcome.status == 204
    assert server.heads[0].partition(b"\r\n")[0] == path
    # a stop may be repeated: a failure without an answer is Transient
    assert isinstance(scenario(closed, stop)[0], Transient)


def test_a_stream_id_that_could_bend_the_path_is_refused() -> None:
    import asyncio

    async def main() -> None:
        async with adapter(auth_token="t", api_url="http://127.0.0.1:9") as transport:
            await transport.stop_stream("call-1", "../x")

    with pytest.raises(InvalidInput):
        asyncio.run(main())
