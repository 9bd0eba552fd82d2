"""The other HTTP engine: an `httpx.AsyncClient`, the user's own or one built here.

Choose it for what httpx does and the default engine does not: proxies from
`HTTPS_PROXY` / `ALL_PROXY` / `NO_PROXY`, a CA bundle from `SSL_CERT_FILE`, a client the
user configured (custom TLS, event hooks, `httpx.MockTransport` in their tests). The
client is sent ivrflow's headers (the credentials among them) with every request, so a
client of the user's needs no configuration for Vobiz; its own base URL is not used.

Failures are sorted from httpx's exception classes into the same phrases the aiohttp
engine uses. httpx says "RemoteProtocolError" both for a connection closed before the
answer's head and for a head that is not HTTP; the h11 parser's own error among the
causes tells the second apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from ivrflow.transport.answers import (
    CLOSED,
    CONNECT_IN_TIME,
    FAILED,
    LOST,
    MAX_BODY,
    MAX_HEADER_LINE,
    NOT_HTTP,
    NOT_IN_TIME,
    RESET,
    WRITE_LOST,
    Answer,
    NoAnswer,
    causes,
    connect_reason,
    read_timeout_reason,
)
from ivrflow.transport.checks import tls_context


class HttpxEngine:
    """Ask through `client`; `owned`: ivrflow built it and closes it."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: httpx.Timeout,
                 client: httpx.AsyncClient, *, owned: bool) -> None:
        self._base = base_url
        self._headers = headers
        self._client = client
        self._owned = owned
        self._timeout = timeout

    @classmethod
    def build(cls, base_url: str, headers: dict[str, str], timeout: httpx.Timeout,
              max_connections: int) -> HttpxEngine:
        """An engine over httpx's own transport (httpcore), proxies and CA from the
        environment as httpx reads them."""
        client = httpx.AsyncClient(
            verify=tls_context() if base_url.startswith("https:") else True,
            timeout=timeout, follow_redirects=False, limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections))
        return cls(base_url, headers, timeout, client, owned=True)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def ask(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                  params: dict[str, str] | None = None) -> Answer | NoAnswer:
        try:
            request = self._client.build_request(method, self._base + path, json=body,
                                                 params=params, headers=self._headers,
                                                 timeout=self._timeout)
            response = await self._client.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            return self._no_answer(exc)
        if any(len(name) + len(value) + 2 > MAX_HEADER_LINE
               for name, value in response.headers.raw):
            await response.aclose()  # as the aiohttp engine's parser refuses it
            return NoAnswer(True, NOT_HTTP)
        try:
            content = await _read_body(response, self._timeout.read)
        finally:
            # Closing a half-read answer discards its connection rather than draining it.
            with contextlib.suppress(httpx.HTTPError):
                await response.aclose()
        return Answer(response.status_code, response.headers.get("Retry-After"), content)

    def _no_answer(self, exc: httpx.HTTPError) -> NoAnswer:
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return NoAnswer(False, CONNECT_IN_TIME)
        if isinstance(exc, httpx.ConnectError):
            return NoAnswer(False, connect_reason(exc))
        if isinstance(exc, httpx.ReadTimeout):
            return NoAnswer(True, read_timeout_reason(self._timeout.read))
        if isinstance(exc, httpx.WriteTimeout):
            write = self._timeout.write
            return NoAnswer(True, NOT_IN_TIME if write is None
                            else f"the request could not be sent within {write:g}s")
        if isinstance(exc, httpx.TimeoutException):
            return NoAnswer(True, NOT_IN_TIME)
        if isinstance(exc, httpx.RemoteProtocolError):
            parsed = any(type(c).__module__.startswith("h11") for c in causes(exc))
            return NoAnswer(True, NOT_HTTP if parsed else CLOSED)
        if any(isinstance(cause, ConnectionResetError) for cause in causes(exc)):
            return NoAnswer(True, RESET)
        if isinstance(exc, httpx.WriteError):
            return NoAnswer(True, WRITE_LOST)
        if isinstance(exc, httpx.ProxyError):
            return NoAnswer(True, "the proxy failed")
        if isinstance(exc, httpx.NetworkError):
            return NoAnswer(True, LOST)
        return NoAnswer(True, FAILED)


async def _read_body(response: httpx.Response, seconds: float | None) -> bytes | None:
    """At most `MAX_BODY` raw bytes of the body, within `seconds`; else None."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return None  # compressed although identity was asked for: never inflated
    try:
        content = response.content  # already in memory (an answer made up by a mock)
    except httpx.ResponseNotRead:
        pass
    else:
        return content if len(content) <= MAX_BODY else None
    read = bytearray()

    async def gather() -> bool:
        async for chunk in response.aiter_raw():
            read.extend(chunk)
            if len(read) > MAX_BODY:
                return False
        return True

    try:
        complete = await asyncio.wait_for(gather(), seconds)
    except (httpx.HTTPError, asyncio.TimeoutError):  # cut short, malformed, or too slow
        return None
    return bytes(read) if complete else None
