"""The default HTTP engine: aiohttp, asked directly.

A send through it costs the client about a third of what httpx's client layer over
aiohttp did (bench/RESULTS.md), and every failure is sorted here from aiohttp's own
exception classes, never from their text:

    nothing reached the server      ClientConnectorError (refused, DNS, TLS handshake),
                                    ConnectionTimeoutError (no connection in time)
    the request may have arrived    ServerDisconnectedError, ClientResponseError (a head
                                    that is not HTTP), ClientOSError (reset, broken pipe),
                                    SocketTimeoutError (no answer in time), anything else

Bounds: the answer's head within the connect, write and read timeouts together (aiohttp's
own read timeout restarts with every byte, so a head dripped a byte at a time would
otherwise never end); its lines as aiohttp's parser allows (8 KiB); of the body at most
`MAX_BODY` bytes within the read timeout, never inflated (identity is asked for and
`auto_decompress` is off). A body not read to its end closes its connection; one read
to its end gives the connection back to the pool. No cookies are kept.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from typing import Any

import aiohttp
import httpx

from ivrflow.transport.answers import (
    CLOSED,
    CONNECT_IN_TIME,
    FAILED,
    LOST,
    MAX_BODY,
    NOT_HTTP,
    NOT_IN_TIME,
    RESET,
    Answer,
    NoAnswer,
    connect_reason,
    read_timeout_reason,
)
from ivrflow.transport.checks import tls_context

if sys.version_info >= (3, 11):
    from asyncio import timeout as _within
else:  # pragma: no cover - aiohttp depends on async-timeout before 3.11
    from async_timeout import timeout as _within

_CONNECT_TIMEOUT = getattr(aiohttp, "ConnectionTimeoutError", ())  # aiohttp >= 3.10
_SOCKET_TIMEOUT = getattr(aiohttp, "SocketTimeoutError", aiohttp.ServerTimeoutError)
KEEPALIVE = 5.0  # seconds an idle connection is kept, as httpx keeps it


class AiohttpEngine:
    """One `aiohttp.ClientSession` for one base URL, asked for bounded answers."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: httpx.Timeout,
                 max_connections: int) -> None:
        self._base = base_url
        self._headers = headers
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._max_connections = max_connections
        self._read = timeout.read
        parts = (timeout.pool, timeout.connect, timeout.write, timeout.read)
        self._head_limit = None if None in parts else sum(p for p in parts if p is not None)
        self._tls: ssl.SSLContext | bool = (
            tls_context() if base_url.startswith("https:") else False)

    def _open(self) -> aiohttp.ClientSession:
        # built on first use, inside the running loop, as aiohttp requires
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0,
                                         keepalive_timeout=KEEPALIVE, ssl=self._tls)
        t = self._timeout
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self._headers, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("Content-Type",),
            timeout=aiohttp.ClientTimeout(total=None, connect=t.pool, sock_connect=t.connect,
                                          sock_read=t.read))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def ask(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                  params: dict[str, str] | None = None) -> Answer | NoAnswer:
        session = self._session or self._open()
        data = None
        headers = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json"}
        response: aiohttp.ClientResponse | None = None
        content: bytes | None = None
        try:
            async with _within(self._head_limit) as limit:
                response = await session.request(method, self._base + path, data=data,
                                                 params=params, headers=headers,
                                                 allow_redirects=False)
                limit.reschedule(None if self._read is None
                                 else asyncio.get_running_loop().time() + self._read)
                content = await _body(response)
        except aiohttp.ClientError as exc:
            return self._no_answer(exc)
        except (TimeoutError, asyncio.TimeoutError):
            if response is None:  # the head did not come in time
                return NoAnswer(True, NOT_IN_TIME)
            # the body did not: the status alone decides (content stays None)
        except OSError:  # pragma: no cover - aiohttp wraps these; never let one out
            return NoAnswer(True, LOST)
        assert response is not None
        return Answer(response.status, response.headers.get("Retry-After"), content)

    def _no_answer(self, exc: aiohttp.ClientError) -> NoAnswer:
        if isinstance(exc, _CONNECT_TIMEOUT):
            return NoAnswer(False, CONNECT_IN_TIME)
        if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: nothing sent
            return NoAnswer(False, connect_reason(exc))
        if isinstance(exc, _SOCKET_TIMEOUT):
            return NoAnswer(True, read_timeout_reason(self._read))
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return NoAnswer(True, NOT_IN_TIME)
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return NoAnswer(True, CLOSED)
        if isinstance(exc, aiohttp.ClientResponseError):  # the parser refused the head
            return NoAnswer(True, NOT_HTTP)
        if isinstance(exc, aiohttp.ClientOSError):
            reset = isinstance(exc, ConnectionResetError) or isinstance(
                exc.__cause__ or exc.__context__, ConnectionResetError)
            return NoAnswer(True, RESET if reset else LOST)
        return NoAnswer(True, FAILED)


async def _body(response: aiohttp.ClientResponse) -> bytes | None:
    """At most `MAX_BODY` raw bytes of the body (the caller bounds the time); else None,
    and the connection is dropped rather than drained."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        response.close()  # compressed although identity was asked for: never inflated
        return None
    read = bytearray()
    try:
        while chunk := await response.content.readany():
            read += chunk
            if len(read) > MAX_BODY:
                response.close()
                return None
    except (aiohttp.ClientError, asyncio.TimeoutError):  # cut short or badly framed
        response.close()
        return None
    except BaseException:  # the time limit (or a cancellation): drop the connection
        response.close()
        raise
    response.release()
    return bytes(read)
