"""A small client for the sandbox tests: real HTTP through httpx, raw bytes by socket."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from ivrflow.sandbox import Sandbox

_UNSET: Any = object()


def client_for(sandbox: Sandbox) -> httpx.Client:
    """An httpx client for a sandbox's base URL."""
    # The sandbox speaks plain HTTP, so no certificate is ever checked; verify=False
    # only spares loading the CA bundle, ~20 ms per client.
    return httpx.Client(base_url=sandbox.url, timeout=5.0, verify=False)


class Api:
    """Speaks to one sandbox the way the engine would, with the sandbox's credentials."""

    def __init__(self, sandbox: Sandbox, client: httpx.Client) -> None:
        self.sandbox = sandbox
        self.client = client
        self.auth = {"X-Auth-ID": sandbox.auth_id, "X-Auth-Token": sandbox.auth_token}
        self.account = f"/api/v1/Account/{sandbox.auth_id}"

    def dtmf(self, call: str = "call-1", digits: Any = "1", *, leg: Any = _UNSET,
             body: Any = _UNSET, content: bytes | None = None,
             headers: dict[str, str] | None = None, path: str | None = None,
             ) -> httpx.Response:
        """POST .../Call/{call}/DTMF/ with {"digits", "leg"} or the given body."""
        if body is _UNSET and content is None:
            body = {"digits": digits} if leg is _UNSET else {"digits": digits, "leg": leg}
        return self.client.post(
            path or f"{self.account}/Call/{call}/DTMF/",
            headers=self.auth if headers is None else headers,
            json=None if body is _UNSET else body, content=content)

    def live(self, call: str = "call-1", query: str = "?status=live") -> httpx.Response:
        """GET .../Call/{call}/?status=live."""
        return self.client.get(f"{self.account}/Call/{call}/{query}", headers=self.auth)

    def calls(self) -> httpx.Response:
        """GET .../Call/?status=live."""
        return self.client.get(f"{self.account}/Call/?status=live", headers=self.auth)

    def hangup(self, call: str = "call-1") -> httpx.Response:
        """DELETE .../Call/{call}/."""
        return self.client.delete(f"{self.account}/Call/{call}/", headers=self.auth)

    def raw(self, data: bytes, *, half_close: bool = False, timeout: float = 2.0) -> bytes:
        """Send raw bytes on a fresh connection; return all it answers until closed."""
        with socket.create_connection(("127.0.0.1", self.sandbox.port), timeout) as sock:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            return _read_until_closed(sock)

    def raw_then_abort(self, data: bytes) -> None:
        """Send raw bytes on a fresh connection and close it at once, reading nothing."""
        with socket.create_connection(("127.0.0.1", self.sandbox.port), 2.0) as sock:
            sock.sendall(data)

    def assert_still_serving(self) -> None:
        """A normal DTMF request on a fresh connection is still accepted."""
        with client_for(self.sandbox) as fresh:
            response = fresh.post(f"{self.account}/Call/after-garbage/DTMF/",
                                  headers=self.auth, json={"digits": "5"})
        assert response.status_code == 202, response.text


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)
