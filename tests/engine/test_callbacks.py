"""A placed call's callbacks over real HTTP on loopback: signed ones count, once; forged,
replayed, oversized, slow and misdirected ones are refused and change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import httpx
import pytest

from ivrflow.transport.audio_stream import AudioStreamServer
from ivrflow.transport.callbacks import CallbackReceiver
from ivrflow.transport.signatures import sign

TOKEN = "the-auth-token"
ANSWER = {"CallUUID": "call-1", "RequestUUID": "req-1", "CallStatus": "in-progress",
          "From": "14155550123", "To": "18005550100", "Event": "StartApp"}


Scenario = Callable[[CallbackReceiver, httpx.AsyncClient], Awaitable[None]]


def with_listener(scenario: Scenario) -> None:
    """Run `scenario` against a real listener on loopback with its own event loop."""
    async def main() -> None:
        receiver = CallbackReceiver(TOKEN, keep_open=300)
        async with AudioStreamServer("127.0.0.1", 0, callbacks=receiver) as server:
            receiver.public_base = f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient(base_url=receiver.public_base, timeout=5) as client:
                await scenario(receiver, client)

    asyncio.run(main())


async def post(client: httpx.AsyncClient, receiver: CallbackReceiver, kind: str,
               fields: dict[str, str], *, token: str = TOKEN,
               headers: dict[str, str] | None = None) -> httpx.Response:
    signed = sign(token, receiver.url(kind)) if headers is None else headers
    return await client.post(receiver.prefix + kind, content=urlencode(fields),
                             headers={**signed,
                                      "Content-Type": "application/x-www-form-urlencoded"})


def test_the_answer_callback_keeps_the_call_open_and_names_the_call() -> None:
    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        receiver.expect("req-1")
        answer = await post(client, receiver, "answer", ANSWER)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert '<Response><Wait length="300"/></Response>' in answer.text
        assert receiver.answered.is_set() and not receiver.ended.is_set()
        assert receiver.answer is not None and receiver.answer.call_uuid == "call-1"
        hangup = await post(client, receiver, "hangup", {**ANSWER, "CallStatus": "completed",
                                                         "HangupCause": "NORMAL_CLEARING"})
        assert hangup.status_code == 200 and hangup.text == ""
        assert receiver.ended.is_set()
        assert receiver.hangup is not None and receiver.hangup.cause == "NORMAL_CLEARING"

    with_listener(scenario)


def test_callbacks_before_make_call_answered_are_judged_when_it_does() -> None:
    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        assert (await post(client, receiver, "ring", {**ANSWER, "CallStatus": "ringing"}
                           )).status_code == 200
        assert (await post(client, receiver, "answer", ANSWER)).status_code == 200
        assert not receiver.answered.is_set()  # not yet known to be ours
        receiver.expect("req-1")
        assert receiver.answered.is_set()
        assert [c.kind for c in receiver.received] == ["ring", "answer"]

    with_listener(scenario)


def test_a_callback_of_another_attempt_changes_nothing() -> None:
    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        receiver.expect("req-1")
        other = await post(client, receiver, "hangup", {**ANSWER, "RequestUUID": "req-2",
                                                        "CallStatus": "completed"})
        assert other.status_code == 403
        assert not receiver.ended.is_set() and receiver.received == []

    with_listener(scenario)


@pytest.mark.parametrize("forgery", ["unsigned", "wrong token", "another url", "replayed"])
def test_forged_and_replayed_callbacks_are_403_and_have_no_effect(forgery: str) -> None:
    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        receiver.expect("req-1")
        hangup = {**ANSWER, "CallStatus": "completed"}
        if forgery == "unsigned":
            answer = await post(client, receiver, "hangup", hangup, headers={})
        elif forgery == "wrong token":
            answer = await post(client, receiver, "hangup", hangup, token="guessed")
        elif forgery == "another url":
            answer = await post(client, receiver, "hangup", hangup,
                                headers=sign(TOKEN, receiver.url("ring")))
        else:
            signed = sign(TOKEN, receiver.url("ring"))
            first = await post(client, receiver, "ring", {**ANSWER, "CallStatus": "ringing"},
                               headers=signed)
            assert first.status_code == 200
            answer = await post(client, receiver, "hangup", hangup, headers=signed)
            signed_hangup = sign(TOKEN, receiver.url("hangup"), nonce=signed[
                "X-Vobiz-Signature-V3-Nonce"])
            again = await post(client, receiver, "hangup", hangup, headers=signed_hangup)
            assert again.status_code == 403  # the same nonce, even signed for this URL
        assert answer.status_code == 403
        assert not receiver.ended.is_set()
        assert receiver.problems

    with_listener(scenario)


def test_garbage_is_refused_and_the_listener_carries_on() -> None:
    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        receiver.expect("req-1")
        assert (await client.post(receiver.prefix + "elsewhere")).status_code == 404
        assert (await client.post("/cb/guess/answer")).status_code == 404
        assert (await client.get(receiver.prefix + "answer")).status_code == 405
        big = await client.post(receiver.prefix + "answer", content=b"x" * 20_000,
                                headers=sign(TOKEN, receiver.url("answer")))
        assert big.status_code == 413
        bad = await client.post(receiver.prefix + "answer", content=b"\xff\xfe=\x00",
                                headers=sign(TOKEN, receiver.url("answer")))
        assert bad.status_code == 400
        # fields out of shape are dropped, not kept: no call uuid, no answer
        odd = await post(client, receiver, "answer", {**ANSWER, "CallUUID": "../../etc",
                                                      "CallStatus": "\x1b[31mred"})
        assert odd.status_code == 200 and not receiver.answered.is_set()
        assert receiver.received[-1].call_uuid is None and receiver.received[-1].status is None
        assert (await post(client, receiver, "answer", ANSWER)).status_code == 200
        assert receiver.answered.is_set()

    with_listener(scenario)


def test_a_slow_body_is_cut_off_within_the_read_limit() -> None:
    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        port = int(receiver.public_base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST {receiver.prefix}answer HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 100\r\n\r\nCall".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.read(100), 5)
        assert head.startswith(b"HTTP/1.1 400")
        writer.close()

    with_listener(scenario)


def test_a_silent_client_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who connects through the tunnel and says nothing cannot hold the listener."""
    from ivrflow.transport import audio_stream

    monkeypatch.setattr(audio_stream, "IDLE", 0.5)

    async def scenario(receiver: CallbackReceiver, client: httpx.AsyncClient) -> None:
        port = int(receiver.public_base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /cb/")  # half a request line, then nothing
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed by the listener
        writer.close()

    with_listener(scenario)
