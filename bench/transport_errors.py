"""Which httpx exception each transport raises when the connection fails, and what follows.

    python bench/transport_errors.py [--json]

ivrflow's safety rests on telling "nothing was delivered" (retry is safe) from "outcome
unknown" (the digits may have played; never resend). VobizTransport decides that from
the httpx exception class alone: ConnectError / ConnectTimeout / PoolTimeout mean
nothing was delivered; ReadTimeout, RemoteProtocolError and other transport errors mean
unknown. So a transport under httpx must raise the class httpx's own transport raises.
For each transport in `transports.py` (httpx's own, httpx-aiohttp as shipped, and the
library's: what VobizTransport builds itself, today httpx over ivrflow's remapping
`SafeAiohttpTransport`), each case below is run three ways:

1. `client.post(...)` on the DTMF path: the exception class (and its cause);
2. `VobizTransport.send_digits(...)` over that transport: the outcome ivrflow makes of it;
3. (dropped connection only) a whole flow, `send: '1'` with 3 attempts, through
   `run_flow`: how many times the sandbox played the digits.

Cases, each against a fresh server on 127.0.0.1:
- refused: a port nobody listens on;
- dropped, fresh / reused connection: `python -m ivrflow.sandbox --drop N` reads the
  whole request, then closes without answering (it counts the digits as played); the
  reused case first makes a live-call GET on the same keep-alive connection;
- read timeout: `--latency 2` with a 0.3 s read timeout;
- pool timeout: `--latency 1`, a pool of one connection busy, a 0.2 s pool timeout;
- malformed answer: a raw TCP server here (a thread on 127.0.0.1) that reads the request
  and answers `HTTP/1.1 2O2 Accepted` (not a status line), then closes;
- answer cut short: the same server answers 202 with `Content-Length: 200` and closes
  after a few bytes of the body.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import benchlib
import httpx
import transports

from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve

TIMEOUT = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=0.2)
NAMES = ("httpx-default", "httpx-aiohttp", "library")
AUTH_ID, AUTH_TOKEN = "MA_SANDBOX", "sandbox-token"
RETRY_FLOW = "version: 1\nname: drop-retry\ntone: 0\nretry: {attempts: 3, backoff: 100ms}\n" \
             "steps:\n  - send: '1'\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BROKEN_STATUS = b"HTTP/1.1 2O2 Accepted\r\nContent-Length: 0\r\n\r\n"
CUT_BODY = (b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n{\"api_id\": \"x\", \"mess")


class GarbageServer:
    """Reads one HTTP request per connection, sends `answer`, closes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 60  # bounded, whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(self.answer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def describe(exc: BaseException) -> str:
    """`httpx.ConnectError`, and the aiohttp exception it was made from, if any."""
    name = f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
    cause, seen = exc.__cause__, 0
    while cause is not None and seen < 10:  # the first aiohttp exception in the chain
        if type(cause).__module__.startswith("aiohttp"):
            return f"{name} (from aiohttp.{type(cause).__name__})"
        cause, seen = cause.__cause__, seen + 1
    return name


def dtmf_path(call: str) -> str:
    return f"/api/v1/Account/{AUTH_ID}/Call/{call}/DTMF/"


@contextlib.asynccontextmanager
async def occupied(client: httpx.AsyncClient, call: str, busy: bool) -> AsyncIterator[None]:
    """With `busy`, a slow request holds the pool's only connection meanwhile."""
    blocker = None
    if busy:
        blocker = asyncio.create_task(client.get(
            f"/api/v1/Account/{AUTH_ID}/Call/{call}-busy/", params={"status": "live"},
            timeout=httpx.Timeout(5.0)))
        await asyncio.sleep(0.1)
    try:
        yield
    finally:
        if blocker is not None:
            with contextlib.suppress(Exception):
                await blocker


async def raw_post(name: str, url: str, call: str, warm: bool = False,
                   busy: bool = False) -> str:
    """What `client.post` raises (or answers) on the DTMF path."""
    client = transports.BUILDERS[name](url, AUTH_ID, AUTH_TOKEN, 1 if busy else 10, TIMEOUT)
    async with client:
        if warm:
            await client.get(f"/api/v1/Account/{AUTH_ID}/Call/{call}/",
                             params={"status": "live"})
        async with occupied(client, call, busy):
            try:
                response = await client.post(dtmf_path(call),
                                             json={"digits": "1", "leg": "aleg"})
                return f"HTTP {response.status_code}"
            except Exception as exc:
                return describe(exc)


async def adapter_outcome(name: str, url: str, call: str, warm: bool = False,
                          busy: bool = False) -> str:
    """What VobizTransport.send_digits makes of the same failure."""
    async with transports.vobiz(name, url, AUTH_ID, AUTH_TOKEN, 1 if busy else 10,
                                TIMEOUT) as transport:
        client = transport._client
        if warm:
            await transport.live(call)
        async with occupied(client, call, busy):
            try:
                outcome = await transport.send_digits(call, "1", "aleg")
            except Exception as exc:
                return f"raises {describe(exc)} (escapes the adapter)"
    kind = type(outcome).__name__
    meaning = {"Transient": "nothing delivered: may retry",
               "Unknown": "outcome unknown: never resent"}.get(kind, "")
    return f"{kind}: {getattr(outcome, 'message', '')}" + (f" [{meaning}]" if meaning else "")


async def flow_over_drop(name: str, box: benchlib.SandboxProcess) -> dict[str, Any]:
    flow = parse_flow(RETRY_FLOW, "drop-retry.yaml")
    async with transports.vobiz(name, box.url, AUTH_ID, AUTH_TOKEN, 10,
                                TIMEOUT) as transport:
        result = await asyncio.wait_for(run_flow(flow, resolve(flow, environ={}), transport,
                                                 f"{name}-flow"), 30)
    return {"outcome": result.outcome, "attempts": result.steps[0].attempts,
            "reason": result.reason}


def heard_after(box: benchlib.SandboxProcess, before: int) -> int:
    time.sleep(0.3)  # the sandbox prints its heard line as it answers; let it arrive
    return box.heard - before


Case = Callable[[str, str, str], Awaitable[str]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows: dict[str, dict[str, dict[str, str]]] = {}
    flows: dict[str, dict[str, Any]] = {}

    def record(case: str, name: str, raw: str, adapter: str) -> None:
        rows.setdefault(case, {})[name] = {"exception": raw, "ivrflow": adapter}

    refused = f"http://127.0.0.1:{closed_port()}"
    for name in NAMES:
        record("refused", name, asyncio.run(raw_post(name, refused, "c1")),
               asyncio.run(adapter_outcome(name, refused, "c1")))
    with benchlib.SandboxProcess("--drop", "100") as box:
        for name in NAMES:
            record("dropped (fresh connection)", name,
                   asyncio.run(raw_post(name, box.url, f"{name}-d1")),
                   asyncio.run(adapter_outcome(name, box.url, f"{name}-d2")))
            record("dropped (reused connection)", name,
                   asyncio.run(raw_post(name, box.url, f"{name}-d3", warm=True)),
                   asyncio.run(adapter_outcome(name, box.url, f"{name}-d4", warm=True)))
    for name in NAMES:
        with benchlib.SandboxProcess("--drop", "1") as box:
            flows[name] = asyncio.run(flow_over_drop(name, box))
            flows[name]["heard"] = heard_after(box, 0)
    with benchlib.SandboxProcess("--latency", "2") as box:
        for name in NAMES:
            record("read timeout", name, asyncio.run(raw_post(name, box.url, "t1")),
                   asyncio.run(adapter_outcome(name, box.url, "t2")))
    with benchlib.SandboxProcess("--latency", "1") as box:
        for name in NAMES:
            record("pool timeout", name, asyncio.run(raw_post(name, box.url, "p1", busy=True)),
                   asyncio.run(adapter_outcome(name, box.url, "p2", busy=True)))
    for case, answer in (("malformed answer", BROKEN_STATUS),
                         ("answer cut short", CUT_BODY)):
        garbage = GarbageServer(answer)
        try:
            for name in NAMES:
                record(case, name, asyncio.run(raw_post(name, garbage.url, "g1")),
                       asyncio.run(adapter_outcome(name, garbage.url, "g2")))
        finally:
            garbage.stop()

    lines = []
    for case, by_name in rows.items():
        lines.append(f"{case}:")
        for name, row in by_name.items():
            lines.append(f"  {name:<19} {row['exception']}\n  {'':<19} -> {row['ivrflow']}")
    lines.append("a flow `send: '1'` with 3 attempts, first DTMF request dropped:")
    for name, row in flows.items():
        lines.append(f"  {name:<19} {row['outcome']} after {row['attempts']} attempt(s); "
                     f"digits played {row['heard']} time(s)")
    benchlib.emit({"library": transports.describe_library(), "cases": rows,
                   "drop_flow": flows}, args.json, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
