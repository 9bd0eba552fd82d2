"""Run every benchmark, one after the other, and write bench/RESULTS.md.

    pip install -r bench/requirements.txt      # benchmark-only packages, once
    python bench/run_all.py [--output bench/RESULTS.md]

Each benchmark runs as its own process (`python bench/NAME.py --json`), each against
sandboxes it starts in separate processes on 127.0.0.1, never two at once, so the two
cores are shared only by one client and its sandbox. Every script bounds its loops in
count and time, and this runner gives each a time limit too. The whole run takes about
five minutes on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEP_LIMIT = 300.0  # seconds for any one benchmark

TARGET_GAP_MS = 10.0
TARGET_KIB_PER_FLOW = 64.0
TARGET_C100_FACTOR = 3.0

STEPS: list[tuple[str, list[str]]] = [
    ("capacity", ["sandbox_throughput.py", "--requests", "20000"]),
    ("timing", ["concurrent_timing.py"]),
    ("timing-freeze", ["concurrent_timing.py", "--flows", "1000", "--gc-freeze"]),
    ("timing-httpx", ["concurrent_timing.py", "--flows", "1000",
                      "--transport", "httpx-default"]),
    ("throughput", ["send_throughput.py"]),
    ("errors", ["transport_errors.py"]),
    ("memory", ["flow_memory.py"]),
    ("validate", ["validate_speed.py"]),
]


def cpu_busy() -> tuple[float, float]:
    """Seconds of CPU the whole machine has spent busy, and stolen, since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


QUIET_CORES = 0.25   # other work above this during a benchmark marks its figures
QUIET_WAIT = 60.0    # seconds, over the whole run, to wait for a busy machine to calm down


class Quiet:
    """Waits (a bounded time in all) before each benchmark for other work to stop."""

    def __init__(self) -> None:
        self.budget = QUIET_WAIT

    def wait(self, name: str) -> None:
        said = False
        while True:
            busy0, _ = cpu_busy()
            time.sleep(0.5)
            others = (cpu_busy()[0] - busy0) / 0.5  # this process sleeps meanwhile
            if others <= QUIET_CORES or self.budget <= 0:
                return
            if not said:
                print(f"run_all: {name}: other work is using {others:.2f} cores; waiting "
                      f"up to {self.budget:.0f} s for it to stop", file=sys.stderr)
                said = True
            self.budget -= 0.5


def run_step(name: str, args: list[str]) -> dict[str, Any]:
    command = [sys.executable, str(HERE / args[0]), *args[1:], "--json"]
    print(f"run_all: {name}: python bench/{shlex.join(args)} ...", file=sys.stderr, flush=True)
    busy0, steal0 = cpu_busy()
    ours0 = children_cpu()
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          timeout=STEP_LIMIT)
    seconds = time.perf_counter() - began
    busy1, steal1 = cpu_busy()
    # CPU the machine spent on anything but this benchmark (its processes, all waited
    # for, count in RUSAGE_CHILDREN), in cores: other work competing for the two cores.
    other = max(0.0, (busy1 - busy0) - (children_cpu() - ours0)) / seconds
    stolen = (steal1 - steal0) / seconds
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"run_all: {name} failed (exit {done.returncode})")
    print(f"run_all: {name}: done in {seconds:.0f} s", file=sys.stderr, flush=True)
    result: dict[str, Any] = json.loads(done.stdout)
    result["_seconds"] = seconds
    result["_other_cores"] = other
    result["_stolen_cores"] = stolen
    result["_command"] = f"python bench/{shlex.join(args)}"
    return result


def git_state() -> str:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT,
                                  timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()
             if not line[3:].startswith("bench/")]
    if dirty:
        return (f"{commit}, with uncommitted changes to {len(dirty)} file(s) outside bench/ "
                f"({', '.join(sorted(dirty)[:8])}{', ...' if len(dirty) > 8 else ''})")
    return commit


# -- formatting ------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def rate(value: float) -> str:
    return f"{value:,.0f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def render(results: dict[str, dict[str, Any]], machine: dict[str, Any], total: float,
           started: str, source: str) -> str:
    out: list[str] = []
    add = out.append
    cap = results["capacity"]
    timing = results["timing"]
    t_rows = timing["rows"]
    stack = results["throughput"].get("library", "the client VobizTransport builds")
    variant_steps = {"library": "timing",
                     "library + gc.freeze() (as `ivrflow run --calls`)": "timing-freeze",
                     "httpx's own transport": "timing-httpx"}
    variants = {label: results[step]["rows"]["1000"] for label, step in variant_steps.items()}
    tp = results["throughput"]["rows"]
    mem = results["memory"]["rows"]
    val = results["validate"]["rows"]
    errors = results["errors"]

    def median(label: str) -> float | None:
        row = tp.get(label)
        return None if row is None else float(row["median"])

    def pair(prefix: str) -> dict[int, float]:
        return {c: median(f"{prefix} c={c}") or 0.0 for c in (1, 100)}

    sdk_loop = tp["vobiz-python loop"]["median"]
    sdk_pool = tp["vobiz-python 100 threads, shared client"]["median"]
    sdk_pool_own = tp["vobiz-python 100 threads, client per thread"]["median"]
    lib = pair("ivrflow / library")
    hx = pair("ivrflow / httpx-default")
    small = pair("ivrflow / httpx-small-pool")
    stock = pair("ivrflow / httpx-aiohttp")
    uv = pair("ivrflow / library + uvloop")
    hx_alone = pair("httpx client alone / library's transport")
    probe = pair("ivrflow / aiohttp-probe (no httpx)")
    raw = pair("aiohttp alone")
    target_c100 = TARGET_C100_FACTOR * sdk_pool
    worst_mem = max(mem.values(), key=lambda row: row["per_flow_bytes"])
    iv, cj = val["ivrflow validate"], val["check-jsonschema"]

    def us(per_second: float) -> float:
        return 1e6 / per_second if per_second else float("nan")

    add("# ivrflow benchmarks")
    add("")
    add(f"Generated by `python bench/run_all.py` on {started} in {total / 60:.1f} minutes; "
        "do not edit by hand, run it again. Every figure below comes from that one run, "
        "each benchmark against a sandbox (`python -m ivrflow.sandbox`) in a separate "
        "process on 127.0.0.1, one benchmark at a time. Install the benchmark-only "
        "packages first: `pip install -r bench/requirements.txt` (none of them is an "
        "ivrflow dependency).")
    add("")
    busy = {name: r["_other_cores"] for name, r in results.items()
            if r["_other_cores"] > QUIET_CORES}
    if busy:
        add("> **Other work ran on the machine** during " + ", ".join(
            f"{name} ({cores:.2f} cores)" for name, cores in busy.items())
            + ": those figures are pessimistic. Rerun on a quiet machine.")
        add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    add(f"| CPU | {machine['cpu']} |")
    add(f"| cores | {machine['cores']} (usable by this process: {machine['affinity']}) |")
    add(f"| memory | {machine['memory_gib']} GiB |")
    add(f"| kernel | {machine['kernel']} |")
    add(f"| Python | {machine['python']} |")
    add(f"| ivrflow source | {source} |")
    add(f"| ivrflow's HTTP stack | {stack} (what `VobizTransport` builds when given no "
        "client) |")
    add("| packages | " + ", ".join(f"{name} {version}" for name, version in
                                    machine["packages"].items()) + " |")
    add("")
    add(f"Sandbox capacity in this run (`{cap['_command']}`, aiohttp clients, "
        f"{cap['concurrency']} connections): **{rate(cap['rate'])} DTMF requests/s**, "
        f"{sum(cap['errors'].values())} errors.")
    add("")

    # -- targets ------------------------------------------------------------------------
    gap_lib = variants["library"]["gap_error_ms"]["p99"]
    gap_freeze = variants["library + gc.freeze() (as `ivrflow run --calls`)"][
        "gap_error_ms"]["p99"]
    gap_hx = variants["httpx's own transport"]["gap_error_ms"]["p99"]
    gc_longest = variants["library"]["gc"]["longest_ms"]
    add("## Targets")
    add("")
    add("The library as it is: `VobizTransport(max_connections=N)` with no client given, "
        f"that is {stack}.")
    add("")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    add(f"| p99 gap error <= {TARGET_GAP_MS:g} ms at 1,000 concurrent flows | `run_flow` "
        f"tasks as they are: {ms(gap_lib)} ms; after `gc.freeze()`, as the batch runner "
        f"does: {ms(gap_freeze)} ms | {verdict(gap_lib <= TARGET_GAP_MS)} by bare "
        f"`run_flow` tasks"
        + (f" (by {ms(gap_lib - TARGET_GAP_MS)} ms)" if gap_lib > TARGET_GAP_MS else "")
        + f"; {verdict(gap_freeze <= TARGET_GAP_MS)} with `gc.freeze()` |")
    add(f"| <= {TARGET_KIB_PER_FLOW:g} KiB per waiting flow | "
        + "; ".join(f"{row['case']}: {row['per_flow_bytes'] / 1024:.1f} KiB" for row in
                    mem.values())
        + f" | {verdict(worst_mem['per_flow_bytes'] / 1024 <= TARGET_KIB_PER_FLOW)} |")
    add(f"| sends/s at concurrency 1 >= the SDK's loop ({rate(sdk_loop)}/s) | "
        f"{rate(lib[1])}/s ({lib[1] / sdk_loop:.2f}x) | {verdict(lib[1] >= sdk_loop)}"
        + (f" (by {rate(sdk_loop - lib[1])}/s, {(1 - lib[1] / sdk_loop) * 100:.0f} %)"
           if lib[1] < sdk_loop else "") + " |")
    add(f"| sends/s at concurrency 100 >= {TARGET_C100_FACTOR:g}x the SDK's 100-thread pool "
        f"({TARGET_C100_FACTOR:g} x {rate(sdk_pool)} = {rate(target_c100)}/s) | "
        f"{rate(lib[100])}/s ({lib[100] / sdk_pool:.2f}x) | "
        f"{verdict(lib[100] >= target_c100)}"
        + (f" (by {rate(target_c100 - lib[100])}/s, "
           f"{(1 - lib[100] / target_c100) * 100:.0f} %)" if lib[100] < target_c100 else "")
        + " |")
    add(f"| `ivrflow validate` faster than check-jsonschema (200 files) | "
        f"{iv['seconds']:.2f} s vs {cj['seconds']:.2f} s | "
        f"{verdict(iv['seconds'] < cj['seconds'])} ({cj['seconds'] / iv['seconds']:.1f}x "
        f"faster) |")
    add("")
    add("Why, where a target is missed or close:")
    add("")
    add(f"- **Timing at 1,000 flows.** CPython's cyclic garbage collector stops the event "
        f"loop for each full (generation 2) collection; with 1,000 flows alive the longest "
        f"pause in this run was {ms(gc_longest)} ms, and every send due during one goes out "
        f"late, together: p99 {ms(gap_lib)} ms with bare `run_flow` tasks. `gc.freeze()` "
        f"once the flows are set up takes the long-lived objects out of every later "
        f"collection: p99 {ms(gap_freeze)} ms. `ivrflow run --calls` does that; a library "
        f"user running many flows should too. httpx's own transport: p99 {ms(gap_hx)} ms.")
    for label, row in variants.items():
        if row["gap_error_ms"]["p99"] > 100 and row["connections"] > 50:
            step = results[variant_steps[label]]
            add(f"- **{label} at 1,000 flows collapsed** in this run (p99 "
                f"{ms(row['gap_error_ms']['p99'])} ms, {row['connections']} connections open "
                f"at the end; other work took {step['_other_cores']:.2f} cores meanwhile). "
                "Once requests back up, httpx's own pool opens more connections, its cost "
                "per request grows with them (section 2: a few hundred sends/s with 100 in "
                "flight, below the planned rate) and the backlog feeds itself.")
    lib_row, loop_row = tp["ivrflow / library c=1"], tp["vobiz-python loop"]
    overlap = lib_row["max"] >= loop_row["min"] and loop_row["max"] >= lib_row["min"]
    text = (f"- **Concurrency 1.** One send at a time is a round trip: client CPU, loopback, "
            f"the sandbox's CPU. The library needs {us(lib[1]):.0f} µs per send, the SDK's "
            f"loop {us(sdk_loop):.0f} µs, httpx's own transport {us(hx[1]):.0f} µs.")
    if overlap:
        text += (" The library's and the SDK's ranges over the runs overlap: at concurrency "
                 "1 they are level within this machine's run-to-run noise.")
    if hx_alone[1] and probe[1] and raw[1]:
        text += (f" Taking layers away: httpx's client alone over the library's transport "
                 f"{us(hx_alone[1]):.0f} µs, ivrflow over a bare aiohttp probe "
                 f"{us(probe[1]):.0f} µs, aiohttp alone {us(raw[1]):.0f} µs: httpx's client "
                 f"layer (request building, URL merging, cookie handling) costs about "
                 f"{us(hx_alone[1]) - us(raw[1]):.0f} µs a send and ivrflow's interpreter "
                 f"about {us(probe[1]) - us(raw[1]):.0f} µs.")
    add(text)
    text = (f"- **Concurrency 100.** httpx's own transport collapses under concurrency "
            f"({rate(hx[100])}/s at 100 against {rate(hx[1])}/s at 1: httpcore's pool does "
            f"work per request that grows with the connections it holds; capped at 10 "
            f"connections it gives {rate(small[100])}/s). The library's aiohttp engine lifts "
            f"it to {rate(lib[100])}/s, {lib[100] / hx[100]:.1f}x. At 100 in flight the "
            f"client process is CPU-bound on one core (the sandbox has the other): "
            f"{TARGET_C100_FACTOR:g}x the SDK's pool allows {us(target_c100):.0f} µs of "
            f"client CPU per send, and the library spends {us(lib[100]):.0f} µs.")
    if hx_alone[100] and probe[100] and raw[100]:
        text += (f" Per send: aiohttp's own client {us(raw[100]):.0f} µs; httpx's client on "
                 f"top of the same engine {us(hx_alone[100]):.0f} µs "
                 f"(+{us(hx_alone[100]) - us(raw[100]):.0f}); ivrflow's interpreter over a "
                 f"bare aiohttp probe {us(probe[100]):.0f} µs "
                 f"(+{us(probe[100]) - us(raw[100]):.0f}).")
        if us(hx_alone[100]) > us(target_c100):
            text += (" httpx's client layer alone exceeds the budget, so no transport under "
                     "httpx can meet this target on this machine.")
        text += (f" An aiohttp-native adapter (no httpx) could: the bare probe runs ivrflow "
                 f"at {rate(probe[100])}/s, {probe[100] / sdk_pool:.1f}x the SDK's pool, "
                 f"before the error mapping a real adapter adds.")
    if uv[100]:
        text += f" uvloop adds little ({rate(uv[100])}/s)."
    add(text)
    add("")

    # -- timing -------------------------------------------------------------------------
    add("## 1. Timing accuracy with many flows at once")
    add("")
    add(f"N flows of {timing['sends_per_flow']} sends of \"1\" each, every send pinned with "
        "`wait: {until: T}` (T = 1 s + k I), run with `run_flow` tasks under "
        "`asyncio.gather` over ONE shared `VobizTransport` with `max_connections=N`. Each "
        "flow's sends are I apart and the N flows start staggered evenly across I, so "
        f"together they plan {timing['rate']:.0f} sends/s (one flow alone: every 100 ms), "
        "under a twentieth of the sandbox's capacity. Arrival times are the sandbox log's "
        "`monotonic` (the machine's monotonic clock at receipt, the clock ivrflow times "
        "with), matched per call id. Gap error = |actual gap between a flow's consecutive "
        "arrivals - planned gap|; lateness = arrival - planned instant, which includes the "
        f"request's own latency. Sandbox: `{timing['sandbox']}`.")
    add("")
    add("| flows | I | planned sends/s | gap error p50 / p99 / max (ms) | lateness p50 / "
        "p99 / max (ms) | longest GC pause (ms) | connections |")
    add("|---|---|---|---|---|---|---|")
    for row in t_rows.values():
        g, late = row["gap_error_ms"], row["lateness_ms"]
        add(f"| {row['flows']:,} | {row['interval_s'] * 1000:.0f} ms | "
            f"{row['planned_rate']:.0f} | {ms(g['p50'])} / **{ms(g['p99'])}** / "
            f"{ms(g['max'])} | {ms(late['p50'])} / {ms(late['p99'])} / {ms(late['max'])} | "
            f"{ms(row['gc']['longest_ms'])} | {row['connections']} |")
    add("")
    add("1,000 flows, the same plan, other configurations:")
    add("")
    add("| configuration | gap error p50 / p99 / max (ms) | lateness p50 / p99 / max (ms) | "
        "longest GC pause (ms) | connections | other work (cores) |")
    add("|---|---|---|---|---|---|")
    for label, row in variants.items():
        g, late = row["gap_error_ms"], row["lateness_ms"]
        add(f"| {label} | {ms(g['p50'])} / **{ms(g['p99'])}** / {ms(g['max'])} | "
            f"{ms(late['p50'])} / {ms(late['p99'])} / {ms(late['max'])} | "
            f"{ms(row['gc']['longest_ms'])} | {row['connections']} | "
            f"{results[variant_steps[label]]['_other_cores']:.2f} |")
    add("")
    add("`connections`: sockets the pool held at the end. `other work`: CPU the machine "
        "spent on anything but this benchmark's processes while it ran (see Commands). "
        "Every tail of more than a few milliseconds above goes with a collector pause of "
        "about its size (the GC column), and the p99 of a run depends on how many pauses "
        "fell on sends (100 flows make 900 gaps, so one pause weighs more there than among "
        "1,000 flows' 9,000). The sandbox is a Python process too, with its own collector: "
        "a pause there delays the arrival stamps of whatever is queued, so part of the "
        "remaining tail is the measuring instrument's.")
    add("")

    # -- throughput ---------------------------------------------------------------------
    th = results["throughput"]
    add("## 2. Throughput of zero-wait sends")
    add("")
    add(f"{th['sends']:,} sends of \"1\" per run, median of {th['repeats']} runs (min-max in "
        f"brackets; {th['repeats'] + 2} runs, in alternation, for the library at c=1 and the "
        "SDK's loop), after an uncounted warm-up of 300 sends, all against one sandbox "
        f"(`{th['sandbox']}`). ivrflow at concurrency C: C flows of {th['sends']:,}/C "
        "steps `send: '1'` (tone 0) under `asyncio.gather`, one shared `VobizTransport` "
        "with a pool of C. The SDK: `client.calls.send_digits(call_uuid, \"1\", \"aleg\")`. "
        f"The sandbox heard {th['heard']:,} of {th['expected_heard']:,} sends.")
    add("")
    add("| client | sends/s | vs SDK loop | vs SDK 100 threads |")
    add("|---|---|---|---|")
    for label, row in tp.items():
        add(f"| {label} | **{rate(row['median'])}** ({rate(row['min'])}-{rate(row['max'])}) "
            f"| {row['median'] / sdk_loop:.2f}x | {row['median'] / sdk_pool:.2f}x |")
    add("")
    add(f"- `library`: `VobizTransport(max_connections=C)` building its own client ({stack}). "
        "The others pass `VobizTransport(client=httpx.AsyncClient(transport=...))` with the "
        "headers, timeouts and limits VobizTransport uses: `httpx-default` is httpx's own "
        "`AsyncHTTPTransport`, `httpx-small-pool` the same capped at 10 connections "
        "whatever C (a tuning of httpx's limits), `httpx-aiohttp` the package's "
        "`AiohttpTransport` as shipped (unsafe, section 3).")
    add("- The last rows take layers away to show where the time goes; the aiohttp probe "
        "is a bare `Transport` with no error mapping, for measuring only.")
    add(f"- The SDK's `requests.Session` keeps at most 10 connections, so 100 threads "
        f"sharing one client open and close the rest per request; one client per thread "
        f"gives {rate(sdk_pool_own)}/s. The targets use the shared client, the SDK's "
        "own usage.")
    add("")

    # -- transports ---------------------------------------------------------------------
    add("## 3. The transport under httpx")
    add("")
    add("| transport | c=1 sends/s | c=100 sends/s | exceptions as httpx's own |")
    add("|---|---|---|---|")
    add(f"| httpx's own `AsyncHTTPTransport` (httpcore + h11) | {rate(hx[1])} | "
        f"{rate(hx[100])} | yes (the reference) |")
    add(f"| the same, pool capped at 10 | {rate(small[1])} | {rate(small[100])} | yes |")
    add(f"| `httpx_aiohttp.AiohttpTransport` as shipped | {rate(stock[1])} | "
        f"{rate(stock[100])} | **no**: see below |")
    add(f"| the library: {stack} | {rate(lib[1])} | {rate(lib[100])} | yes |")
    if uv[1]:
        add(f"| the library on uvloop | {rate(uv[1])} | {rate(uv[100])} | yes |")
    add("")
    add(f"The library's aiohttp engine against httpx's own transport: "
        f"**{lib[1] / hx[1]:.2f}x** at concurrency 1, **{lib[100] / hx[100]:.1f}x** at "
        f"concurrency 100.")
    add("")
    add("What each transport raises (`bench/transport_errors.py`), and what "
        "`VobizTransport.send_digits` makes of it. Transient = nothing delivered, a retry "
        "is allowed; Unknown = the digits may have played, never resent:")
    add("")
    names = ["httpx-default", "httpx-aiohttp", "library"]
    add("| case | httpx's own | httpx-aiohttp as shipped | the library |")
    add("|---|---|---|---|")
    for case, by_name in errors["cases"].items():
        cells = []
        for name in names:
            row = by_name[name]
            outcome = row["ivrflow"].split(":")[0]
            if outcome.startswith("raises"):
                outcome = "**escapes the adapter** (run_flow raises)"
            cells.append(f"`{row['exception']}` -> {outcome}")
        add(f"| {case} | " + " | ".join(cells) + " |")
    add("")
    add("End to end, a flow `send: '1'` with `retry: {attempts: 3}` against "
        "`python -m ivrflow.sandbox --drop 1` (the first DTMF request is read in full, "
        "then the connection is closed unanswered):")
    add("")
    for name, row in errors["drop_flow"].items():
        add(f"- {name}: outcome `{row['outcome']}` after {row['attempts']} attempt(s); the "
            f"sandbox played the digits **{row['heard']} time(s)**.")
    add("")
    add("httpx-aiohttp 0.2.0 maps every `aiohttp.ClientConnectionError` to "
        "`httpx.ConnectTimeout`, and its dict order makes that win over the more specific "
        "`ClientConnectorError -> ConnectError`. So a refused connection reads as a connect "
        "timeout (harmless: both are Transient), but a connection **dropped after the "
        "request was sent** (`ServerDisconnectedError`) also reads as ConnectTimeout, which "
        "ivrflow must take for \"nothing delivered\" and retries: the digits are pressed "
        "twice. A malformed answer (`aiohttp.ClientResponseError`) is not mapped at all and "
        "escapes `VobizTransport` as a raw aiohttp exception. Read timeouts are mapped "
        "right (`SocketTimeoutError -> ReadTimeout`). The library's `SafeAiohttpTransport` "
        "(ivrflow/transport/aiohttp_transport.py) subclasses the package's transport and "
        "re-maps from the aiohttp cause: connector errors -> ConnectError, connection "
        "timeouts (pool wait or TCP connect) -> ConnectTimeout, socket read timeouts -> "
        "ReadTimeout, a disconnect, a cut body or a malformed answer -> RemoteProtocolError, "
        "anything else -> ReadError (unknown, the safe side). Remaining differences from "
        "httpx's own transport: a pool wait that times out is ConnectTimeout, not "
        "PoolTimeout (both Transient); aiohttp has no write timeout; aiohttp retries an "
        "idempotent request (the live-call GET, never the DTMF POST) once on a dropped "
        "keep-alive connection; and httpx ignores HTTP(S)_PROXY from the environment "
        "whenever a transport is passed in.")
    add("")

    # -- memory -------------------------------------------------------------------------
    add("## 4. Memory per waiting flow")
    add("")
    add(f"Resident set size (`/proc/self/statm`) of a fresh process, after setup and "
        f"garbage collection, then with {results['memory']['flows']:,} `run_flow` tasks all "
        "in a 10-minute wait (collected again); per flow = the difference / flows. All "
        "flows are then cancelled and each ends `interrupted`.")
    add("")
    add("| case | per flow | RSS before -> with the flows waiting | connections opened |")
    add("|---|---|---|---|")
    labels = {"idle": "waiting, nothing sent yet (library)",
              "sent": "each sent once first, all at the same instant (library)",
              "sent-httpx-default": "each sent once first, httpx's own transport"}
    for row in mem.values():
        add(f"| {labels.get(row['case'], row['case'])} | **{row['per_flow_bytes'] / 1024:.1f}"
            f" KiB** | {row['rss_before'] / 2**20:.1f} -> {row['rss_after'] / 2**20:.1f} MiB "
            f"| {row['connections_opened']} |")
    add("")
    add("A waiting flow itself is its task, its coroutine frames and its step records. "
        "After a simultaneous first send, the figure also holds what the burst of 1,000 "
        "requests in flight left allocated to the process, and the pool's connections: "
        "aiohttp opens one per request in flight (up to the pool size), httpx's own pool "
        "served the same burst through a handful.")
    add("")

    # -- validate -----------------------------------------------------------------------
    vd = results["validate"]
    add("## 5. `ivrflow validate` against check-jsonschema")
    add("")
    add(f"{vd['files']} generated, varied, valid flow files ({vd['steps']:,} steps, "
        f"{vd['bytes'] / 1024:.0f} KiB; `bench/validate_speed.py`, seeded), each command "
        f"a fresh process as a user runs it, alternating, median of {vd['repeats']} runs:")
    add("")
    add("| command | 200 files | one file (start-up) | per further file |")
    add("|---|---|---|---|")
    for name, row in val.items():
        add(f"| `{vd['commands'][name]}` | **{row['seconds']:.3f} s** "
            f"({row['min']:.3f}-{row['max']:.3f}) | {row['one_file']:.3f} s | "
            f"{row['per_file_ms']:.2f} ms |")
    add("")
    add("check-jsonschema does less: the JSON Schema only, with no located YAML-trap checks "
        "(`send: 0123` read as a number, `on:` read as true), no check of `${var}` "
        "references, regular expressions, unit limits or the timeline against the flow's "
        "timeout.")
    add("")

    # -- recommendation -----------------------------------------------------------------
    add("## Recommendation")
    add("")
    add(f"Keep aiohttp under ivrflow's httpx client, **only through the re-mapping "
        f"`SafeAiohttpTransport`**: {lib[1] / hx[1]:.2f}x httpx's own transport at "
        f"concurrency 1 and {lib[100] / hx[100]:.1f}x at 100, with the same outcome classes. "
        "Never `httpx_aiohttp.AiohttpTransport` as shipped: it turns a dropped connection "
        "into a retry that presses the digits twice. Run many flows with the set-up "
        "objects frozen out of the collector (`gc.collect(); gc.freeze()` before the flows "
        "start, `gc.unfreeze()` after), as `ivrflow run --calls` does. This is what "
        "`VobizTransport(auth_id=..., auth_token=..., api_url=..., "
        "max_connections=concurrency)` builds by itself; spelled out:")
    add("")
    add("```python")
    add("import httpx")
    add("import ivrflow")
    add("from ivrflow.transport.aiohttp_transport import SafeAiohttpTransport")
    add("from ivrflow.transport.vobiz import DEFAULT_TIMEOUT, VobizTransport")
    add("")
    add("limits = httpx.Limits(max_connections=concurrency, "
        "max_keepalive_connections=concurrency)")
    add("client = httpx.AsyncClient(")
    add("    base_url=api_url,")
    add("    headers={\"X-Auth-ID\": auth_id, \"X-Auth-Token\": auth_token,")
    add("             \"User-Agent\": f\"ivrflow/{ivrflow.__version__}\", "
        "\"Accept\": \"application/json\"},")
    add("    timeout=DEFAULT_TIMEOUT,")
    add("    transport=SafeAiohttpTransport(limits=limits),")
    add("    follow_redirects=False,")
    add(")")
    add("transport = VobizTransport(auth_id=auth_id, auth_token=auth_token, api_url=api_url,")
    add("                           client=client)")
    add("```")
    add("")
    if lib[100] < target_c100:
        add(f"The concurrency-100 target stays out of reach while httpx's client sits in the "
            f"path ({rate(hx_alone[100])}/s with no ivrflow at all). Meeting it means an "
            f"adapter on aiohttp's own client (the probe: {rate(probe[100])}/s), with the "
            "same outcome mapping as `SafeAiohttpTransport`; that trades httpx's API inside "
            "`VobizTransport` (the only module that sees HTTP) for the last "
            f"{probe[100] / lib[100]:.1f}x.")
        add("")

    # -- SDK notes ----------------------------------------------------------------------
    add("## Notes on the official SDK (vobiz-python "
        f"{machine['packages'].get('vobiz-python')})")
    add("")
    add("Read from its source in site-packages: `vobiz.RestClient` is "
        "`vobiz.rest.client.Client(auth_id, auth_token, proxies=None, timeout=5)`; "
        "`client.calls` is `vobiz.resources.calls_vobiz.Calls`, whose "
        "`send_digits(call_uuid, digits, leg)` (leg required) POSTs JSON "
        "`{\"digits\", \"leg\"}` to `{base_uri}/{auth_id}/Call/{call_uuid}/DTMF/` "
        "(PascalCase, though its docstring says lowercase) through one `requests.Session`. "
        "The base URL is the module constant `vobiz.rest.client.VOBIZ_API_BASE_URI` "
        "(`https://api.vobiz.ai/api/v1/Account`, including the path), read into "
        "`client.base_uri` when a client is made: the benchmark sets the constant to "
        "`{sandbox}/api/v1/Account` before making its clients, in its own process only. "
        "Importing `vobiz.rest.client` runs `dotenv.load_dotenv()`. The names are as "
        "documented: nothing had to be adapted.")
    add("")

    # -- commands -----------------------------------------------------------------------
    add("## Commands")
    add("")
    add("Run from the repository root with the virtualenv's Python; `run_all.py` runs each "
        "of these with `--json` and writes this file:")
    add("")
    add("```console")
    add("$ pip install -r bench/requirements.txt")
    for result in results.values():
        add(f"$ {result['_command']}    # {result['_seconds']:.0f} s")
    add("```")
    add("")
    add("Other work on the machine during each benchmark (CPU the machine spent on anything "
        "but the benchmark's own processes, and CPU stolen by the hypervisor, in cores; "
        "the machine has two): "
        + "; ".join(f"{name} {r['_other_cores']:.2f} / {r['_stolen_cores']:.2f}"
                    for name, r in results.items())
        + ". A figure measured while other work took a sizeable share of a core is "
        "pessimistic.")
    add("")
    return "\n".join(out)

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--raw", metavar="FILE",
                        help="also write every script's JSON (and the run's facts) to FILE")
    parser.add_argument("--from-raw", metavar="FILE",
                        help="measure nothing: write RESULTS.md again from a --raw FILE")
    args = parser.parse_args()
    if args.from_raw:
        saved = json.loads(Path(args.from_raw).read_text())
        meta = saved.pop("_meta")
        Path(args.output).write_text(render(saved, meta["machine"], meta["total"],
                                            meta["started"], meta["git"]))
        print(f"run_all: wrote {args.output} from {args.from_raw}", file=sys.stderr)
        return 0
    missing = [name for name in ("vobiz", "check_jsonschema", "uvloop")
               if importlib.util.find_spec(name) is None]
    if missing:
        print(f"run_all: missing {', '.join(missing)}: pip install -r bench/requirements.txt",
              file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    began = time.perf_counter()
    machine = benchlib.machine()
    source = git_state()
    quiet = Quiet()
    results: dict[str, dict[str, Any]] = {}
    for name, args_ in STEPS:
        quiet.wait(name)
        results[name] = run_step(name, args_)
    total = time.perf_counter() - began
    if args.raw:
        Path(args.raw).write_text(json.dumps({**results, "_meta": {
            "machine": machine, "total": total, "started": started, "git": source}},
            indent=1))
    Path(args.output).write_text(render(results, machine, total, started, source))
    print(f"run_all: wrote {args.output} in {total:.0f} s", file=sys.stderr)
    return 0

if __name__ == "__main__":
    sys.exit(main())
