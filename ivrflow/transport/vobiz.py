"""The Vobiz REST API: send DTMF and look up live calls, over one of two HTTP engines.

    engine="aiohttp"   the default: aiohttp asked directly (transport/aiohttp_engine.py),
                       the cheapest send there is in Python
    engine="httpx"     an `httpx.AsyncClient` (transport/httpx_engine.py): for proxies and
                       CA bundles from the environment, or a client of the user's own,
                       which passing `client=` selects

Whichever engine asks, what came back is sorted by the same rules (transport/answers.py)
into an outcome from `base`, in ivrflow's own words, with the API's explanation cleaned
and the token redacted. This adapter never retries; retry policy belongs to the
interpreter.
"""

from __future__ import annotations

from typing import Literal

import httpx

from ivrflow._version import __version__
from ivrflow.errors import InvalidInput
from ivrflow.language.model import Leg
from ivrflow.transport.aiohttp_engine import AiohttpEngine
from ivrflow.transport.answers import (
    REQUEST_HEADERS,
    STREAM_ID,
    call_outcome,
    idempotent_outcome,
    live_outcome,
    send_outcome,
    stream_outcome,
)
from ivrflow.transport.base import CallOutcome, LiveOutcome, SendOutcome, StreamOutcome
from ivrflow.transport.checks import (
    DEFAULT_API_URL,
    check_api_url,
    check_call_id,
    check_credentials,
)
from ivrflow.transport.httpx_engine import HttpxEngine

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=5.0, pool=10.0)
Engine = Literal["aiohttp", "httpx"]
ENGINES: tuple[Engine, ...] = ("aiohttp", "httpx")

__all__ = ["DEFAULT_API_URL", "DEFAULT_TIMEOUT", "ENGINES", "Engine", "VobizTransport"]


class VobizTransport:
    """Send DTMF and look up live calls on one account. Use as an async context manager.

    `client`: an `httpx.AsyncClient` of your own (proxies, custom TLS, a mock); ivrflow
    adds its headers and credentials to each request and leaves the client open.
    """

    def __init__(self, *, auth_id: str, auth_token: str, api_url: str = DEFAULT_API_URL,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, max_connections: int = 10,
                 engine: Engine | None = None, client: httpx.AsyncClient | None = None) -> None:
        check_credentials(auth_id, auth_token)
        self.auth_id = auth_id
        self._token = auth_token
        self.api_url = check_api_url(api_url)
        chosen = engine or ("httpx" if client is not None else "aiohttp")
        if chosen not in ENGINES:
            raise InvalidInput(f"unknown HTTP engine {chosen!r}: use aiohttp or httpx")
        if client is not None and chosen != "httpx":
            raise InvalidInput("a client of your own is an httpx client: use engine='httpx'")
        self.engine: Engine = chosen
        headers = {"X-Auth-ID": auth_id, "X-Auth-Token": auth_token,
                   "User-Agent": f"ivrflow/{__version__}", "Accept": "application/json",
                   **REQUEST_HEADERS}
        if client is not None:
            self._http: AiohttpEngine | HttpxEngine = HttpxEngine(
                self.api_url, headers, timeout, client, owned=False)
        elif chosen == "httpx":
            self._http = HttpxEngine.build(self.api_url, headers, timeout, max_connections)
        else:
            self._http = AiohttpEngine(self.api_url, headers, timeout, max_connections)

    async def __aenter__(self) -> VobizTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _call_path(self, call: str) -> str:
        return f"/api/v1/Account/{self.auth_id}/Call/{check_call_id(call)}/"

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        got = await self._http.ask("POST", self._call_path(call) + "DTMF/",
                                   body={"digits": digits, "leg": leg})
        return send_outcome(got, self._token)

    async def live(self, call: str) -> LiveOutcome:
        got = await self._http.ask("GET", self._call_path(call), params={"status": "live"})
        return live_outcome(got, self._token)

    async def make_call(self, fields: dict[str, object]) -> CallOutcome:
        """Place a call (`POST .../Call/`) with `fields` (from, to, answer_url, ...)."""
        got = await self._http.ask("POST", f"/api/v1/Account/{self.auth_id}/Call/",
                                   body=fields)
        return call_outcome(got, self._token)

    async def hang_up(self, call: str) -> LiveOutcome:
        """End the call (`DELETE .../Call/{uuid}/`); 404 means it had ended already."""
        got = await self._http.ask("DELETE", self._call_path(call))
        return idempotent_outcome(got, self._token)

    async def start_stream(self, call: str, service_url: str, *, track: str,
                           content_type: str = "audio/x-l16;rate=8000") -> StreamOutcome:
        """Ask Vobiz to fork the call's audio (`track`) to `service_url`, one way."""
        got = await self._http.ask("POST", self._call_path(call) + "Stream/", body={
            "service_url": service_url, "audio_track": track, "bidirectional": False,
            "content_type": content_type})
        return stream_outcome(got, self._token)

    async def stop_stream(self, call: str, stream_id: str | None) -> LiveOutcome:
        """Stop the stream `stream_id` of the call, or every stream of it (None)."""
        path = self._call_path(call) + "Stream/"
        if stream_id is not None:
            if not STREAM_ID.fullmatch(stream_id):
                raise InvalidInput("invalid stream id")
            path += f"{stream_id}/"
        got = await self._http.ask("DELETE", path)
        return idempotent_outcome(got, self._token)
