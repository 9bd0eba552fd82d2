"""The HTTP transports under httpx that the benchmarks compare, built the same way.

Every builder returns an `httpx.AsyncClient` configured as `VobizTransport` configures its
own (base URL, the X-Auth-ID / X-Auth-Token / User-Agent / Accept headers, ivrflow's
timeouts, no redirects, a pool of `connections`), differing only in the transport:

- `httpx`           httpx's default `AsyncHTTPTransport` (httpcore + h11): what
                    `VobizTransport(max_connections=N)` builds when given no client;
- `httpx-aiohttp`   `httpx_aiohttp.AiohttpTransport`, as the package ships it;
- `httpx-aiohttp-safe`  `SafeAiohttpTransport` below: the same transport with aiohttp's
                    exceptions mapped to the httpx classes httpx's own transport raises;
- `httpx-small-pool`  httpx's default transport with a pool of at most 10 connections
                    whatever the concurrency (httpcore's pool does work per request that
                    grows with the number of connections it holds).

`SafeAiohttpTransport` is the candidate for ivrflow; it lives here, under bench/, until
ivrflow adopts it (ivrflow/ is not the benchmarks' to edit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import httpx

from ivrflow._version import __version__
from ivrflow.transport.vobiz import DEFAULT_TIMEOUT

try:  # a benchmark-only package (bench/requirements.txt)
    from httpx_aiohttp import AiohttpTransport
except ImportError:  # pragma: no cover - reported by the scripts that need it
    AiohttpTransport = None  # type: ignore[assignment,misc]


def headers(auth_id: str, auth_token: str) -> dict[str, str]:
    """The headers VobizTransport sends on every request."""
    return {"X-Auth-ID": auth_id, "X-Auth-Token": auth_token,
            "User-Agent": f"ivrflow/{__version__}", "Accept": "application/json"}


def _limits(connections: int) -> httpx.Limits:
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections)


def _client(url: str, auth_id: str, auth_token: str, transport: httpx.AsyncBaseTransport,
            timeout: httpx.Timeout) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers=headers(auth_id, auth_token),
                             timeout=timeout, transport=transport, follow_redirects=False)


# -- the faithful aiohttp transport --------------------------------------------------------


def map_aiohttp_error(exc: BaseException) -> httpx.TransportError:
    """The httpx exception httpx's own transport raises for what `exc` reports.

    Only failures that happen before the request could reach the server map to
    ConnectError / ConnectTimeout (nothing delivered). Everything after that, or unknown,
    maps to a read-side class (outcome unknown), never to a connect class.
    """
    text = str(exc) or type(exc).__name__
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp >= 3.10
    socket_timeout = getattr(aiohttp, "SocketTimeoutError", None)      # aiohttp >= 3.10
    if connect_timeout is not None and isinstance(exc, connect_timeout):
        return httpx.ConnectTimeout(text)  # pool wait or TCP connect: nothing sent
    if socket_timeout is not None and isinstance(exc, socket_timeout):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return httpx.ProxyError(text)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)  # refused, DNS, TLS handshake: nothing sent
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(text)  # as httpx: "Server disconnected ..."
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text)  # the body was cut short
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(text)  # a malformed status line or headers
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(text)
    if isinstance(exc, (aiohttp.InvalidURL, getattr(aiohttp, "NonHttpUrlClientError", ()))):
        return httpx.UnsupportedProtocol(text)
    return httpx.ReadError(text)  # reset or any other loss mid-request: outcome unknown


def _remapped(exc: BaseException) -> tuple[httpx.TransportError, BaseException]:
    """httpx-aiohttp raised `exc`: the faithful httpx exception, and the aiohttp cause."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if isinstance(cause, aiohttp.ClientError):
        return map_aiohttp_error(cause), cause
    if isinstance(exc, httpx.TransportError):
        return exc, exc
    return httpx.ReadError(str(exc) or type(exc).__name__), exc


if AiohttpTransport is not None:

    class _RemappedStream(httpx.AsyncByteStream):
        def __init__(self, stream: httpx.AsyncByteStream) -> None:
            self._stream = stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._stream:
                    yield chunk
            except (httpx.TransportError, aiohttp.ClientError) as exc:
                mapped, cause = _remapped(exc)
                if mapped is exc:
                    raise
                raise mapped from cause

        async def aclose(self) -> None:
            try:
                await self._stream.aclose()
            except (httpx.TransportError, aiohttp.ClientError) as exc:
                mapped, cause = _remapped(exc)
                if mapped is exc:
                    raise
                raise mapped from cause

    class SafeAiohttpTransport(AiohttpTransport):
        """httpx-aiohttp's transport, raising the exceptions httpx's own transport raises.

        httpx-aiohttp 0.2.0 maps every `aiohttp.ClientConnectionError` to
        `httpx.ConnectTimeout`, so a connection dropped after the request was sent reads
        as "could not connect" (nothing delivered) and a refused connection as a connect
        timeout; `aiohttp.ClientResponseError` (a malformed answer) escapes unmapped.
        """

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                response = await super().handle_async_request(request)
            except (httpx.TransportError, aiohttp.ClientError) as exc:
                mapped, cause = _remapped(exc)
                if mapped is exc:
                    raise
                raise mapped from cause
            response.stream = _RemappedStream(response.stream)  # type: ignore[arg-type]
            return response
else:  # pragma: no cover
    SafeAiohttpTransport = None  # type: ignore[assignment,misc]


# -- builders --------------------------------------------------------------------------


def httpx_default(url: str, auth_id: str, auth_token: str, connections: int,
                  timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    return _client(url, auth_id, auth_token,
                   httpx.AsyncHTTPTransport(limits=_limits(connections)), timeout)


def httpx_small_pool(url: str, auth_id: str, auth_token: str, connections: int,
                     timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    return _client(url, auth_id, auth_token,
                   httpx.AsyncHTTPTransport(limits=_limits(min(connections, 10))), timeout)


def httpx_aiohttp(url: str, auth_id: str, auth_token: str, connections: int,
                  timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    if AiohttpTransport is None:
        raise RuntimeError("pip install httpx-aiohttp (bench/requirements.txt)")
    return _client(url, auth_id, auth_token, AiohttpTransport(limits=_limits(connections)),
                   timeout)


def httpx_aiohttp_safe(url: str, auth_id: str, auth_token: str, connections: int,
                       timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    if SafeAiohttpTransport is None:
        raise RuntimeError("pip install httpx-aiohttp (bench/requirements.txt)")
    return _client(url, auth_id, auth_token,
                   SafeAiohttpTransport(limits=_limits(connections)), timeout)


Builder = Callable[..., httpx.AsyncClient]

BUILDERS: dict[str, Builder] = {
    "httpx": httpx_default,
    "httpx-small-pool": httpx_small_pool,
    "httpx-aiohttp": httpx_aiohttp,
    "httpx-aiohttp-safe": httpx_aiohttp_safe,
}


# -- a probe: ivrflow's interpreter over aiohttp, without httpx ---------------------------


class AiohttpProbeTransport:
    """A throughput probe, NOT a safe adapter: ivrflow's `Transport` over aiohttp alone.

    It answers `Accepted` for a 2xx and `Rejected` for anything else, and maps no
    failure at all. It exists to measure how fast `run_flow` itself goes when httpx's
    client layer is taken away, so the benchmarks can say where the time goes.
    """

    def __init__(self, url: str, auth_id: str, auth_token: str, connections: int) -> None:
        self._url = url
        self._auth_id = auth_id
        self._headers = headers(auth_id, auth_token)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpProbeTransport:
        self._session = aiohttp.ClientSession(
            self._url, headers=self._headers,
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send_digits(self, call: str, digits: str, leg: str) -> object:
        from ivrflow.transport.base import Accepted, Rejected

        assert self._session is not None
        async with self._session.post(f"/api/v1/Account/{self._auth_id}/Call/{call}/DTMF/",
                                      json={"digits": digits, "leg": leg}) as answer:
            await answer.read()
            return Accepted(answer.status) if 200 <= answer.status < 300 else \
                Rejected(answer.status, "probe")

    async def live(self, call: str) -> object:
        from ivrflow.transport.base import Accepted

        return Accepted(200)
