"""The HTTP engine under ivrflow's httpx client: aiohttp, with honest exceptions.

httpx's own transport (httpcore + h11) sends about 940 requests a second at concurrency
1 here and collapses to about 270 at concurrency 100; httpx-aiohttp's transport does
about 1,400 and 2,650 (bench/RESULTS.md). But httpx-aiohttp 0.2.0 maps every
`aiohttp.ClientConnectionError` to `httpx.ConnectTimeout`, so a connection dropped
*after the request was sent* would read as "could not connect, nothing delivered" and a
send would be retried: keys pressed twice. This transport re-maps from the aiohttp cause
to the class httpx's own transport raises, so `VobizTransport` sorts outcomes the same
whichever engine is underneath:

    before the request could reach the server   ConnectError / ConnectTimeout (Transient)
    anything after, or not known                RemoteProtocolError / ReadTimeout /
                                                ReadError (Unknown for a send)

Two kinds of `RemoteProtocolError` get their own subclass, so the adapter can say in plain
words which one happened without reading aiohttp's text: `ServerDisconnected` (the
server closed the connection before its answer's head was complete) and `NotHttp` (what
came back was not a valid HTTP answer). The text of every mapped exception stays
aiohttp's, for tracebacks; ivrflow never shows it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

_CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", ())  # aiohttp >= 3.10
_SOCKET_TIMEOUT = getattr(aiohttp, "SocketTimeoutError", ())  # aiohttp >= 3.10


class ServerDisconnected(httpx.RemoteProtocolError):
    """The server closed the connection after the request was sent, before a whole answer."""


class NotHttp(httpx.RemoteProtocolError):
    """The answer was not valid HTTP (bad status line, oversized or malformed head)."""


def map_aiohttp_error(exc: BaseException) -> httpx.TransportError:
    """The httpx exception httpx's own transport raises for what `exc` reports."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, _CONNECT_TIMEOUT):
        return httpx.ConnectTimeout(text)  # waiting for a connection: nothing sent
    if isinstance(exc, (_SOCKET_TIMEOUT, aiohttp.ServerTimeoutError)):
        return httpx.ReadTimeout(text)
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        return httpx.ProxyError(text)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)  # refused, DNS, TLS handshake: nothing sent
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ServerDisconnected(text)
    if isinstance(exc, aiohttp.ClientResponseError):  # aiohttp's parser refused the head
        return NotHttp(text)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text)  # a body cut short or badly framed
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(text)
    return httpx.ReadError(text)  # any other loss mid-request: outcome unknown


@contextlib.contextmanager
def _faithful() -> Iterator[None]:
    """Re-raise what httpx-aiohttp raised as the exception httpx's own transport raises."""
    try:
        yield
    except (httpx.TransportError, aiohttp.ClientError) as exc:
        cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
        if not isinstance(cause, aiohttp.ClientError):
            raise
        raise map_aiohttp_error(cause) from exc


class _FaithfulStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _faithful():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        with _faithful():
            await self._stream.aclose()


class SafeAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport, raising the exceptions httpx's own transport raises."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _faithful():
            response = await super().handle_async_request(request)
        response.stream = _FaithfulStream(response.stream)  # type: ignore[arg-type]
        return response
