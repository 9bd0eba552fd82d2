"""The HTTP transports under httpx that the benchmarks compare, built the same way.

Every builder returns an `httpx.AsyncClient` configured as `VobizTransport` configures its
own (base URL, the X-Auth-ID / X-Auth-Token / User-Agent / Accept headers, ivrflow's
timeouts, no redirects, a pool of `connections`), differing only in the transport:

- `library`         exactly what `VobizTransport(max_connections=N)` builds when given no
                    client (today: httpx over ivrflow's `SafeAiohttpTransport`,
                    ivrflow/transport/aiohttp_transport.py); `describe_library()` says
                    what it is at run time;
- `httpx-default`   httpx's own `AsyncHTTPTransport` (httpcore + h11);
- `httpx-small-pool`  the same with at most 10 connections whatever the concurrency
                    (httpcore's pool does work per request that grows with the number of
                    connections it holds);
- `httpx-aiohttp`   `httpx_aiohttp.AiohttpTransport` as the package ships it, with its own
                    exception mapping.

`AiohttpProbeTransport` is no HTTP client for httpx but a bare ivrflow `Transport` over
aiohttp, for measuring what ivrflow's interpreter costs without httpx.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import httpx

from ivrflow._version import __version__
from ivrflow.transport.base import Accepted, LiveOutcome, Rejected, SendOutcome
from ivrflow.transport.vobiz import DEFAULT_TIMEOUT, VobizTransport

try:  # the engine under ivrflow's client, and a benchmark-only package before that
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


def library(url: str, auth_id: str, auth_token: str, connections: int,
            timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    """The client VobizTransport builds for itself (its private `_client`)."""
    built = VobizTransport(auth_id=auth_id, auth_token=auth_token, api_url=url,
                           timeout=timeout, max_connections=connections)
    client: httpx.AsyncClient = built._client
    return client


def describe_library() -> str:
    """What transport VobizTransport puts under its httpx client, by class name."""
    client = library("http://127.0.0.1:9", "MA_SANDBOX", "sandbox-token", 1)
    transport = client._transport
    return f"httpx over {type(transport).__module__}.{type(transport).__name__}"


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


Builder = Callable[..., httpx.AsyncClient]

BUILDERS: dict[str, Builder] = {
    "library": library,
    "httpx-default": httpx_default,
    "httpx-small-pool": httpx_small_pool,
    "httpx-aiohttp": httpx_aiohttp,
}


def vobiz(name: str, url: str, auth_id: str, auth_token: str, connections: int,
          timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> VobizTransport:
    """A VobizTransport over transport `name`; `library` is VobizTransport left alone."""
    client = None if name == "library" else BUILDERS[name](url, auth_id, auth_token,
                                                           connections, timeout)
    return VobizTransport(auth_id=auth_id, auth_token=auth_token, api_url=url,
                          timeout=timeout, max_connections=connections, client=client)


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

    async def send_digits(self, call: str, digits: str, leg: str) -> SendOutcome:
        assert self._session is not None
        async with self._session.post(f"/api/v1/Account/{self._auth_id}/Call/{call}/DTMF/",
                                      json={"digits": digits, "leg": leg}) as answer:
            await answer.read()
            if 200 <= answer.status < 300:
                return Accepted(answer.status)
            return Rejected(answer.status, "probe")

    async def live(self, call: str) -> LiveOutcome:
        return Accepted(200)
