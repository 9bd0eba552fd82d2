"""`VobizTransport` against a hostile or broken API: a raw TCP server on 127.0.0.1 writes
crafted answers (endless, compressed, huge, cut short, not HTTP at all), and each must
come back as the right outcome, quickly, with bounded memory and in ivrflow's own words.
Every test runs on both HTTP engines (aiohttp and httpx) and expects the same."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ivrflow.transport.base import (
    Accepted,
    AuthDenied,
    CallGone,
    Rejected,
    Transient,
    Unknown,
)
from ivrflow.transport.vobiz import VobizTransport

TOKEN = "tok-SENTINEL-9"
TIMEOUT = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=0.2)
GUARD = 1.5  # seconds a scenario may take before it counts as hanging
INTERNALS = ("aiohttp", "httpx", "message=", "Errno", "ssl:default", "Connect call",
             "127.0.0.1", "RawResponseMessage", "b'")


ENGINE: list[str] = ["aiohttp"]  # the engine under test, set by the fixture below


@pytest.fixture(autouse=True, params=["aiohttp", "httpx"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    ENGINE[0] = request.param
    yield request.param
    ENGINE[0] = "aiohttp"


def transport(**options: Any) -> VobizTransport:
    """A VobizTransport on the engine under test."""
    return VobizTransport(auth_id="MA_X", engine=ENGINE[0], **options)  # type: ignore[arg-type]


@dataclass
class Server:
    """What the crafted server saw: request heads, connections, bytes written, hang-ups."""

    port: int = 0
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0
    written: int = 0
    hung_up: int = 0  # writes that failed because the client had closed the connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def pour(self, writer: asyncio.StreamWriter, chunk: bytes, limit: int) -> None:
        """Write `chunk` again and again until the client hangs up or `limit` bytes."""
        try:
            while self.written < limit:
                writer.write(chunk)
                await writer.drain()
                self.written += len(chunk)
        except ConnectionError:
            self.hung_up += 1


# An answer writes to the connection after the request was read; True keeps it open for
# the next request.
Answer = Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


async def _serve(answer: Answer, server: Server, tasks: set[asyncio.Task[Any]],
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    task = asyncio.current_task()
    assert task is not None
    tasks.add(task)
    server.connections += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            server.heads.append(head)
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            server.bodies.append(await reader.readexactly(length))
            if not await answer(server, reader, writer):
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def scenario(answer: Answer, ask: Callable[[VobizTransport], Awaitable[Any]], *,
             token: str = TOKEN, max_connections: int = 10) -> tuple[Any, Server, float]:
    """Serve `answer`, run `ask` on a transport pointed at it; (result, server, seconds)."""
    server = Server()
    tasks: set[asyncio.Task[Any]] = set()

    async def main() -> tuple[Any, float]:
        listener = await asyncio.start_server(
            lambda r, w: _serve(answer, server, tasks, r, w), "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        adapter = transport(auth_token=token, api_url=server.url, timeout=TIMEOUT,
                            max_connections=max_connections)
        started = time.monotonic()
        try:
            async with adapter:
                result = await asyncio.wait_for(ask(adapter), GUARD)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.05)  # let the server notice a hang-up
        finally:
            listener.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await listener.wait_closed()
        return result, elapsed

    result, elapsed = asyncio.run(main())
    return result, server, elapsed


def send(transport: VobizTransport) -> Coroutine[Any, Any, Any]:
    return transport.send_digits("call-1", "1", "aleg")


def live(transport: VobizTransport) -> Coroutine[Any, Any, Any]:
    return transport.live("call-1")


def bounded(answer: Answer, ask: Callable[[VobizTransport], Awaitable[Any]]
            ) -> tuple[Any, Server, float, int]:
    """`scenario`, also measuring the peak of Python memory allocated meanwhile."""
    tracemalloc.start()
    try:
        result, server, elapsed = scenario(answer, ask)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, server, elapsed, peak


def head(status: str, *headers: str) -> bytes:
    return ("HTTP/1.1 " + status + "\r\n" + "".join(h + "\r\n" for h in headers)
            + "\r\n").encode("latin-1")


def reply(status: str, body: Any = b"", *headers: str) -> Answer:
    """A well-formed answer, keeping the connection open for the next request."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def answer(server: Server, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        writer.write(head(status, f"Content-Length: {len(data)}", *headers) + data)
        await writer.drain()
        return True

    return answer


# -- 1. bounded reads -----------------------------------------------------------------

MB = 1 << 20
ENOUGH = 64 * MB  # what the server pours at most, so a regression cannot eat the machine


def _gzip_stream() -> tuple[bytes, bytes]:
    """A gzip header and first block, then a block that repeats forever: every ~1 KiB on
    the wire inflates to 1 MiB of zeros (a full flush resets the compressor's state, so
    each later block of zeros compresses to the same bytes)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MB)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first, block


GZIP_FIRST, GZIP_BLOCK = _gzip_stream()
# 96 KiB on the wire, 96 MiB inflated: small enough that a client that does inflate it
# fails this test without exhausting the machine
BOMB = 96 * 1024


def bomb(status: str) -> Answer:
    return endless_chunked(status, GZIP_BLOCK, "Content-Encoding: gzip", first=GZIP_FIRST,
                           limit=BOMB)


def endless_chunked(status: str, piece: bytes, *headers: str, first: bytes = b"",
                    limit: int = ENOUGH) -> Answer:
    """A chunked body that never ends (until the client hangs up, or `limit` bytes are
    written; then the connection is held open, the body unfinished)."""
    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    async def answer(server: Server, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        writer.write(head(status, "Transfer-Encoding: chunked", *headers)
                     + (chunk(first) if first else b""))
        await server.pour(writer, chunk(piece), limit)
        await asyncio.sleep(GUARD)  # and then hold the connection, never finishing
        return False

    return answer


def huge(status: str, size: int = 200 * MB) -> Answer:
    """A body of `size` bytes announced by Content-Length (written until hang-up)."""
    async def answer(server: Server, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        writer.write(head(status, "Content-Type: application/json",
                          f"Content-Length: {size}") + b'{"error": "')
        await server.pour(writer, b"x" * 65536, min(size, ENOUGH))
        await asyncio.sleep(GUARD)
        return False

    return answer


HOSTILE: dict[str, tuple[Answer, type[Any], int, bool]] = {
    # answer, outcome, status, whether the server outlasts the client
    "endless chunked 202": (endless_chunked("202 Accepted", b"a" * 65536), Accepted, 202, True),
    "gzip bomb 202": (bomb("202 Accepted"), Accepted, 202, False),
    "gzip bomb 400": (bomb("400 Bad Request"), Rejected, 400, False),
    "200 MB 500": (huge("500 Internal Server Error"), Unknown, 500, True),
    "200 MB 400": (huge("400 Bad Request"), Rejected, 400, True),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_send_answers_are_read_within_bounds(name: str) -> None:
    """An endless, inflating or huge answer to a send: classified by its status at once,
    with a few MB of memory at most, and its connection dropped rather than drained."""
    answer, kind, status, endless = HOSTILE[name]
    outcome, server, elapsed, peak = bounded(answer, send)
    assert peak < 4 * MB, f"{peak / MB:.1f} MB"
    assert type(outcome) is kind and outcome.status == status
    assert elapsed < 0.5
    if endless:  # the client hung up long before the server ran out of body
        assert server.hung_up == 1 and server.written < ENOUGH
    if kind is not Accepted:
        assert outcome.detail == ""  # an unreadable body explains nothing


@pytest.mark.parametrize("answer", [
    endless_chunked("200 OK", b"a" * 65536),
    bomb("200 OK"),
    huge("200 OK"),
], ids=["endless", "gzip bomb", "200 MB"])
def test_hostile_live_answers_count_as_live(answer: Answer) -> None:
    """A 200 to the live GET whose body is endless, inflating or huge: live, bounded."""
    outcome, _, elapsed, peak = bounded(answer, live)
    assert peak < 4 * MB, f"{peak / MB:.1f} MB"
    assert outcome == Accepted(200) and elapsed < 0.5


def test_a_body_dripping_forever_is_given_up_within_the_read_timeout() -> None:
    """A 400 whose body comes one byte at a time (each within the read timeout, never
    ending): the status decides after one read timeout, and no detail is made up."""

    async def drip(server: Server, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> bool:
        writer.write(head("400 Bad Request", "Content-Length: 100000"))
        for _ in range(200):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.02)
        return False

    outcome, _, elapsed = scenario(drip, send)
    assert outcome == Rejected(400, "HTTP 400 Bad Request", detail="")
    assert 0.25 <= elapsed < 0.8


@pytest.mark.parametrize("headers", [
    ("Content-Length: 100",),  # 10 bytes come, then the connection closes
    ("Content-Length: 10", "Content-Encoding: gzip"),  # not gzip at all
    ("Content-Length: 10", "Content-Encoding: br"),  # never asked for
], ids=["cut short", "bad gzip", "brotli"])
def test_a_2xx_with_an_unreadable_body_is_accepted(headers: tuple[str, ...]) -> None:
    """The status line said 202: a body cut short or undecodable does not make the send's
    outcome unknown, and a 200 to the live GET still means live."""

    def broken(status: str) -> Answer:
        async def answer(server: Server, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> bool:
            writer.write(head(status, *headers) + b"0123456789")
            await writer.drain()
            return False
        return answer

    assert scenario(broken("202 Accepted"), send)[0] == Accepted(202)
    assert scenario(broken("200 OK"), live)[0] == Accepted(200)


def test_identity_is_asked_for_and_a_compressed_error_is_never_inflated() -> None:
    """Requests say Accept-Encoding: identity; a gzip error body (valid, small) is not
    decoded, so its text is unknown while its status still decides."""
    body = zlib.compress(b'{"error": "inflated"}', wbits=31)
    answer = reply("400 Bad Request", body, "Content-Encoding: gzip")
    outcome, server, _ = scenario(answer, send)
    assert outcome == Rejected(400, "HTTP 400 Bad Request", detail="")
    assert b"\r\naccept-encoding: identity\r\n" in server.heads[0].lower()


def test_ordinary_answers_keep_their_connection() -> None:
    """Bodies read to their end leave the connection reusable: two sends and a live
    check share one TCP connection."""

    async def three(transport: VobizTransport) -> list[Any]:
        return [await send(transport), await send(transport), await live(transport)]

    answer = reply("202 Accepted", {"api_id": "x", "message": "digits sent"})
    outcomes, server, _ = scenario(answer, three)
    assert outcomes == [Accepted(202), Accepted(202), Accepted(202)]
    assert server.connections == 1 and len(server.heads) == 3


# -- 2 and 4. the fault matrix, in ivrflow's words ------------------------------------

async def closed(server: Server, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> bool:
    return False  # read the request in full, then hang up without a word


async def reset(server: Server, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False  # closing with a zero linger sends a reset


async def silent(server: Server, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(GUARD)
    return False


def raw(data: bytes) -> Answer:
    async def answer(server: Server, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return False
    return answer


CLOSED = "the server closed the connection after the request was sent"
NOT_HTTP = "the answer was not valid HTTP"

FAULTS = {
    "closed after the request": (closed, Unknown, CLOSED),
    "head cut short": (raw(b"HTTP/1.1 202 Accepted\r\nContent-Le"), Unknown, CLOSED),
    "status line only": (raw(b"HTTP/1.1 202 Accepted\r\n"), Unknown, CLOSED),
    "not HTTP": (raw(b"HELLO WORLD\r\n\r\n"), Unknown, NOT_HTTP),
    "status 99": (raw(b"HTTP/1.1 99 Odd\r\nContent-Length: 0\r\n\r\n"), Unknown, NOT_HTTP),
    "header line of 100 KB": (raw(head("202 Accepted", "X-Pad: " + "a" * 100_000)),
                              Unknown, NOT_HTTP),
    "connection reset": (reset, Unknown, "the server reset the connection before answering"),
    "no answer": (silent, Unknown, "no answer within 0.3s"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_faults_after_sending_are_unknown_for_a_send_and_transient_for_live(name: str) -> None:
    """A failure once the request may have reached the server: a send's outcome is
    unknown, a live check may be retried; either way the reason is ivrflow's own words."""
    answer, kind, message = FAULTS[name]
    outcome, _, elapsed = scenario(answer, send)
    assert outcome == kind(None, message)
    assert elapsed < 1.0
    assert scenario(answer, live)[0] == Transient(None, message)


def test_connection_refused_is_transient_in_plain_words() -> None:
    """Nothing listening: Transient for both calls, "could not connect (connection
    refused)", with none of aiohttp's text (host, port, errno)."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def both() -> tuple[Any, Any]:
        async with transport(auth_token=TOKEN, timeout=TIMEOUT,
                             api_url=f"http://127.0.0.1:{port}") as adapter:
            return await send(adapter), await live(adapter)

    expected = Transient(None, "could not connect (connection refused)")
    assert asyncio.run(both()) == (expected, expected)


def test_a_pool_wait_that_times_out_is_transient() -> None:
    """With the only connection busy, a second send that gets none in time was never
    sent: Transient, not Unknown."""

    async def two(transport: VobizTransport) -> Any:
        first = asyncio.create_task(send(transport))
        await asyncio.sleep(0.05)
        try:
            return await send(transport)
        finally:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)

    outcome, server, elapsed = scenario(silent, two, max_connections=1)
    assert isinstance(outcome, Transient) and outcome.status is None
    assert outcome.message == "could not connect in time"
    assert len(server.heads) == 1 and elapsed < 0.6


@pytest.mark.parametrize("name", [*FAULTS, "refused"])
def test_no_reason_carries_a_lower_layers_text(name: str) -> None:
    """No outcome message holds aiohttp's or httpx's words, an errno or an address."""
    if name == "refused":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]

        async def refused() -> Any:
            async with transport(auth_token=TOKEN, timeout=TIMEOUT,
                                 api_url=f"http://127.0.0.1:{port}") as adapter:
                return await send(adapter)
        outcome = asyncio.run(refused())
    else:
        outcome = scenario(FAULTS[name][0], send)[0]
    assert not [word for word in INTERNALS if word in outcome.message]
    assert outcome.message.isprintable() and outcome.detail == ""


# -- 3. message and detail ------------------------------------------------------------

def test_a_one_character_token_never_alters_the_message() -> None:
    """Token "1": "HTTP 401 Unauthorized" stays whole (no "HTTP 40****"); only the
    API's own text, the detail, is redacted."""
    answer = reply("401 1 Unauthorized 1", {"error": "token 1 refused for MA_X"})
    outcome, _, _ = scenario(answer, send, token="1")
    assert outcome == AuthDenied(401, "HTTP 401 Unauthorized", detail="token **** refused for MA_X")
    gone = reply("410 Gone", {"error": "call 1 ended"})
    assert scenario(gone, send, token="1")[0] == Rejected(410, "HTTP 410 Gone",
                                                          detail="call **** ended")


def test_the_token_is_redacted_from_detail_only() -> None:
    """A 404 echoing the token: the message is the standard phrase, the detail hides the
    token wherever it appears."""
    answer = reply("404 Not Found", {"error": f"{TOKEN} is not allowed; {TOKEN}"})
    outcome, _, _ = scenario(answer, send)
    assert outcome == CallGone(404, "HTTP 404 Not Found", detail="**** is not allowed; ****")


@pytest.mark.parametrize("body", [
    {"api_id": "x", "error": "invalid digits"},
    {"status": "error", "error": {"code": "BAD", "message": "invalid digits"}},
    {"api_id": "x", "message": "invalid digits"},
], ids=["error text", "error object", "message"])
def test_every_error_shape_gives_the_detail(body: dict[str, Any]) -> None:
    """All three documented error bodies put the API's explanation in `detail`."""
    outcome, _, _ = scenario(reply("400 Bad Request", body), send)
    assert outcome == Rejected(400, "HTTP 400 Bad Request", detail="invalid digits")


def test_the_servers_reason_phrase_is_never_shown() -> None:
    """The reason phrase is outside text: the message uses the standard one, or none for
    a code without one (599 is unknown for a send and transient for a live check)."""
    answer = reply("404 Gone \x1b[2J fishing " + TOKEN)
    assert scenario(answer, send)[0] == CallGone(404, "HTTP 404 Not Found")
    odd = reply("599 Whatever", {"error": "upstream"})
    assert scenario(odd, send)[0] == Unknown(599, "HTTP 599", detail="upstream")
    assert scenario(odd, live)[0] == Transient(599, "HTTP 599", detail="upstream")


def test_detail_is_cleaned_collapsed_and_cut() -> None:
    """Control and format characters go, whitespace collapses, and at most 200
    characters remain."""
    text = "\x1b[31mred\x1b[0m\n\n\t spaced \u202eout\x00 " + "y" * 500
    outcome, _, _ = scenario(reply("400 Bad Request", {"error": text}), send)
    assert isinstance(outcome, Rejected) and outcome.message == "HTTP 400 Bad Request"
    assert outcome.detail.startswith("[31mred[0m spaced out yyy")
    assert len(outcome.detail) == 200 and outcome.detail.isprintable()


def test_429_keeps_its_hint_and_its_detail() -> None:
    """429: Transient with the standard phrase, the Retry-After hint and the API's text."""
    answer = reply("429 Too Many Requests", {"error": "Rate limit exceeded"},
                   "Retry-After: 2")
    outcome, _, _ = scenario(answer, send)
    assert outcome == Transient(429, "HTTP 429 Too Many Requests", 2.0,
                                detail="Rate limit exceeded")


def test_a_call_not_in_progress_names_its_state_in_detail() -> None:
    """A 200 whose body gives another state: not live; the state (outside text) is the
    detail, cleaned and redacted like any other."""
    answer = reply("200 OK", {"call_status": f"completed\x1b[2J {TOKEN}"})
    outcome, _, _ = scenario(answer, live)
    assert outcome == CallGone(200, "the call's status is not in-progress",
                               detail="completed[2J ****")
