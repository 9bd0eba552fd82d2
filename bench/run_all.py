"""Run every benchmark, one after the other, and write bench/RESULTS.md.

    pip install -r bench/requirements.txt      # benchmark-only packages, once
    python bench/run_all.py [--output bench/RESULTS.md] [--raw FILE] [--from-raw FILE]

Each benchmark runs as its own process (`python bench/NAME.py --json`), each against
sandboxes it starts in separate processes on 127.0.0.1, never two benchmarks at once.
Every step is bounded: each script bounds its loops in count and time (the throughput
runs are scaled by time, not by a fixed count), and this runner gives each step a time
limit too; a step that fails or runs out of time is reported in RESULTS.md as such and
the run goes on. The machine may be busy with other work (2 cores): before each step the
runner waits a bounded time for it to calm down, and beside every figure it records the
load averages and the cores other processes kept busy during that step.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
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

TARGET_CPU_RATIO = 2.5       # library's client CPU per send <= this x aiohttp alone, c=100
TARGET_C100_FACTOR = 3.0     # library sends/s at c=100 >= this x the SDK's 100 threads
TARGET_BURST_P99_MS = 10.0   # burst gap error p99, 300 and 1,000 calls, a core to itself
TARGET_SINGLE_P99_MS = 2.0   # one flow's gap error p99
TARGET_KIB_PER_FLOW = 64.0   # memory per waiting flow

# (name, script and arguments, time limit in seconds)
STEPS: list[tuple[str, list[str], float]] = [
    ("capacity", ["sandbox_throughput.py", "--requests", "20000", "--time-limit", "30"], 90),
    ("throughput", ["send_throughput.py", "--seconds", "2"], 420),
    ("errors", ["transport_errors.py"], 120),
    ("single", ["timing_accuracy.py"], 120),
    ("timing", ["concurrent_timing.py", "--gc-freeze", "--grace", "20"], 180),
    ("timing-httpx", ["concurrent_timing.py", "--flows", "1000", "--gc-freeze",
                      "--transport", "library-httpx", "--grace", "20"], 120),
    ("memory", ["flow_memory.py"], 150),
    ("validate", ["validate_speed.py"], 150),
    ("burst", ["burst_timing.py", "--calls", "300,1000", "--limit", "60", "--repeats", "2"],
     600),
    ("listen", ["listen_detection.py", "--prompts", "60"], 300),
    ("listen-e2e", ["listen_end_to_end.py", "--runs", "3"], 300),
]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


QUIET_CORES = 0.25   # other work above this during a step marks its figures
QUIET_WAIT = 90.0    # seconds, over the whole run, to wait for a busy machine to calm down


class Quiet:
    """Waits (a bounded time in all) before each benchmark for other work to stop."""

    def __init__(self) -> None:
        self.budget = QUIET_WAIT

    def wait(self, name: str) -> float:
        """Returns the cores other work was using when the step started."""
        said = False
        while True:
            busy0, _ = benchlib.cpu_busy()
            time.sleep(0.5)
            others = (benchlib.cpu_busy()[0] - busy0) / 0.5  # this process sleeps meanwhile
            if others <= QUIET_CORES or self.budget <= 0:
                return others
            if not said:
                print(f"run_all: {name}: other work is using {others:.2f} cores; waiting "
                      f"up to {self.budget:.0f} s for it to stop", file=sys.stderr)
                said = True
            self.budget -= 0.5


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "--no-optional-locks", *args], capture_output=True,
                              text=True, cwd=ROOT, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def source_state() -> dict[str, Any]:
    """The commit, and which files outside bench/ differ from it (read only)."""
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = sorted(line[3:] for line in git("status", "--porcelain").splitlines()
                   if not line[3:].startswith("bench/"))
    diff = git("diff", "HEAD", "--", ".", ":(exclude)bench")
    return {"commit": commit, "dirty": dirty,
            "fingerprint": commit + ("+" + hashlib.sha1(diff.encode()).hexdigest()[:8]
                                     if diff else "")}


def describe_source(state: dict[str, Any]) -> str:
    dirty = state["dirty"]
    if not dirty:
        return state["commit"]
    return (f"{state['commit']}, with uncommitted changes to {len(dirty)} file(s) outside "
            f"bench/ ({', '.join(dirty[:8])}{', ...' if len(dirty) > 8 else ''})")


def run_step(name: str, args: list[str], limit: float, quiet: Quiet) -> dict[str, Any]:
    command = [sys.executable, str(HERE / args[0]), *args[1:], "--json"]
    others_before = quiet.wait(name)
    print(f"run_all: {name}: python bench/{shlex.join(args)} (limit {limit:.0f} s) ...",
          file=sys.stderr, flush=True)
    source = source_state()
    load = benchlib.Load()
    ours0 = children_cpu()
    began = time.perf_counter()
    status = "ok"
    stdout = stderr = ""
    code: int | None = None
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              timeout=limit)
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        status = f"ran out of its {limit:.0f} s time limit and was stopped"
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    seconds = time.perf_counter() - began
    # CPU the machine spent on anything but this step (its processes, all waited for,
    # count in RUSAGE_CHILDREN), in cores: other work competing for the two cores.
    machine = load.done(children_cpu() - ours0)
    result: dict[str, Any] = {}
    try:
        result = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        result = {}
    if status == "ok" and code != 0:
        status = f"exited {code}" + ("" if result else " without a result")
    if status != "ok":
        sys.stderr.write(stderr[-3000:])
    print(f"run_all: {name}: {status if status != 'ok' else 'done'} in {seconds:.0f} s "
          f"(other work {machine['other_cores']:.2f} cores, load "
          f"{machine['loadavg_1m_after']:.2f})", file=sys.stderr, flush=True)
    result["_status"] = status
    result["_seconds"] = seconds
    result["_other_cores"] = machine["other_cores"]
    result["_other_cores_at_start"] = others_before
    result["_stolen_cores"] = machine["stolen_cores"]
    result["_loadavg"] = [machine["loadavg_1m_before"], machine["loadavg_1m_after"]]
    result["_source"] = source["fingerprint"]
    result["_command"] = f"python bench/{shlex.join(args)}"
    result["_stderr_tail"] = stderr[-1500:] if status != "ok" else ""
    return result


# -- formatting ------------------------------------------------------------------------


def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def load_of(r: dict[str, Any]) -> str:
    """The other load during a step, as shown beside its figures."""
    before, after = r.get("_loadavg", [0.0, 0.0])
    return (f"{r.get('_other_cores', 0.0):.2f} cores other work, load {before:.2f}"
            f"->{after:.2f}")


def measured(results: dict[str, dict[str, Any]], add: Any, name: str,
             title: str) -> dict[str, Any] | None:
    """A section's heading, then step `name`'s result, or None after saying it was not
    measured (and why)."""
    add(title)
    add("")
    if not ok_step(results, name):
        add(f"Not measured: {results.get(name, {}).get('_status', 'not run')}.")
        add("")
        return None
    return results[name]


def ok_step(results: dict[str, dict[str, Any]], name: str) -> bool:
    """Whether step `name` gave a result (a script prints its JSON only when done; one
    that exits 1 for a failed check, such as engines that disagree, still gives one)."""
    r = results.get(name) or {}
    return any(not key.startswith("_") for key in r)


def render(results: dict[str, dict[str, Any]], machine: dict[str, Any], total: float,
           started: str, source: str, sources: set[str]) -> str:
    out: list[str] = []
    add = out.append

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
            if r.get("_other_cores", 0.0) > QUIET_CORES}
    if busy:
        add("> **The machine was busy with other work** during " + ", ".join(
            f"{name} ({cores:.2f} cores)" for name, cores in busy.items())
            + " (of 2 cores; the runner waited up to "
            f"{QUIET_WAIT:.0f} s in all for it to calm down). Those figures are what a busy "
            "machine gives, pessimistic against a quiet one; each section shows the load "
            "beside its figures.")
        add("")
    failed = {name: r["_status"] for name, r in results.items() if r["_status"] != "ok"}
    if failed:
        add("> **Steps that did not complete:** " + "; ".join(
            f"{name}: {status}" for name, status in failed.items())
            + ". Their sections say so; no figure is made up for them.")
        add("")
    if len(sources) > 1:
        add(f"> The ivrflow source outside bench/ changed during the run ({len(sources)} "
            "different states; other work was going on in the repository): each step "
            "measured the code as it was when it started.")
        add("")

    engines = results.get("throughput", {})
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
    if engines.get("library"):
        add(f"| `library` | {engines['library']} (what `VobizTransport(...)` builds by "
            "default) |")
        add(f"| `library-httpx` | {engines['library_httpx']} |")
    add("| packages | " + ", ".join(f"{name} {version}" for name, version in
                                    machine["packages"].items()) + " |")
    add("")
    if ok_step(results, "capacity"):
        cap = results["capacity"]
        add(f"Sandbox capacity in this run (`{cap['_command']}`, aiohttp clients, "
            f"{cap['concurrency']} connections): **{rate(cap['rate'])} DTMF requests/s**, "
            f"{sum(cap['errors'].values())} errors ({load_of(cap)}). Every client below "
            "shares the machine with the sandbox: on 2 cores, a client flat out has one.")
        add("")

    targets(results, add)
    engines_section(results, add)
    errors_section(results, add)
    burst_section(results, add)
    single_section(results, add)
    many_section(results, add)
    memory_section(results, add)
    validate_section(results, add)
    listen_section(results, add)
    notes(results, machine, add)
    return "\n".join(out)


def tp_rows(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return results["throughput"]["rows"] if ok_step(results, "throughput") else {}


def burst_rows(results: dict[str, dict[str, Any]], calls: int, core_taken: bool,
               output: str | None = None) -> list[dict[str, Any]]:
    """The burst runs of `calls` calls (every repeat), of one output or of both."""
    if not ok_step(results, "burst"):
        return []
    return [row for row in results["burst"]["rows"]
            if row["calls"] == calls and row["core_taken"] == core_taken
            and (output is None or row["output"] == output)]


def burst_p99(row: dict[str, Any] | None) -> float | None:
    if row is None or row["gap_error_ms"] is None:
        return None
    return float(row["gap_error_ms"]["p99"])


def targets(results: dict[str, dict[str, Any]], add: Any) -> None:
    tp = tp_rows(results)
    add("## Targets")
    add("")
    add("`library` is `VobizTransport(...)` as a user builds it: its default engine, aiohttp "
        "asked directly. Each row's last column is the other work on the machine while "
        "that figure was measured.")
    add("")
    add("| target | measured | verdict | other load |")
    add("|---|---|---|---|")
    if tp:
        lib, floor = tp["library c=100"], tp["aiohttp alone c=100"]
        ratio = lib["cpu_us_per_send"] / floor["cpu_us_per_send"]
        pairs = results["throughput"].get("cpu_ratio_c100_pairs") or []
        add(f"| client CPU per send at concurrency 100: library <= {TARGET_CPU_RATIO:g}x "
            f"aiohttp's ClientSession alone | {lib['cpu_us_per_send']:.0f} µs vs "
            f"{floor['cpu_us_per_send']:.0f} µs: **{ratio:.2f}x**"
            + (f" (run by run {min(pairs):.2f}-{max(pairs):.2f}x)" if pairs else "") + " | "
            f"{verdict(ratio <= TARGET_CPU_RATIO)} | {load_of(results['throughput'])} |")
        pool = tp.get("vobiz-python 100 threads, shared client")
        if pool:
            factor = lib["median"] / pool["median"]
            add(f"| sends/s at concurrency 100 >= {TARGET_C100_FACTOR:g}x the SDK's 100-thread "
                f"pool | {rate(lib['median'])}/s vs {rate(pool['median'])}/s: "
                f"**{factor:.2f}x** | {verdict(factor >= TARGET_C100_FACTOR)} | "
                f"{load_of(results['throughput'])} |")
        else:
            add(f"| sends/s at concurrency 100 >= {TARGET_C100_FACTOR:g}x the SDK's 100-thread "
                f"pool | not measured: {results['throughput'].get('sdk_missing')} | n/a | |")
    else:
        add(f"| client CPU per send, sends/s vs the SDK | not measured: throughput "
            f"{results.get('throughput', {}).get('_status', 'not run')} | n/a | |")
    for calls in (300, 1000):
        runs = burst_rows(results, calls, False)
        p99s = [burst_p99(r) for r in runs]
        worst = None if not runs or None in p99s else max(p for p in p99s if p is not None)
        complete = bool(runs) and all(r["complete_calls"] == r["calls"] and r["exit_code"] == 0
                                      for r in runs)
        taken = ", ".join(ms(burst_p99(r)) for r in burst_rows(results, calls, True))
        shown = "; ".join(f"`{r['output']}` **{ms(p)}**" for r, p in zip(runs, p99s,
                                                                        strict=True))
        others = [r["load"]["other_cores"] for r in runs]
        add(f"| burst of {calls:,} synchronized calls (`ivrflow run --calls`): p99 gap error "
            f"<= {TARGET_BURST_P99_MS:g} ms, a core to itself (every run of it) | "
            + (f"{shown} ms (with a core taken: {taken} ms)" if runs else "not measured")
            + " | " + verdict(None if worst is None
                              else worst <= TARGET_BURST_P99_MS and complete)
            + " | " + (f"{min(others):.2f}-{max(others):.2f} cores other work over its "
                       f"{len(runs)} runs" if runs else "") + " |")
    if ok_step(results, "single"):
        single = results["single"]
        p99 = single["gap_error_ms"]["p99"]
        add(f"| one flow, 251 sends 40 ms apart: p99 gap error <= {TARGET_SINGLE_P99_MS:g} ms "
            f"| **{ms(p99)} ms** | {verdict(p99 <= TARGET_SINGLE_P99_MS)} | "
            f"{load_of(single)} |")
    if ok_step(results, "memory"):
        mem = results["memory"]["rows"]
        worst = max(row["per_flow_bytes"] for row in mem.values()) / 1024
        add(f"| <= {TARGET_KIB_PER_FLOW:g} KiB per waiting flow (1,000 flows) | "
            + "; ".join(f"{row['case']}: {row['per_flow_bytes'] / 1024:.1f} KiB"
                        for row in mem.values())
            + f" | {verdict(worst <= TARGET_KIB_PER_FLOW)} | {load_of(results['memory'])} |")
    if ok_step(results, "errors"):
        err = results["errors"]
        add(f"| both engines give the same outcome for every fault case, and a dropped send "
            f"plays once | {sum(err['agree'].values())} of {len(err['agree'])} cases agree; "
            f"dropped send played "
            + ", ".join(f"{row['heard']}x ({name})" for name, row in err["drop_flow"].items())
            + f" | {verdict(err['all_agree'] and err['drop_played_once'])} | "
            f"{load_of(err)} |")
    if ok_step(results, "validate"):
        val = results["validate"]["rows"]
        iv, cj = val["ivrflow validate"], val["check-jsonschema"]
        add(f"| `ivrflow validate` faster than check-jsonschema (200 files) | "
            f"{iv['seconds']:.2f} s vs {cj['seconds']:.2f} s | "
            f"{verdict(iv['seconds'] < cj['seconds'])} | {load_of(results['validate'])} |")
    if ok_step(results, "listen"):
        ld = results["listen"]
        lat, met = ld["prompt_end_latency_ms"], ld["met"]
        add(f"| prompt-end latency p99 <= silence + 100 ms, no false end ({ld['prompts']} "
            f"prompts) | p99 {lat['p99']:.0f} ms (<= {ld['target_p99_ms']:.0f}), "
            f"{ld['false_ends']} false ends | {verdict(met['latency'] and met['false_ends'])}"
            f" | {load_of(ld)} |")
        add(f"| >= 95 % of phrases heard, no false hit | {ld['phrase_hits']}/{ld['prompts']}"
            f", {ld['false_hits']} false hits | {verdict(met['hit_rate'] and met['false_hits'])}"
            f" | {load_of(ld)} |")
        add(f"| CPU per listening call: VAD <= 1 %, with recognition <= 10 % of a core | "
            f"{ld['cpu_vad_per_audio_second']:.2%}, {ld['cpu_listen_per_audio_second']:.2%} | "
            f"{verdict(met['cpu_vad'] and met['cpu_listen'])} | {load_of(ld)} |")
    if ok_step(results, "listen-e2e"):
        le = results["listen-e2e"]
        add(f"| end to end on the sandbox: every key after its prompt ended, within silence "
            f"+ 150 ms | {le['keys_after_prompt_end']} keys, "
            f"{le['late_ms_min']}-{le['late_ms_max']} ms after silence, "
            f"{le['keys_before_speech_end']} early | {verdict(le['target_met'])} | "
            f"{load_of(le)} |")
    add("")
    why(results, add)


def rank_from_top(n: int) -> str:
    """Which value from the top benchlib.percentile(values, 0.99) picks among n."""
    k = n - min(n - 1, round(0.99 * (n - 1)))
    return {1: "largest", 2: "second largest", 3: "third largest"}.get(k, f"{k}th largest")


def load_of_row(row: dict[str, Any]) -> str:
    load = row["load"]
    return (f"{load['other_cores']:.2f} cores other work, load "
            f"{load['loadavg_1m_before']:.2f}->{load['loadavg_1m_after']:.2f}")


def why(results: dict[str, dict[str, Any]], add: Any) -> None:
    """Causes, for every target missed or close, from this run's figures."""
    lines: list[str] = []
    tp = tp_rows(results)
    if tp:
        lib, floor = tp["library c=100"], tp["aiohttp alone c=100"]
        pool = tp.get("vobiz-python 100 threads, shared client")
        cap = results["capacity"]["rate"] if ok_step(results, "capacity") else None
        other = results["throughput"]["_other_cores"]
        text = (f"**Concurrency 100.** The library spends "
                f"{lib['cpu_us_per_send'] - floor['cpu_us_per_send']:.0f} µs of client CPU a "
                "send more than aiohttp's bare ClientSession (the interpreter's step "
                "records, events and timeline, the bounded read of the answer, the outcome "
                "rules).")
        if pool:
            need = pool["median"] * TARGET_C100_FACTOR
            budget = 1e6 / need
            text += (f" {TARGET_C100_FACTOR:g}x the SDK's pool is {rate(need)}/s, a budget of "
                     f"{budget:.0f} µs of client CPU a send on one core; the library spent "
                     f"{lib['cpu_us_per_send']:.0f} µs.")
            if lib["median"] < need and lib["cpu_us_per_send"] <= budget:
                text += (f" So the client's CPU was not what held it back: the library's "
                         f"process used {lib['client_cores']:.2f} of a core (aiohttp alone "
                         f"{floor['client_cores']:.2f}), and the runs ranged "
                         f"{rate(lib['min'])}-{rate(lib['max'])}/s. The other side set the "
                         "pace: the sandbox, a Python process sharing the two cores with the "
                         "client and the other work"
                         + (f" (it answered {rate(cap)} requests/s at best in this run, to "
                            "bare aiohttp clients)" if cap else "")
                         + f", with {other:.2f} cores of other work on the machine during "
                         "the step. At the library's CPU per send, one core would carry "
                         f"{rate(1e6 / lib['cpu_us_per_send'])} sends/s, above the target "
                         "(arithmetic, not a measurement).")
            uv = tp.get("library + uvloop c=100")
            if uv:
                text += (f" On uvloop the library made {rate(uv['median'])}/s "
                         f"({uv['median'] / pool['median']:.2f}x, "
                         f"{uv['cpu_us_per_send']:.0f} µs a send).")
        lines.append(text)
        hx = tp.get("library-httpx c=100")
        raw_hx = tp.get("httpx alone c=100")
        if hx and raw_hx:
            lines.append(
                f"**The httpx engine at concurrency 100** ({rate(hx['median'])}/s, "
                f"{hx['cpu_us_per_send']:,.0f} µs CPU a send) is httpx's own doing: httpx "
                f"alone, with no ivrflow, gives {rate(raw_hx['median'])}/s "
                f"({raw_hx['cpu_us_per_send']:,.0f} µs). httpcore's pool re-examines every "
                "connection for every waiting request each time one changes state "
                "(`_assign_requests_to_connections`), so its cost per request grows with the "
                "pool; at concurrency 1 it is "
                f"{rate(tp['library-httpx c=1']['median'])}/s. It stays the engine for "
                "proxies and custom clients, not for large batches.")
    for calls in (300, 1000):
        runs = burst_rows(results, calls, False)
        over = [r for r in runs if (burst_p99(r) or 0.0) > TARGET_BURST_P99_MS]
        if not over:
            continue
        said = []
        for row in over:
            fin = row.get("batch_finished")
            if fin:
                pacing = (f"slot {(fin.get('start_slot') or 0) * 1000:.1f} ms at the end, "
                          f"worst start {(fin.get('start_lateness') or 0) * 1000:.0f} ms "
                          "after its slot")
            else:
                warned = [line for line in row.get("summary_lines", []) if "keep up" in line]
                pacing = "the CLI warned: \"" + warned[0] + "\"" if warned else \
                    "no warning from the CLI"
            said.append(f"`{row['output']}` run {row.get('repeat', 0) + 1}: p99 "
                        f"{ms(burst_p99(row))} ms with {row['load']['other_cores']:.2f} cores "
                        f"of other work ({pacing})")
        good = [r for r in runs if r not in over]
        lines.append(
            f"**Burst of {calls:,} calls:** {len(over)} of {len(runs)} runs over "
            f"{TARGET_BURST_P99_MS:g} ms: " + "; ".join(said) + "."
            + (" The other runs: " + ", ".join(
                f"{ms(burst_p99(r))} ms ({r['load']['other_cores']:.2f} cores other work)"
                for r in good) + "." if good else "")
            + " With other work on the machine the CLI and the sandbox do not each have a "
            "core to themselves: a send due while the CLI's loop waits for the CPU goes out "
            "late by that wait, and the arrival stamps are the sandbox's, a Python process "
            "on the same two cores.")
    for calls in (300, 1000):
        taken_rows = burst_rows(results, calls, True)
        row = max(taken_rows, key=lambda r: burst_p99(r) or 0.0, default=None)
        p99 = burst_p99(row)
        if row is not None and p99 is not None:
            fin = row.get("batch_finished") or {}
            lines.append(
                f"**{calls:,} calls with a core taken:** p99 up to {ms(p99)} ms: three busy "
                "processes (the CLI, the sandbox, the burner) on two cores, so each gets "
                "the CPU in scheduler time slices, and a send due while the CLI (or the "
                "sandbox, which stamps the arrival) waits for its slice is late by that "
                f"wait. The pacing slot was {(fin.get('start_slot') or 0) * 1000:.1f} ms at "
                f"the end, spreading the starts over {fin.get('start_spread')} s.")
    if ok_step(results, "timing"):
        row = results["timing"]["rows"].get("1000")
        if row and row["gap_error_ms"] and row["gap_error_ms"]["p99"] > TARGET_BURST_P99_MS:
            lines.append(
                f"**1,000 `run_flow` tasks in one process** (section 5): p99 "
                f"{ms(row['gap_error_ms']['p99'])} ms, with "
                f"{results['timing']['_other_cores']:.2f} cores of other work during the "
                "step: sends that fall due while the loop waits for the CPU go out "
                "together, late.")
    if ok_step(results, "timing-httpx"):
        row = results["timing-httpx"]["rows"].get("1000")
        if row and row["finished"] < row["flows"]:
            lines.append(
                f"**library-httpx at 1,000 flows** fell behind the planned 400 sends/s: "
                f"{row['finished']:,} of {row['flows']:,} flows finished within 20 s of the "
                "plan's end (the rest were cancelled). httpx's pool cost per request grows "
                "with the connections it holds (section 1), so a backlog feeds itself.")
    if ok_step(results, "single"):
        single = results["single"]
        if single["gap_error_ms"]["p99"] > TARGET_SINGLE_P99_MS:
            g = single["gap_error_ms"]
            lines.append(
                f"**One flow:** p99 {ms(g['p99'])} ms (by nearest rank the "
                f"{rank_from_top(g['n'])} of {g['n']} gaps), max {ms(g['max'])} ms, p50 "
                f"{ms(g['p50'])} ms, with "
                f"{single['_other_cores']:.2f} cores of other work during the step. So a "
                "handful of single late arrivals decide it, not a drift. This run does not "
                "tell a late wake-up of the client from a late stamp by the sandbox (a "
                "Python process with its own loop and collector, on the same two cores).")
    if lines:
        add("Why, where a target is missed or close:")
        add("")
        for line in lines:
            add(f"- {line}")
        add("")


def engines_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    add("## 1. The engines side by side: sends per second and client CPU per send")
    add("")
    th = results.get("throughput", {})
    tp = tp_rows(results)
    if not tp:
        add(f"Not measured: {th.get('_status', 'not run')}.")
        add("")
        return
    pool = tp.get("vobiz-python 100 threads, shared client")
    add(f"Zero-wait sends of \"1\" (`{th['_command']}`): each timed run lasts about "
        f"{th['seconds_per_run']:g} s (the number of sends is set from an uncounted "
        "warm-up of 300, so a slow client takes as long as a fast one), median of "
        f"{th['repeats']} runs, min-max in brackets; the compared groups (library, "
        "aiohttp alone and the SDK's pool at 100; library and the SDK's loop at 1) get "
        f"{th['repeats'] + 2} runs each, in alternation. ivrflow at concurrency C: C flows "
        "of steps `send: '1'` (tone 0) under `asyncio.gather`, one shared "
        "`VobizTransport` with a pool of C, its connections opened before the clock "
        "starts. CPU per send: the client process's CPU time (`time.process_time()`, all "
        "its threads; the sandbox is another process) over the run, per send. Client "
        "cores: that CPU per wall second. Sandbox: "
        f"`{th['sandbox']}`; it heard {th['heard']:,} of {th['expected_heard']:,} sends. "
        f"Other load during the step: {load_of(th)}.")
    add("")
    if th.get("sdk_missing"):
        add(f"The official SDK was **not measured**: {th['sdk_missing']}.")
        add("")
    add("| client | sends/s | CPU per send | client cores | vs SDK 100 threads |")
    add("|---|---|---|---|---|")
    order = ["library c=1", "library c=100", "library-httpx c=1", "library-httpx c=100",
             "library + uvloop c=1", "library + uvloop c=100", "aiohttp alone c=1",
             "aiohttp alone c=100", "httpx alone c=1", "httpx alone c=100",
             "vobiz-python loop", "vobiz-python 100 threads, shared client",
             "vobiz-python 100 threads, client per thread"]
    for label in order + [k for k in tp if k not in order]:
        row = tp.get(label)
        if row is None:
            continue
        vs = f"{row['median'] / pool['median']:.2f}x" if pool else "n/a"
        add(f"| {label} | **{rate(row['median'])}** ({rate(row['min'])}-{rate(row['max'])})"
            f" | {row['cpu_us_per_send']:,.0f} µs | {row['client_cores']:.2f} | {vs} |")
    add("")
    lib, floor = tp["library c=100"], tp["aiohttp alone c=100"]
    add(f"**CPU per send at concurrency 100, same run:** library "
        f"{lib['cpu_us_per_send']:.0f} µs, aiohttp's ClientSession alone "
        f"{floor['cpu_us_per_send']:.0f} µs: **{th['cpu_ratio_c100']:.2f}x** (target <= "
        f"{TARGET_CPU_RATIO:g}x). Per run: library "
        + ", ".join(f"{v:.0f}" for v in lib["cpu_us_runs"]) + " µs; aiohttp alone "
        + ", ".join(f"{v:.0f}" for v in floor["cpu_us_runs"]) + " µs"
        + ("; the ratio run by run (the two alternate, so each pair shares the machine's "
           "state): " + ", ".join(f"{r:.2f}x" for r in th["cpu_ratio_c100_pairs"])
           if th.get("cpu_ratio_c100_pairs") else "") + ".")
    add("")
    add("- `library`: `VobizTransport(max_connections=C)`, the default engine (aiohttp asked "
        "directly, ivrflow/transport/aiohttp_engine.py). `library-httpx`: the same with "
        "`engine=\"httpx\"`, an `httpx.AsyncClient` over httpx's own transport (httpcore), "
        "ivrflow/transport/httpx_engine.py.")
    add("- `aiohttp alone` and `httpx alone`: the same DTMF POST from C workers through the "
        "bare client, no ivrflow (bench/transports.py): what each engine builds on.")
    add("- The SDK's `requests.Session` keeps at most 10 connections, so 100 threads "
        "sharing one client open and close the rest per request; the targets use the "
        "shared client, the SDK's own usage.")
    add("")


def errors_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    err = measured(results, add, "errors", "## 2. The two engines against every fault")
    if err is None:
        return
    add("`VobizTransport.send_digits` on each engine, a fresh transport per case "
        f"(`{err['_command']}`; {load_of(err)}). Transient = nothing delivered, a retry is "
        "allowed; Unknown = the digits may have played, never resent. The whole outcome "
        "(class, status, reason, Retry-After, the API's detail) is compared:")
    add("")
    add("| case | library (aiohttp) | library-httpx | same? |")
    add("|---|---|---|---|")
    for case, by in err["cases"].items():
        cells = [f"{by[name]['kind']}: {by[name]['message']}" for name in
                 ("library", "library-httpx")]
        add(f"| {case} | {cells[0]} | {cells[1]} | "
            f"{'yes' if err['agree'][case] else '**no**'} |")
    add("")
    add("End to end, a flow `send: '1'` with `retry: {attempts: 3}` against "
        "`python -m ivrflow.sandbox --drop 1` (the first DTMF request is read in full, then "
        "the connection is closed unanswered):")
    add("")
    for name, row in err["drop_flow"].items():
        add(f"- {name}: outcome `{row['outcome']}` after {row['attempts']} attempt(s); the "
            f"sandbox played the digits **{row['heard']} time(s)**.")
    add("")


def burst_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    burst = measured(results, add, "burst",
                     "## 3. A burst of synchronized calls through the command line")
    if burst is None:
        return
    add(f"N calls in a calls file, all live from their first request, each running "
        f"`send \"1\", wait 1s, send \"${{acct}}#\", wait 1s, send \"2\"` (tone "
        f"{burst['tone']:g}, `acct` 8 digits; planned sends at "
        f"{', '.join(f'{s:g}' for s in burst['planned_sends'])} s from `ivrflow plan`), "
        f"started as a user starts them: `{burst['command']}` in a subprocess, with "
        f"VOBIZ_API_URL and the credentials pointing at `{burst['sandbox']}` in another "
        "process, a fresh one per run. The batch's default concurrency (1,000) lets all N "
        "run at once. Gap error = |gap between a call's consecutive DTMF arrivals at the "
        "sandbox (its log's monotonic stamps) - the planned gap|, over all 2 N gaps. "
        "\"core taken\": `python -c \"while True: pass\"` burned a core throughout. The "
        "human runs (`-q`, no `--json`) show the summary lines a user reads. Every run is "
        f"bounded to {burst['limit_s']:g} s; each measurement was taken "
        f"{burst.get('repeats', 1)} time(s), in turn. Other work: the cores other processes kept "
        "busy during that run (the burner not counted), and the 1-minute load average.")
    add("")
    add("| calls | machine | output | run | gap error p50 / p99 / max (ms) | p99 1st / 2nd "
        "gap | first sends spread | pacing (`batch_finished`) | CLI CPU | exit | other work |")
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in burst["rows"]:
        g = row["gap_error_ms"]
        fin = row.get("batch_finished")
        pacing = "see below" if fin is None else (
            f"slot {fin.get('start_slot', 0) * 1000:.1f} ms, spread "
            f"{fin.get('start_spread')} s, lateness {fin.get('start_lateness')} s")
        per_gap = " / ".join(ms(s["p99"]) if s else "n/a" for s in row["gap_error_ms_by_gap"])
        gap = ("no complete call" if g is None else
               f"{ms(g['p50'])} / **{ms(g['p99'])}** / {ms(g['max'])}")
        exit_text = "timed out" if row["timed_out"] else str(row["exit_code"])
        if row["complete_calls"] != row["calls"]:
            exit_text += f" ({row['complete_calls']}/{row['calls']} complete)"
        spread = row["first_send_spread_ms"]
        add(f"| {row['calls']:,} | {'core taken' if row['core_taken'] else 'as it was'} | "
            f"`{row['output']}` | {row.get('repeat', 0) + 1} | {gap} | {per_gap} | "
            f"{'n/a' if spread is None else f'{spread / 1000:.2f} s'} | {pacing} | "
            f"{row['cli_cpu_s']:.2f} s | {exit_text} | {load_of_row(row)} |")
    add("")
    humans = [row for row in burst["rows"] if row.get("summary_lines")]
    if humans:
        add("The CLI's own summary lines (human output, `-q`):")
        add("")
        for row in humans:
            add(f"{row['calls']:,} calls, run {row.get('repeat', 0) + 1}:")
            add("")
            add("```text")
            for line in row["summary_lines"]:
                add(line)
            add("```")
            add("")
    add("Pacing spreads the starts (ivrflow/engine/pacing.py) so that each round of sends "
        "goes out one by one; the calls then start up to the spread later than asked, "
        "while each keeps its own gaps.")
    add("")


def single_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    single = measured(results, add, "single", "## 4. One flow's timing")
    if single is None:
        return
    g, late = single["gap_error_ms"], single["lateness_ms"]
    add(f"`{single['_command']}`: one flow, {single['sends']} sends pinned "
        f"{single['interval_s'] * 1000:.0f} ms apart with `wait: {{until: T}}`, engine "
        f"{single['engine']}, against `{single['sandbox']}` in another process "
        f"({load_of(single)}).")
    add("")
    add("| gap error p50 / p99 / max | lateness p50 / p99 / max | single long waits, late by |")
    add("|---|---|---|")
    add(f"| {ms(g['p50'])} / **{ms(g['p99'])}** / {ms(g['max'])} ms | {ms(late['p50'])} / "
        f"{ms(late['p99'])} / {ms(late['max'])} ms | "
        + ", ".join(f"{w} s: {v:.3f} ms" for w, v in single["long_waits_late_ms"].items())
        + " |")
    add("")
    add("Lateness is arrival - planned instant, so it includes the request's own latency. "
        f"The p99 of {g['n']} gaps is, by nearest rank, the {rank_from_top(g['n'])}.")
    add("")


def many_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    timing = measured(results, add, "timing", "## 5. Many flows in one process (`run_flow` tasks)")
    if timing is None:
        return
    add(f"N flows of {timing['sends_per_flow']} sends of \"1\", every send pinned with "
        "`wait: {until: T}` (T = 1 s + k I), `run_flow` tasks under `asyncio.gather` "
        "over ONE shared `VobizTransport` with `max_connections=N`, `gc.freeze()` once "
        "set up (as `ivrflow run --calls` does). Each flow's sends are I apart and the N "
        f"flows start staggered evenly across I: together {timing['rate']:.0f} sends/s. "
        "Arrival times are the sandbox log's `monotonic`. Flows still running 20 s past "
        "the plan's end are cancelled and left out of the gaps.")
    add("")
    add("| engine | flows | I | gap error p50 / p99 / max (ms) | lateness p50 / p99 / max "
        "(ms) | longest GC pause | connections | finished | other work |")
    add("|---|---|---|---|---|---|---|---|---|")
    steps = [("library", results["timing"])]
    if ok_step(results, "timing-httpx"):
        steps.append(("library-httpx", results["timing-httpx"]))
    for engine, step in steps:
        for row in step["rows"].values():
            g, late = row["gap_error_ms"], row["lateness_ms"]
            gap = "none finished" if g is None else \
                f"{ms(g['p50'])} / **{ms(g['p99'])}** / {ms(g['max'])}"
            lat = "" if late is None else \
                f"{ms(late['p50'])} / {ms(late['p99'])} / {ms(late['max'])}"
            add(f"| {engine} | {row['flows']:,} | {row['interval_s'] * 1000:.0f} ms | {gap} | "
                f"{lat} | {ms(row['gc']['longest_ms'])} ms | {row['connections']} | "
                f"{row['finished']:,} of {row['flows']:,} | {load_of(step)} |")
    if not ok_step(results, "timing-httpx"):
        add("")
        add(f"library-httpx at 1,000 flows: "
            f"{results.get('timing-httpx', {}).get('_status', 'not run')}.")
    add("")


def memory_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    memory = measured(results, add, "memory", "## 6. Memory per waiting flow")
    if memory is None:
        return
    add(f"Resident set size (`/proc/self/statm`) of a fresh process, after setup and "
        f"garbage collection, then with {memory['flows']:,} `run_flow` tasks all in a "
        "10-minute wait (collected again); per flow = the difference / flows. All flows "
        f"are then cancelled and each ends `interrupted` ({load_of(memory)}).")
    add("")
    add("| case | per flow | RSS before -> with the flows waiting | connections opened |")
    add("|---|---|---|---|")
    labels = {"idle": "waiting, nothing sent yet (library)",
              "sent": "each sent once first, all at the same instant (library)",
              "sent-library-httpx": "each sent once first (library-httpx)"}
    for row in memory["rows"].values():
        add(f"| {labels.get(row['case'], row['case'])} | **{row['per_flow_bytes'] / 1024:.1f}"
            f" KiB** | {row['rss_before'] / 2**20:.1f} -> {row['rss_after'] / 2**20:.1f} MiB "
            f"| {row['connections_opened']} |")
    add("")
    add("After a simultaneous first send, the figure also holds what the burst of requests "
        "in flight left allocated and the pool's connections: aiohttp opens one per "
        "request in flight (up to the pool size), httpx's pool served the same burst "
        "through a handful.")
    add("")


def validate_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    vd = measured(results, add, "validate", "## 7. `ivrflow validate` against check-jsonschema")
    if vd is None:
        return
    add(f"{vd['files']} generated, varied, valid flow files ({vd['steps']:,} steps, "
        f"{vd['bytes'] / 1024:.0f} KiB; `bench/validate_speed.py`, seeded), each command "
        f"a fresh process as a user runs it, alternating, median of {vd['repeats']} runs "
        f"({load_of(vd)}):")
    add("")
    add("| command | 200 files | one file (start-up) | per further file |")
    add("|---|---|---|---|")
    for name, row in vd["rows"].items():
        add(f"| `{vd['commands'][name]}` | **{row['seconds']:.3f} s** "
            f"({row['min']:.3f}-{row['max']:.3f}) | {row['one_file']:.3f} s | "
            f"{row['per_file_ms']:.2f} ms |")
    add("")
    add("check-jsonschema does less: the JSON Schema only, with no located YAML-trap checks, "
        "no check of `${var}` references, regular expressions, unit limits or the "
        "timeline against the flow's timeout.")
    add("")


def listen_section(results: dict[str, dict[str, Any]], add: Any) -> None:
    ld = measured(results, add, "listen", "## 8. Listening: detection on synthesized menus")
    if ld is not None:
        lat = ld["prompt_end_latency_ms"]
        add(f"`{ld['_command']}` ({load_of(ld)}): {ld['prompts']} seeded menus spoken by "
            f"espeak-ng ({ld['voice']}, {ld['audio_seconds']:.0f} s of audio), with "
            f"{ld['inner_pauses_s']['n']} inner pauses of "
            f"{ld['inner_pauses_s']['min']:.2f}-{ld['inner_pauses_s']['max']:.2f} s and line "
            "noise, through the stream path in turn as "
            + ", ".join(ld["formats"]) + ".")
        add("")
        add("| measure | figure |")
        add("|---|---|")
        add(f"| prompt-end latency (silence {ld['silence_s']} s) | p50 {lat['p50']:.0f} ms, "
            f"p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms |")
        add(f"| false ends inside a pause shorter than the silence | {ld['false_ends']} |")
        add(f"| expected phrases heard | {ld['phrase_hits']}/{ld['prompts']} |")
        add(f"| false hits on other menus' prompts | {ld['false_hits']}/"
            f"{ld['false_hit_prompts']} |")
        add(f"| CPU per second of audio: VAD alone, with recognition | "
            f"{ld['cpu_vad_per_audio_second']:.2%}, {ld['cpu_listen_per_audio_second']:.2%} "
            f"(one core: about {ld['listening_calls_per_core']} listening calls) |")
        add(f"| renumbered menus still heard as the old phrase (a known limit) | "
            f"{ld['renumbered_heard_as_expected']}/{ld['renumbered_prompts']} |")
        add("")
    le = measured(results, add, "listen-e2e",
                  "## 9. Listening end to end: `ivrflow run --sandbox` on a recipe that listens")
    if le is not None:
        add(f"`{le['_command']}` ({load_of(le)}): {le['flow']} run {le['runs']} times "
            "through the CLI, the sandbox speaking its menu over a real WebSocket on "
            f"loopback; exit codes {le['exit_codes']}.")
        add("")
        add(f"- Keys after a wait that ends with its prompt: {le['keys_after_prompt_end']}; "
            f"arrival minus (true end of speech + silence): p50 {le['late_ms_p50']} ms, "
            f"{le['late_ms_min']}-{le['late_ms_max']} ms (target: 0-150 ms); "
            f"{le['keys_before_speech_end']} before their prompt's speech ended.")
        add(f"- Keys after a `barge: true` wait: {le['barge_keys']}, arriving "
            f"{', '.join(str(x) for x in le['barge_s_into_prompt'])} s into their prompt.")
        add(f"- CPU of each run (ivrflow and its in-process sandbox): "
            f"{le['run_cpu_share']:.1%} of a core.")
        add("")


def notes(results: dict[str, dict[str, Any]], machine: dict[str, Any], add: Any) -> None:
    sdk = machine["packages"].get("vobiz-python")
    add(f"## Notes on the official SDK (vobiz-python {sdk})")
    add("")
    if sdk == "not installed":
        add("The SDK was not installed for this run, so none of its rows were measured "
            "(`pip install -r bench/requirements.txt`).")
    else:
        add("`vobiz.RestClient` is `vobiz.rest.client.Client(auth_id, auth_token, "
            "proxies=None, timeout=5)`; `client.calls.send_digits(call_uuid, digits, leg)` "
            "POSTs JSON `{\"digits\", \"leg\"}` to `{base_uri}/{auth_id}/Call/{call_uuid}"
            "/DTMF/` through one `requests.Session`. The base URL is the module constant "
            "`vobiz.rest.client.VOBIZ_API_BASE_URI`, read when a client is made: the "
            "benchmark sets it to `{sandbox}/api/v1/Account` before making its clients, in "
            "its own process only.")
    add("")
    add("## Commands")
    add("")
    add("Run from the repository root with the virtualenv's Python; `run_all.py` runs each "
        "of these with `--json` and writes this file:")
    add("")
    add("```console")
    add("$ pip install -r bench/requirements.txt")
    for result in results.values():
        add(f"$ {result['_command']}    # {result['_seconds']:.0f} s, {result['_status']}")
    add("```")
    add("")
    add("Other work on the machine during each step (CPU the machine spent on anything but "
        "the step's own processes, in cores, of two; CPU stolen by the hypervisor; the "
        "1-minute load average at its start and end; other work when it started, after "
        "the bounded wait for quiet):")
    add("")
    add("| step | other work | stolen | load average | other work at start |")
    add("|---|---|---|---|---|")
    for name, r in results.items():
        add(f"| {name} | {r['_other_cores']:.2f} cores | {r['_stolen_cores']:.2f} | "
            f"{r['_loadavg'][0]:.2f} -> {r['_loadavg'][1]:.2f} | "
            f"{r['_other_cores_at_start']:.2f} |")
    add("")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--raw", metavar="FILE",
                        help="also write every script's JSON (and the run's facts) to FILE")
    parser.add_argument("--from-raw", metavar="FILE",
                        help="measure nothing: write RESULTS.md again from a --raw FILE")
    parser.add_argument("--only", metavar="STEPS",
                        help="comma-separated step names to run (for trying the runner; "
                             "RESULTS.md then lacks the others)")
    args = parser.parse_args()
    if args.from_raw:
        saved = json.loads(Path(args.from_raw).read_text())
        meta = saved.pop("_meta")
        Path(args.output).write_text(render(saved, meta["machine"], meta["total"],
                                            meta["started"], meta["git"],
                                            set(meta.get("sources", []))))
        print(f"run_all: wrote {args.output} from {args.from_raw}", file=sys.stderr)
        return 0
    missing = [name for name in ("vobiz", "check_jsonschema", "uvloop")
               if importlib.util.find_spec(name) is None]
    if missing:
        print(f"run_all: missing {', '.join(missing)}: pip install -r bench/requirements.txt"
              " (the steps that need them report what they could not measure)",
              file=sys.stderr)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    began = time.perf_counter()
    machine = benchlib.machine()
    source = describe_source(source_state())
    quiet = Quiet()
    only = set(args.only.split(",")) if args.only else None
    results: dict[str, dict[str, Any]] = {}
    for name, step_args, limit in STEPS:
        if only is None or name in only:
            results[name] = run_step(name, step_args, limit, quiet)
    total = time.perf_counter() - began
    sources = {r["_source"] for r in results.values()}
    if args.raw:
        Path(args.raw).write_text(json.dumps({**results, "_meta": {
            "machine": machine, "total": total, "started": started, "git": source,
            "sources": sorted(sources)}}, indent=1))
    Path(args.output).write_text(render(results, machine, total, started, source, sources))
    print(f"run_all: wrote {args.output} in {total:.0f} s", file=sys.stderr)
    return 0 if all(r["_status"] == "ok" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
