"""Zero-wait sends per second: ivrflow over each HTTP transport against the official SDK.

    python bench/send_throughput.py [--sends 3000] [--repeats 3] [--quick] [--json]

One sandbox (`python -m ivrflow.sandbox --port 0`, a separate process) answers every
client in turn, so all figures are against the same server:

- ivrflow: C flows (C = 1 or 100) of 3000/C steps `send: '1'` (tone 0, no waits), run
  with `run_flow` under `asyncio.gather` over ONE shared `VobizTransport` whose pool holds
  C connections, for each transport in `transports.py` (`library` is VobizTransport's
  own client, built by `VobizTransport(max_connections=C)`), and the library again on
  uvloop's event loop;
- the official SDK (`vobiz-python`): `client.calls.send_digits(call_uuid, "1", "aleg")`
  in a plain loop, and from a 100-thread pool sharing one client (the SDK's own use) and
  with one client per thread; its base URL, the module constant
  `vobiz.rest.client.VOBIZ_API_BASE_URI`, is pointed at the sandbox here only;
- where the time goes, the same sends with layers taken away: httpx's client alone over
  the library's transport (no ivrflow), ivrflow's interpreter over a bare aiohttp
  probe transport (no httpx; not a safe adapter), and aiohttp's client alone (neither).

Each figure is the median of `--repeats` timed runs of `--sends` sends (the range is
shown too); a warm-up run of 300 sends, not counted, opens the connections first. The
closest comparison, the library at concurrency 1 against the SDK's loop, gets two more
runs each, taken in alternation. Every
send must be answered 202 and heard by the sandbox: any failure fails the script.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import benchlib
import transports

from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve

try:  # a benchmark-only package (bench/requirements.txt)
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

WARMUP = 300
TIME_LIMIT = 60.0  # seconds, per timed run: a run past it is an error, not a hang


async def ivrflow_sends(box: benchlib.SandboxProcess, transport_name: str, concurrency: int,
                        sends: int, tag: str) -> float:
    """Seconds for `concurrency` flows sharing `sends` zero-wait sends."""
    per_flow = sends // concurrency
    flow = parse_flow(benchlib.send_flow_text(per_flow), "bench-sends.yaml")
    bindings = resolve(flow, environ={})
    transport: Any
    if transport_name == "aiohttp-probe":
        transport = transports.AiohttpProbeTransport(box.url, box.auth_id, box.auth_token,
                                                     concurrency)
    else:
        transport = transports.vobiz(transport_name, box.url, box.auth_id, box.auth_token,
                                     concurrency)
    async with transport:
        start = time.perf_counter()
        results = await asyncio.wait_for(asyncio.gather(*(
            run_flow(flow, bindings, transport, f"{tag}-{n}") for n in range(concurrency))),
            TIME_LIMIT)
        seconds = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} flow(s) failed: {failed[0].reason}")
    return seconds


async def httpx_sends(box: benchlib.SandboxProcess, transport_name: str, concurrency: int,
                      sends: int, tag: str) -> float:
    """Seconds for `sends` DTMF POSTs from `concurrency` workers over an httpx client alone."""
    client = transports.BUILDERS[transport_name](box.url, box.auth_id, box.auth_token,
                                                 concurrency)
    left = sends
    async with client:
        async def worker(n: int) -> None:
            nonlocal left
            path = f"/api/v1/Account/{box.auth_id}/Call/{tag}-{n}/DTMF/"
            while left > 0:
                left -= 1
                answer = await client.post(path, json={"digits": "1", "leg": "aleg"})
                if answer.status_code != 202:
                    raise RuntimeError(f"httpx: HTTP {answer.status_code}")

        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(concurrency))),
                               TIME_LIMIT)
        return time.perf_counter() - start


async def aiohttp_sends(box: benchlib.SandboxProcess, concurrency: int, sends: int,
                        tag: str) -> float:
    """Seconds for `sends` DTMF POSTs from `concurrency` workers over aiohttp alone."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    left = sends
    async with aiohttp.ClientSession(box.url, connector=connector,
                                     headers=transports.headers(box.auth_id, box.auth_token),
                                     timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def worker(n: int) -> None:
            nonlocal left
            path = f"/api/v1/Account/{box.auth_id}/Call/{tag}-{n}/DTMF/"
            while left > 0:
                left -= 1
                async with session.post(path, json={"digits": "1", "leg": "aleg"}) as answer:
                    await answer.read()
                    if answer.status != 202:
                        raise RuntimeError(f"aiohttp: HTTP {answer.status}")

        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(concurrency))),
                               TIME_LIMIT)
        return time.perf_counter() - start


def sdk_client(box: benchlib.SandboxProcess) -> Any:
    import vobiz  # type: ignore[import-untyped]
    import vobiz.rest.client  # type: ignore[import-untyped]

    # The SDK reads its base URL from this module constant when a client is made.
    vobiz.rest.client.VOBIZ_API_BASE_URI = f"{box.url}/api/v1/Account"
    client = vobiz.RestClient(box.auth_id, box.auth_token, timeout=5)
    assert client.base_uri.startswith(box.url), client.base_uri
    return client


def sdk_loop(box: benchlib.SandboxProcess, sends: int, tag: str) -> float:
    client = sdk_client(box)
    deadline = time.monotonic() + TIME_LIMIT
    start = time.perf_counter()
    for n in range(sends):
        client.calls.send_digits(f"{tag}-{n % 100}", "1", "aleg")
        if time.monotonic() > deadline:
            raise RuntimeError("SDK loop: time limit passed")
    seconds = time.perf_counter() - start
    client.session.close()
    return seconds


def sdk_pool(box: benchlib.SandboxProcess, sends: int, tag: str, threads: int,
             client_per_thread: bool) -> float:
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
        start = time.perf_counter()
        futures = [pool.submit(one, n) for n in range(sends)]
        for future in futures:
            future.result(timeout=TIME_LIMIT)
        seconds = time.perf_counter() - start
    for c in [shared, *made]:
        c.session.close()
    return seconds


def figures(rates: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "runs": rates}


def measure(run: Callable[[int, str], float], sends: int, repeats: int,
            name: str) -> dict[str, Any]:
    run(WARMUP, f"{name}-warm")
    return figures([sends / run(sends, f"{name}-{r}") for r in range(repeats)])


def measure_pair(first: Callable[[int, str], float], second: Callable[[int, str], float],
                 sends: int, repeats: int, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two clients timed in alternation, so a drift in the machine's speed hits both."""
    first(WARMUP, f"{name}-a-warm")
    second(WARMUP, f"{name}-b-warm")
    a: list[float] = []
    b: list[float] = []
    for r in range(repeats):
        a.append(sends / first(sends, f"{name}-a-{r}"))
        b.append(sends / second(sends, f"{name}-b-{r}"))
    return figures(a), figures(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--transports", default=",".join(transports.BUILDERS),
                        help="comma-separated names from transports.py")
    parser.add_argument("--quick", action="store_true",
                        help="only ivrflow and the SDK: no uvloop and no layer breakdown")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # urllib3 warns for each connection it cannot keep when 100 threads share the SDK's
    # pool of 10; that is the SDK's behaviour being measured, not news.
    logging.getLogger("urllib3").setLevel(logging.ERROR)

    rows: dict[str, dict[str, Any]] = {}
    names = args.transports.split(",")
    with benchlib.SandboxProcess() as box:
        # The closest comparison, concurrency 1 against the SDK's loop: more runs, in
        # alternation.
        paired = measure_pair(
            lambda n, tag: asyncio.run(ivrflow_sends(box, "library", 1, n, tag)),
            lambda n, tag: sdk_loop(box, n, tag), args.sends, args.repeats + 2, "pair")
        for name in names:
            for concurrency in (1, 100):
                if name == "library" and concurrency == 1:
                    rows["ivrflow / library c=1"] = paired[0]
                    continue
                def run(n: int, tag: str, name: str = name, c: int = concurrency) -> float:
                    return asyncio.run(ivrflow_sends(box, name, c, n, tag))
                rows[f"ivrflow / {name} c={concurrency}"] = measure(
                    run, args.sends, args.repeats, f"{name}-{concurrency}")
        if uvloop is not None and not args.quick:
            for concurrency in (1, 100):
                rows[f"ivrflow / library + uvloop c={concurrency}"] = measure(
                    lambda n, tag, c=concurrency: uvloop.run(
                        ivrflow_sends(box, "library", c, n, tag)),
                    args.sends, args.repeats, f"uv-{concurrency}")
        rows["vobiz-python loop"] = paired[1]
        rows["vobiz-python 100 threads, shared client"] = measure(
            lambda n, tag: sdk_pool(box, n, tag, 100, False), args.sends, args.repeats,
            "sdk-pool")
        rows["vobiz-python 100 threads, client per thread"] = measure(
            lambda n, tag: sdk_pool(box, n, tag, 100, True), args.sends, args.repeats,
            "sdk-pool-own")
        if not args.quick:
            # Where the time goes: the same sends with layers taken away.
            for concurrency in (1, 100):
                rows[f"httpx client alone / library's transport c={concurrency}"] = measure(
                    lambda n, tag, c=concurrency: asyncio.run(
                        httpx_sends(box, "library", c, n, tag)),
                    args.sends, args.repeats, f"hx-{concurrency}")
            for concurrency in (1, 100):
                rows[f"ivrflow / aiohttp-probe (no httpx) c={concurrency}"] = measure(
                    lambda n, tag, c=concurrency: asyncio.run(
                        ivrflow_sends(box, "aiohttp-probe", c, n, tag)),
                    args.sends, args.repeats, f"probe-{concurrency}")
            for concurrency in (1, 100):
                rows[f"aiohttp alone c={concurrency}"] = measure(
                    lambda n, tag, c=concurrency: asyncio.run(aiohttp_sends(box, c, n, tag)),
                    args.sends, args.repeats, f"aiohttp-{concurrency}")
        sandbox_command = box.command
    heard = box.heard  # counted to the end: the sandbox has stopped
    expected = sum(WARMUP + args.sends * len(row["runs"]) for row in rows.values())
    result = {"library": transports.describe_library(), "sends": args.sends,
              "repeats": args.repeats, "rows": rows, "sandbox": sandbox_command,
              "heard": heard, "expected_heard": expected}
    lines = [f"{args.sends} zero-wait sends of '1', median of {args.repeats} runs "
             f"({args.repeats + 2} for the library at c=1 and the SDK loop; sends/s, "
             f"min-max):"]
    for label, row in rows.items():
        lines.append(f"  {label:<56} {row['median']:8,.0f}  "
                     f"({row['min']:,.0f}-{row['max']:,.0f})")
    lines.append(f"heard by the sandbox: {heard} of {expected}")
    benchlib.emit(result, args.json, "\n".join(lines))
    return 0 if heard == expected else 1


if __name__ == "__main__":
    sys.exit(main())
