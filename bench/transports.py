"""The ways of sending DTMF that the benchmarks compare, each built one way, in one place.

ivrflow itself, through `VobizTransport` as a user builds it:

- `library`        `VobizTransport(max_connections=N)`: the default engine, aiohttp asked
                   directly (ivrflow/transport/aiohttp_engine.py);
- `library-httpx`  `VobizTransport(max_connections=N, engine="httpx")`: an
                   `httpx.AsyncClient` over httpx's own transport (httpcore + h11),
                   ivrflow/transport/httpx_engine.py.

Where the time goes (no ivrflow at all, the same DTMF POST):

- `raw_aiohttp_session`: aiohttp's `ClientSession` alone, with the headers and pool size
  ivrflow uses: the floor of a send in Python on asyncio;
- `raw_httpx_client`: httpx's `AsyncClient` alone, over its own transport: what the
  httpx engine builds on.

The official SDK (vobiz-python) is driven from `send_throughput.py`.
"""

from __future__ import annotations

import aiohttp
import httpx

from ivrflow._version import __version__
from ivrflow.transport.vobiz import DEFAULT_TIMEOUT, VobizTransport

ENGINE_OF = {"library": "aiohttp", "library-httpx": "httpx"}
VARIANTS = tuple(ENGINE_OF)


def headers(auth_id: str, auth_token: str) -> dict[str, str]:
    """The headers VobizTransport sends on every request."""
    return {"X-Auth-ID": auth_id, "X-Auth-Token": auth_token,
            "User-Agent": f"ivrflow/{__version__}", "Accept": "application/json",
            "Accept-Encoding": "identity"}


def vobiz(name: str, url: str, auth_id: str, auth_token: str, connections: int,
          timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> VobizTransport:
    """`VobizTransport` as variant `name` (`library` or `library-httpx`) builds it."""
    if name not in ENGINE_OF:
        raise ValueError(f"unknown variant {name!r}: use one of {', '.join(VARIANTS)}")
    return VobizTransport(auth_id=auth_id, auth_token=auth_token, api_url=url,
                          timeout=timeout, max_connections=connections,
                          engine=ENGINE_OF[name])  # type: ignore[arg-type]


def describe(name: str) -> str:
    """What variant `name` is at run time: the engine VobizTransport chose, by class."""
    built = vobiz(name, "http://127.0.0.1:9", "MA_SANDBOX", "sandbox-token", 1)
    engine = getattr(built, "_http", None)  # private: for this description only
    where = "" if engine is None else \
        f" ({type(engine).__module__}.{type(engine).__name__})"
    return f"VobizTransport engine={built.engine!r}{where}"


def raw_aiohttp_session(url: str, auth_id: str, auth_token: str,
                        connections: int) -> aiohttp.ClientSession:
    """aiohttp's client alone: no ivrflow, no bounds beyond a total timeout."""
    return aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=connections),
                                 headers=headers(auth_id, auth_token),
                                 timeout=aiohttp.ClientTimeout(total=10))


def raw_httpx_client(url: str, auth_id: str, auth_token: str,
                     connections: int) -> httpx.AsyncClient:
    """httpx's client alone, over its own transport, configured as the httpx engine is."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, headers=headers(auth_id, auth_token),
                             timeout=DEFAULT_TIMEOUT, limits=limits, follow_redirects=False)

