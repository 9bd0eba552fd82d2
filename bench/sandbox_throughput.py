"""How many DTMF requests per second the sandbox answers on this machine.

Starts `python -m ivrflow.sandbox --port 0` in its own process, exactly as a user would
(printing every heard digit string, which this script reads and counts), then drives it
from 100 concurrent keep-alive aiohttp clients with a bounded number of DTMF requests
and a time limit. Prints requests/s and errors; exits 1 if any request failed or the
sandbox did not hear every accepted request.

    .venv/bin/python bench/sandbox_throughput.py [--requests 20000] [--concurrency 100]
                                                 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import benchlib

TARGET_PER_SECOND = 2000


@dataclass
class Tally:
    """What the clients saw."""

    sent: int = 0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def drive(server: benchlib.SandboxProcess, requests: int, concurrency: int,
                time_limit: float, tally: Tally) -> float:
    """Send `requests` DTMF POSTs from `concurrency` workers; return the seconds taken."""
    headers = {"X-Auth-ID": server.auth_id, "X-Auth-Token": server.auth_token}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    deadline = time.monotonic() + time_limit

    async with aiohttp.ClientSession(server.url, connector=connector, headers=headers,
                                     timeout=timeout) as session:
        async def worker(n: int) -> None:
            path = f"/api/v1/Account/{server.auth_id}/Call/bench-{n}/DTMF/"
            while tally.sent < requests and time.monotonic() < deadline:
                tally.sent += 1
                try:
                    async with session.post(path, json={"digits": "1234#"}) as response:
                        await response.read()
                        if response.status == 202:
                            tally.accepted += 1
                        else:
                            tally.error(f"status {response.status}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    tally.error(type(exc).__name__)

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="stop sending after this many seconds (default 60)")
    parser.add_argument("--warmup", type=int, default=1000,
                        help="requests sent first and not counted (default 1000)")
    parser.add_argument("--log", metavar="FILE",
                        help="pass --log FILE to the sandbox, to measure logging's cost")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    server = benchlib.SandboxProcess(*(["--log", args.log] if args.log else []))
    try:
        asyncio.run(drive(server, args.warmup, args.concurrency, args.time_limit, Tally()))
        tally = Tally()
        seconds = asyncio.run(drive(server, args.requests, args.concurrency,
                                    args.time_limit, tally))
    finally:
        exit_code = server.stop()
    rate = tally.sent / seconds
    errors = sum(tally.errors.values())
    heard = server.heard - args.warmup
    ok = errors == 0 and heard == tally.accepted and exit_code == 0
    benchlib.emit({
        "requests": tally.sent, "concurrency": args.concurrency, "seconds": seconds,
        "rate": rate, "errors": tally.errors, "accepted": tally.accepted, "heard": heard,
        "exit_code": exit_code, "ok": ok}, args.json, "\n".join([
            f"{tally.sent} DTMF requests from {args.concurrency} keep-alive clients "
            f"in {seconds:.2f} s: {rate:,.0f} requests/s",
            f"errors: {errors}" + (f" {tally.errors}" if errors else ""),
            f"heard lines printed by the sandbox: {heard} (accepted: {tally.accepted})",
            f"sandbox exit code after SIGINT: {exit_code}",
            f"target {TARGET_PER_SECOND} requests/s: "
            f"{'met' if rate >= TARGET_PER_SECOND else 'MISSED'}"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
