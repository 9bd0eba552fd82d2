"""What each of ivrflow's two HTTP engines makes of every fault: they must agree.

    python bench/transport_errors.py [--json]

ivrflow's safety rests on telling "nothing was delivered" (Transient: a retry is safe)
from "outcome unknown" (Unknown: the digits may have played; never resent). Each engine
(transports.py: `library`, aiohttp asked directly, the default; `library-httpx`, httpx
over its own transport) sorts what it met into the shared answer rules
(ivrflow/transport/answers.py). For each case below, `VobizTransport.send_digits` runs
once per engine, each on a fresh transport, and the two outcomes are compared whole
(class, status, ivrflow's reason, Retry-After, the API's explanation). Then a whole
flow, `send: '1'` with 3 attempts, runs through `run_flow` against a sandbox that drops
the first DTMF request, per engine: how many times the sandbox played the digits (it must
be once: the outcome is unknown, never resent).

Cases, each against a fresh server on 127.0.0.1:
- refused: a port nobody listens on;
- dropped, fresh / reused connection: `python -m ivrflow.sandbox --drop N` reads the
  whole request, then closes without answering; the reused case first makes a live-call
  GET on the same keep-alive connection;
- read timeout: `--latency 2` with a 0.3 s read timeout;
- pool timeout: `--latency 1`, a pool of one connection busy with a live-call GET, a
  0.2 s pool timeout (and a 5 s read timeout, so the GET holds the connection throughout);
- 500 / 503 / 429: `--fail 500`, `--fail 503`, `--rate-limit 1:2`;
- malformed answer: a raw TCP server here (a thread on 127.0.0.1) that reads the request
  and answers `HTTP/1.1 2O2 Accepted` (not a status line), then closes;
- answer cut short: the same server answers 202 with `Content-Length: 200` and closes
  after a few bytes of the body (a 2xx whose body is cut short is still done).

Exit 1 if the engines disagree on any case, or a dropped send was played twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import benchlib
import httpx
import transports

from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve
from ivrflow.transport.vobiz import VobizTransport

TIMEOUT = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=0.2)
# The pool case: the blocker's request must outlive the send's pool wait, so its read
# timeout is long (with 0.3 s it would give the connection up about when the send's
# 0.2 s pool wait ends, and which comes first would be a race).
POOL_CASE_TIMEOUT = httpx.Timeout(connect=1.0, read=5.0, write=1.0, pool=0.2)
NAMES = transports.VARIANTS  # ("library", "library-httpx")
AUTH_ID, AUTH_TOKEN = "MA_SANDBOX", "sandbox-token"
RETRY_FLOW = "version: 1\nname: drop-retry\ntone: 0\nretry: {attempts: 3, backoff: 100ms}\n" \
             "steps:\n  - send: '1'\n"
CASE_LIMIT = 20.0  # seconds for one case on one engine


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


@contextlib.asynccontextmanager
async def occupied(transport: VobizTransport, call: str, busy: bool) -> AsyncIterator[None]:
    """With `busy`, a slow live-call request holds the pool's only connection meanwhile."""
    blocker = None
    if busy:
        blocker = asyncio.create_task(transport.live(f"{call}-busy"))
        await asyncio.sleep(0.1)
    try:
        yield
    finally:
        if blocker is not None:
            with contextlib.suppress(Exception):
                await blocker


async def outcome(name: str, url: str, call: str, warm: bool = False,
                  busy: bool = False) -> dict[str, str]:
    """What VobizTransport.send_digits makes of the failure, on engine `name`."""
    async with transports.vobiz(name, url, AUTH_ID, AUTH_TOKEN, 1 if busy else 10,
                                POOL_CASE_TIMEOUT if busy else TIMEOUT) as transport:
        if warm:
            await transport.live(call)
        async with occupied(transport, call, busy):
            try:
                got = await asyncio.wait_for(transport.send_digits(call, "1", "aleg"),
                                             CASE_LIMIT)
            except Exception as exc:
                return {"kind": "escapes the adapter",
                        "message": f"{type(exc).__module__}.{type(exc).__name__}",
                        "fields": "{}"}
    fields = dataclasses.asdict(got)
    message = str(fields.get("message") or f"HTTP {fields.get('status')}")
    if fields.get("retry_after") is not None:
        message += f" (retry after {fields['retry_after']:g}s)"
    return {"kind": type(got).__name__, "message": message,
            "fields": json.dumps(fields, sort_keys=True)}


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


MEANING = {"Transient": "nothing delivered: may retry",
           "Unknown": "outcome unknown: never resent",
           "Accepted": "done", "Rejected": "rejected"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cases: dict[str, dict[str, dict[str, str]]] = {}
    flows: dict[str, dict[str, Any]] = {}

    def case(label: str, url: str, call: str, **kw: bool) -> None:
        cases[label] = {name: asyncio.run(outcome(name, url, f"{name}-{call}", **kw))
                        for name in NAMES}

    case("refused", f"http://127.0.0.1:{closed_port()}", "c1")
    with benchlib.SandboxProcess("--drop", "100") as box:
        case("dropped (fresh connection)", box.url, "d1")
        case("dropped (reused connection)", box.url, "d2", warm=True)
    for name in NAMES:
        with benchlib.SandboxProcess("--drop", "1") as box:
            flows[name] = asyncio.run(flow_over_drop(name, box))
            flows[name]["heard"] = heard_after(box, 0)
    with benchlib.SandboxProcess("--latency", "2") as box:
        case("read timeout", box.url, "t1")
    with benchlib.SandboxProcess("--latency", "1") as box:
        case("pool timeout", box.url, "p1", busy=True)
    for label, options in (("HTTP 500", ("--fail", "500:2")), ("HTTP 503", ("--fail", "503:2")),
                           ("HTTP 429, Retry-After 2", ("--rate-limit", "2:2"))):
        with benchlib.SandboxProcess(*options) as box:
            case(label, box.url, "f1")
    for label, answer in (("malformed answer", BROKEN_STATUS),
                          ("answer cut short", CUT_BODY)):
        garbage = GarbageServer(answer)
        try:
            case(label, garbage.url, "g1")
        finally:
            garbage.stop()

    # the whole outcome must match: class, status, reason, Retry-After, the API's detail
    agree = {label: len({(o["kind"], o["fields"]) for o in by.values()}) == 1
             for label, by in cases.items()}
    once = all(row["heard"] == 1 for row in flows.values())
    lines = []
    for label, by_name in cases.items():
        lines.append(f"{label}: {'engines agree' if agree[label] else 'ENGINES DISAGREE'}")
        for name, got in by_name.items():
            lines.append(f"  {name:<14} {got['kind']}: {got['message']} "
                         f"[{MEANING.get(got['kind'], '')}]")
    lines.append("a flow `send: '1'` with 3 attempts, first DTMF request dropped:")
    for name, row in flows.items():
        lines.append(f"  {name:<14} {row['outcome']} after {row['attempts']} attempt(s); "
                     f"digits played {row['heard']} time(s)")
    benchlib.emit({"engines": {name: transports.describe(name) for name in NAMES},
                   "cases": cases, "agree": agree, "all_agree": all(agree.values()),
                   "drop_played_once": once, "drop_flow": flows}, args.json,
                  "\n".join(lines))
    return 0 if all(agree.values()) and once else 1


if __name__ == "__main__":
    sys.exit(main())
