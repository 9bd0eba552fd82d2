"""Arrival-gap error of one flow's sends, measured at a sandbox in another process.

    python bench/timing_accuracy.py [--sends 251] [--interval 0.04]
                                    [--engine aiohttp|httpx] [--json]

A flow of `--sends` sends, each scheduled with `wait: {until: T}` at a fixed interval,
runs through the production HTTP transport (`VobizTransport`, default engine unless
`--engine` says otherwise) against `python -m ivrflow.sandbox` in another process. The
sandbox logs each request's arrival on the machine's monotonic clock (the one ivrflow
times with), so the script reports, over every consecutive pair of sends:

- gap error: (actual gap between arrivals) - (planned gap), p50 / p99 / max;
- lateness: arrival - planned time, which adds the request's own latency.

It then sleeps on ivrflow's clock for single long waits (1, 2, 4, 8 s), where the kernel's
timer slack (0.1 % of a timeout) would otherwise make each wake-up several ms late.

Target: p99 gap error <= 2 ms. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

from ivrflow.engine.clock import SINGLE_FLOW_SPIN, MonotonicClock
from ivrflow.engine.events import Event
from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve
from ivrflow.transport.vobiz import VobizTransport

TARGET_P99_MS = 2.0


async def run(url: str, sends: int, interval: float,
              engine: str) -> tuple[float, list[float]]:
    steps = "".join(f"  - wait: {{until: {1 + i * interval:.3f}}}\n  - send: '1'\n"
                    for i in range(sends))
    flow = parse_flow(f"version: 1\nname: bench\ntone: 0\nsteps:\n{steps}", "bench.yaml")
    planned = [1 + i * interval for i in range(sends)]
    t0: list[float] = []

    def listener(event: Event) -> None:
        if event.type == "flow_started":
            t0.append(time.monotonic() - event.t)

    async with VobizTransport(auth_id="MA_SANDBOX", auth_token="sandbox-token",
                              api_url=url, engine=engine) as transport:  # type: ignore[arg-type]
        result = await run_flow(flow, resolve(flow, environ={}), transport, "bench-call",
                                listener=listener)
    if not result.ok:
        raise SystemExit(f"flow failed: {result.reason}")
    return t0[0], planned


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=251)
    parser.add_argument("--interval", type=float, default=0.04)
    parser.add_argument("--engine", default="aiohttp", choices=("aiohttp", "httpx"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "sandbox.log"
        with benchlib.SandboxProcess("--log", str(log)) as box:
            sandbox_command = box.command.replace(str(log), "FILE")
            t0, planned = asyncio.run(asyncio.wait_for(
                run(box.url, args.sends, args.interval, args.engine),
                planned_end(args.sends, args.interval) + 30))  # never hang
        arrivals = [record["monotonic"] for record in benchlib.read_log(log)
                    if record["method"] == "POST"]
    assert len(arrivals) == len(planned), (len(arrivals), len(planned))
    pairs = list(zip(arrivals, planned, strict=True))
    gaps = [abs((b - a) - (pb - pa)) * 1000
            for (a, pa), (b, pb) in itertools.pairwise(pairs)]
    late = [(a - (t0 + p)) * 1000 for a, p in zip(arrivals, planned, strict=True)]
    waits = asyncio.run(long_waits())
    gap, lateness = benchlib.summary(gaps), benchlib.summary(late)
    result: dict[str, Any] = {
        "sends": len(arrivals), "interval_s": args.interval, "engine": args.engine,
        "sandbox": sandbox_command, "gap_error_ms": gap, "lateness_ms": lateness,
        "target_p99_ms": TARGET_P99_MS, "met": gap["p99"] <= TARGET_P99_MS,
        "long_waits_late_ms": {f"{wait:g}": late for wait, late in waits}}
    lines = [
        f"{len(gaps)} gaps between {len(arrivals)} sends, {args.interval * 1000:.0f} ms "
        f"apart, engine {args.engine}, sandbox in another process",
        f"gap error  |actual - planned|: p50 {gap['p50']:.3f} ms, "
        f"p99 {gap['p99']:.3f} ms, max {gap['max']:.3f} ms",
        f"lateness   arrival - planned:  p50 {lateness['p50']:.3f} ms, "
        f"p99 {lateness['p99']:.3f} ms, max {lateness['max']:.3f} ms",
        f"target p99 gap error <= {TARGET_P99_MS:g} ms: "
        f"{'met' if result['met'] else 'MISSED'}",
        "long waits on MonotonicClock, lateness: " + ", ".join(
            f"{wait:g} s: {late:.3f} ms" for wait, late in waits)]
    benchlib.emit(result, args.json, "\n".join(lines))
    return 0


def planned_end(sends: int, interval: float) -> float:
    return 1 + sends * interval


async def long_waits() -> list[tuple[float, float]]:
    clock = MonotonicClock(spin=SINGLE_FLOW_SPIN)
    results = []
    for wait in (1.0, 2.0, 4.0, 8.0):
        deadline = clock.now() + wait
        await clock.sleep_until(deadline)
        results.append((wait, (clock.now() - deadline) * 1000))
    return results


if __name__ == "__main__":
    sys.exit(main())
