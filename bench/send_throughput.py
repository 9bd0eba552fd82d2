"""Zero-wait sends per second, and the client's CPU per send: ivrflow's two HTTP engines,
aiohttp alone, httpx alone and the official SDK, against one sandbox.

    python bench/send_throughput.py [--seconds 2] [--repeats 3] [--quick] [--json]

One sandbox (`python -m ivrflow.sandbox --port 0`, a separate process) answers every
client in turn, so all figures are against the same server. Clients (transports.py):

- ivrflow `library` (VobizTransport's default engine, aiohttp asked directly) and
  `library-httpx` (`engine="httpx"`: httpx over its own transport): C flows (C = 1 or
  100) of S/C steps `send: '1'` (tone 0, no waits), `run_flow` under `asyncio.gather`,
  ONE shared `VobizTransport` with a pool of C; the library again on uvloop's loop;
- where the time goes, the same DTMF POST with no ivrflow: aiohttp's `ClientSession`
  alone (the floor) and httpx's `AsyncClient` alone, C workers;
- the official SDK (`vobiz-python`): `client.calls.send_digits(call_uuid, "1", "aleg")`
  in a plain loop, and from a 100-thread pool sharing one client (the SDK's own use) and
  with one client per thread; its base URL, the module constant
  `vobiz.rest.client.VOBIZ_API_BASE_URI`, is pointed at the sandbox here only. If the
  SDK is not installed its rows are left out and the output says so.

Runs are scaled by time, not by count: an uncounted warm-up of 300 sends gives each
client's rate, and each timed run then makes as many sends as fill `--seconds` (at most
`--max-sends`), so a slow client never turns into a time-out. The async clients open
their C connections before the clock starts. Each figure is the median of `--repeats`
timed runs (the range is kept); the rows the targets compare (the library, aiohttp
alone and the SDK's pool at 100; the library and the SDK's loop at 1) get two more runs
each, taken in alternation, so a drift in the machine's speed hits them alike.

CPU per send is this process's CPU time (`time.process_time()`, every thread of it; the
sandbox is another process) over the timed run, divided by its sends. Every send must be
answered 202 and heard by the sandbox: any failure fails the script.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import benchlib
import transports

from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve

try:  # a benchmark-only package (bench/requirements.txt)
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

try:  # the official SDK, a benchmark-only package (bench/requirements.txt)
    import vobiz  # type: ignore[import-untyped]
    import vobiz.rest.client  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - reported in the output
    vobiz = None

WARMUP = 300
TIME_LIMIT = 60.0  # seconds, per run: a run past it is an error, not a hang
MIN_SENDS = 200

# (seconds, CPU seconds of this process) for `sends` sends tagged `tag`
Run = Callable[[int, str], tuple[float, float]]


def timed(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# -- ivrflow -------------------------------------------------------------------------------


async def ivrflow_sends(box: benchlib.SandboxProcess, variant: str, concurrency: int,
                        sends: int, tag: str) -> tuple[float, float]:
    per_flow = max(1, sends // concurrency)
    flow = parse_flow(benchlib.send_flow_text(per_flow), "bench-sends.yaml")
    bindings = resolve(flow, environ={})
    async with transports.vobiz(variant, box.url, box.auth_id, box.auth_token,
                                concurrency) as transport:
        # open the pool's connections before the clock starts
        await asyncio.gather(*(transport.live(f"{tag}-{n}") for n in range(concurrency)))
        start = clock()
        results = await asyncio.wait_for(asyncio.gather(*(
            run_flow(flow, bindings, transport, f"{tag}-{n}") for n in range(concurrency))),
            TIME_LIMIT)
        spent = timed(start)
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} flow(s) failed: {failed[0].reason}")
    return spent


# -- no ivrflow: aiohttp alone, httpx alone ------------------------------------------------


async def aiohttp_sends(box: benchlib.SandboxProcess, concurrency: int, sends: int,
                        tag: str) -> tuple[float, float]:
    left = sends
    async with transports.raw_aiohttp_session(box.url, box.auth_id, box.auth_token,
                                              concurrency) as session:
        async def warm(n: int) -> None:
            async with session.get(f"/api/v1/Account/{box.auth_id}/Call/{tag}-{n}/",
                                   params={"status": "live"}) as answer:
                await answer.read()

        async def worker(n: int) -> None:
            nonlocal left
            path = f"/api/v1/Account/{box.auth_id}/Call/{tag}-{n}/DTMF/"
            while left > 0:
                left -= 1
                async with session.post(path, json={"digits": "1", "leg": "aleg"}) as answer:
                    await answer.read()
                    if answer.status != 202:
                        raise RuntimeError(f"aiohttp: HTTP {answer.status}")

        await asyncio.gather(*(warm(n) for n in range(concurrency)))
        start = clock()
        await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(concurrency))),
                               TIME_LIMIT)
        return timed(start)


async def httpx_sends(box: benchlib.SandboxProcess, concurrency: int, sends: int,
                      tag: str) -> tuple[float, float]:
    left = sends
    async with transports.raw_httpx_client(box.url, box.auth_id, box.auth_token,
                                           concurrency) as client:
        async def worker(n: int) -> None:
            nonlocal left
            path = f"/api/v1/Account/{box.auth_id}/Call/{tag}-{n}/DTMF/"
            while left > 0:
                left -= 1
                answer = await client.post(path, json={"digits": "1", "leg": "aleg"})
                if answer.status_code != 202:
                    raise RuntimeError(f"httpx: HTTP {answer.status_code}")

        await asyncio.gather(*(client.get(f"/api/v1/Account/{box.auth_id}/Call/{tag}-{n}/",
                                          params={"status": "live"})
                               for n in range(concurrency)))
        start = clock()
        await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(concurrency))),
                               TIME_LIMIT)
        return timed(start)


# -- the official SDK ----------------------------------------------------------------------


def sdk_client(box: benchlib.SandboxProcess) -> Any:
    # The SDK reads its base URL from this module constant when a client is made.
    vobiz.rest.client.VOBIZ_API_BASE_URI = f"{box.url}/api/v1/Account"
    client = vobiz.RestClient(box.auth_id, box.auth_token, timeout=5)
    assert client.base_uri.startswith(box.url), client.base_uri
    return client


def sdk_loop(box: benchlib.SandboxProcess, sends: int, tag: str) -> tuple[float, float]:
    client = sdk_client(box)
    deadline = time.monotonic() + TIME_LIMIT
    start = clock()
    for n in range(sends):
        client.calls.send_digits(f"{tag}-{n % 100}", "1", "aleg")
        if time.monotonic() > deadline:
            raise RuntimeError("SDK loop: time limit passed")
    spent = timed(start)
    client.session.close()
    return spent


def sdk_pool(box: benchlib.SandboxProcess, sends: int, tag: str, threads: int,
             client_per_thread: bool) -> tuple[float, float]:
    shared = sdk_client(box)
    local = threading.local()
    made: list[Any] = []

    def client() -> Any:
        if not client_per_thread:
            return shared
        if not hasattr(local, "client"):
            local.client = sdk_client(box)
            made.append(local.client)
        return local.client

    def one(n: int) -> None:
        client().calls.send_digits(f"{tag}-{n % threads}", "1", "aleg")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = clock()
        futures = [pool.submit(one, n) for n in range(sends)]
        deadline = time.monotonic() + TIME_LIMIT
        for future in futures:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
        spent = timed(start)
    for c in [shared, *made]:
        c.session.close()
    return spent


# -- measuring -----------------------------------------------------------------------------


class Measure:
    """Time-scaled runs; counts every send made, for the sandbox's tally."""

    def __init__(self, seconds: float, max_sends: int) -> None:
        self.seconds = seconds
        self.max_sends = max_sends
        self.sent = 0

    def _go(self, run: Run, sends: int, tag: str) -> tuple[float, float]:
        seconds, cpu = run(sends, tag)
        self.sent += sends
        return seconds, cpu

    def warm(self, run: Run, name: str, step: int) -> int:
        """The warm-up; returns the sends a timed run of `seconds` takes (a multiple of
        `step`, the concurrency)."""
        sends = max(step, WARMUP - WARMUP % step)
        seconds, _ = self._go(run, sends, f"{name}-warm")
        fill = sends / seconds * self.seconds
        return max(step, int(max(MIN_SENDS, min(self.max_sends, fill))) // step * step)

    def group(self, runs: dict[str, tuple[Run, int]], repeats: int,
              name: str) -> dict[str, dict[str, Any]]:
        """Runs of each client, taken in alternation (one client: plain repeats)."""
        sizes = {label: self.warm(run, f"{name}{i}", step)
                 for i, (label, (run, step)) in enumerate(runs.items())}
        got: dict[str, list[tuple[int, float, float]]] = {label: [] for label in runs}
        for r in range(repeats):
            for i, (label, (run, _)) in enumerate(runs.items()):
                seconds, cpu = self._go(run, sizes[label], f"{name}{i}-{r}")
                got[label].append((sizes[label], seconds, cpu))
        return {label: figures(rows) for label, rows in got.items()}


def figures(runs: list[tuple[int, float, float]]) -> dict[str, Any]:
    rates = [sends / seconds for sends, seconds, _ in runs]
    cpu = [cpu / sends * 1e6 for sends, _, cpu in runs]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "runs": rates, "sends": [sends for sends, _, _ in runs],
            "seconds": [seconds for _, seconds, _ in runs],
            "cpu_us_per_send": statistics.median(cpu), "cpu_us_runs": cpu,
            # CPU the client process used per wall second: 1.0 is one core, flat out
            "client_cores": statistics.median(c for _, _, c in runs)
            / statistics.median(s for _, s, _ in runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="length of one timed run (default 2 s)")
    parser.add_argument("--max-sends", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="only the rows the targets compare")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # urllib3 warns for each connection it cannot keep when 100 threads share the SDK's
    # pool of 10; that is the SDK's behaviour being measured, not news.
    logging.getLogger("urllib3").setLevel(logging.ERROR)

    def ivrflow(variant: str, c: int, loop: str = "asyncio") -> Run:
        def run(n: int, tag: str) -> tuple[float, float]:
            coro = ivrflow_sends(box, variant, c, n, tag)
            return uvloop.run(coro) if loop == "uvloop" else asyncio.run(coro)
        return run

    def raw(kind: str, c: int) -> Run:
        def run(n: int, tag: str) -> tuple[float, float]:
            sends = aiohttp_sends if kind == "aiohttp" else httpx_sends
            return asyncio.run(sends(box, c, n, tag))
        return run

    sdk = vobiz is not None
    more = args.repeats + 2
    rows: dict[str, dict[str, Any]] = {}
    began = time.perf_counter()
    measure = Measure(args.seconds, args.max_sends)
    with benchlib.SandboxProcess() as box:
        # The targets' comparisons, each group in alternation.
        c100: dict[str, tuple[Run, int]] = {
            "library c=100": (ivrflow("library", 100), 100),
            "aiohttp alone c=100": (raw("aiohttp", 100), 100)}
        if sdk:
            c100["vobiz-python 100 threads, shared client"] = (
                lambda n, tag: sdk_pool(box, n, tag, 100, False), 1)
        rows.update(measure.group(c100, more, "g100-"))
        c1: dict[str, tuple[Run, int]] = {"library c=1": (ivrflow("library", 1), 1)}
        if sdk:
            c1["vobiz-python loop"] = (lambda n, tag: sdk_loop(box, n, tag), 1)
        rows.update(measure.group(c1, more, "g1-"))
        # The other engine, and the floor at concurrency 1.
        for c in (1, 100):
            rows.update(measure.group({f"library-httpx c={c}": (
                ivrflow("library-httpx", c), c)}, args.repeats, f"hx{c}-"))
        rows.update(measure.group({"aiohttp alone c=1": (raw("aiohttp", 1), 1)},
                                  args.repeats, "raw1-"))
        if not args.quick:
            for c in (1, 100):
                rows.update(measure.group({f"httpx alone c={c}": (raw("httpx", c), c)},
                                          args.repeats, f"hxraw{c}-"))
            if uvloop is not None:
                for c in (1, 100):
                    rows.update(measure.group({f"library + uvloop c={c}": (
                        ivrflow("library", c, "uvloop"), c)}, args.repeats, f"uv{c}-"))
            if sdk:
                rows.update(measure.group({"vobiz-python 100 threads, client per thread": (
                    lambda n, tag: sdk_pool(box, n, tag, 100, True), 1)}, args.repeats,
                    "sdkown-"))
        sandbox_command = box.command
    heard = box.heard  # counted to the end: the sandbox has stopped
    lib, floor = rows["library c=100"], rows["aiohttp alone c=100"]
    result = {
        "library": transports.describe("library"),
        "library_httpx": transports.describe("library-httpx"),
        "seconds_per_run": args.seconds, "repeats": args.repeats, "rows": rows,
        "cpu_ratio_c100": lib["cpu_us_per_send"] / floor["cpu_us_per_send"],
        # the runs alternate, so run r of each was taken under the same conditions
        "cpu_ratio_c100_pairs": [a / b for a, b in zip(lib["cpu_us_runs"],
                                                       floor["cpu_us_runs"], strict=True)],
        "sdk": None if not sdk else benchlib.machine()["packages"]["vobiz-python"],
        "sdk_missing": None if sdk else "vobiz-python is not installed "
                                        "(pip install -r bench/requirements.txt)",
        "sandbox": sandbox_command, "heard": heard, "expected_heard": measure.sent,
        "wall_s": time.perf_counter() - began, "cpus": os.cpu_count()}
    lines = [f"zero-wait sends of '1', runs of about {args.seconds:g} s, median of "
             f"{args.repeats} ({more} for the compared groups); sends/s (min-max), client "
             f"CPU per send:"]
    for label, row in rows.items():
        lines.append(f"  {label:<44} {row['median']:8,.0f}  ({row['min']:,.0f}-"
                     f"{row['max']:,.0f})  {row['cpu_us_per_send']:6.0f} us CPU/send")
    lines.append(f"CPU per send at c=100, library / aiohttp alone: "
                 f"{lib['cpu_us_per_send']:.0f} / {floor['cpu_us_per_send']:.0f} us = "
                 f"{result['cpu_ratio_c100']:.2f}x (target <= 2.5x); run by run: "
                 + ", ".join(f"{r:.2f}x" for r in result["cpu_ratio_c100_pairs"]))
    if sdk:
        pool = rows["vobiz-python 100 threads, shared client"]["median"]
        lines.append(f"library c=100 / SDK 100 threads: {lib['median']:,.0f} / {pool:,.0f}"
                     f" = {lib['median'] / pool:.2f}x (target >= 3x)")
    else:
        lines.append(f"SDK rows left out: {result['sdk_missing']}")
    lines.append(f"heard by the sandbox: {heard} of {measure.sent}")
    benchlib.emit(result, args.json, "\n".join(lines))
    return 0 if heard == measure.sent else 1


if __name__ == "__main__":
    sys.exit(main())
