"""Helpers shared by the benchmark scripts in bench/ (not part of the ivrflow package).

- `SandboxProcess`: `python -m ivrflow.sandbox --port 0 ...` in its own process, exactly as
  a user starts it, with its stdout drained in a thread (a full pipe would stall it);
- `percentile`, `summary`: the statistics every script reports;
- `send_flow_text`, `pinned_flow_text`: flow recipes the benchmarks run;
- `machine`: cores, memory, Python and package versions, for RESULTS.md;
- `emit`: print a script's result, as JSON with `--json` (what run_all.py reads);
- `cpu_busy`, `proc_cpu`, `Load`: how busy the machine was, and with what, during a
  measurement (other work on a 2-core machine is part of every figure).

Every script that uses this runs from the repository root as `python bench/NAME.py`, so
`import benchlib` finds this file next to it.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0


class SandboxProcess:
    """The sandbox in a separate process on 127.0.0.1; `url`, `auth_id`, `auth_token`.

    `args` are extra sandbox options (`--log FILE`, `--drop 5`, `--latency 1`, ...).
    Use as a context manager: leaving it sends SIGINT and waits for the exit.
    """

    def __init__(self, *args: str) -> None:
        self.args = [sys.executable, "-m", "ivrflow.sandbox", "--port", "0", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        assert self.proc.stdout is not None
        exports: dict[str, str] = {}
        timer = threading.Timer(START_TIMEOUT, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                if line.startswith("export "):
                    key, _, value = shlex.split(line)[1].partition("=")
                    exports[key] = value
                if "VOBIZ_AUTH_TOKEN" in exports:
                    break
            else:
                raise RuntimeError(f"the sandbox exited before it was ready: {self.args}")
        finally:
            timer.cancel()
        self.url = exports["VOBIZ_API_URL"]
        self.auth_id = exports["VOBIZ_AUTH_ID"]
        self.auth_token = exports["VOBIZ_AUTH_TOKEN"]
        self.heard = 0
        self._drain = threading.Thread(target=self._count, daemon=True)
        self._drain.start()

    def _count(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("heard "):
                self.heard += 1

    @property
    def command(self) -> str:
        return "python -m ivrflow.sandbox " + shlex.join(self.args[3:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._drain.join(timeout=10)
        return code

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The sandbox's --log lines, parsed."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 1]."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max (and count) of `values`."""
    return {"n": len(values), "p50": statistics.median(values),
            "p99": percentile(values, 0.99), "max": max(values)}


def send_flow_text(sends: int, name: str = "bench-sends") -> str:
    """A flow of `sends` zero-wait sends of "1", tone 0: nothing but API requests."""
    steps = "".join("  - send: '1'\n" for _ in range(sends))
    return f"version: 1\nname: {name}\ntone: 0\nsteps:\n{steps}"


def pinned_flow_text(untils: list[float], name: str = "bench-pinned") -> str:
    """A flow whose sends of "1" are pinned with `wait: {until: T}` at each of `untils`."""
    steps = "".join(f"  - wait: {{until: {t:.6f}}}\n  - send: '1'\n" for t in untils)
    return f"version: 1\nname: {name}\ntone: 0\nsteps:\n{steps}"


PACKAGES = ["ivrflow", "httpx", "httpcore", "h11", "anyio", "aiohttp", "uvloop",
            "vobiz-python", "requests", "urllib3", "check-jsonschema", "jsonschema",
            "PyYAML", "ruamel.yaml"]


def machine() -> dict[str, Any]:
    """What this machine is: CPU, cores, memory, kernel, Python, package versions."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
    }


def emit(result: dict[str, Any], as_json: bool, human: str) -> None:
    """Print `result` as one JSON document (`--json`), else the human text."""
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print(human)


def rss_bytes() -> int:
    """This process's resident set size now, from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def cpu_busy() -> tuple[float, float]:
    """Seconds of CPU the whole machine has spent busy, and stolen, since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Load:
    """The machine's load over a measurement: `Load()` at its start, `.done(ours)` at its
    end with the CPU seconds the measurement's own processes used meanwhile. Gives the
    load averages and the cores that other processes kept busy (machine busy time less
    ours, per wall second)."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.busy0, self.steal0 = cpu_busy()
        self.loadavg0 = os.getloadavg()

    def done(self, ours: float) -> dict[str, float]:
        seconds = max(1e-9, time.perf_counter() - self.began)
        busy, steal = cpu_busy()
        return {"seconds": seconds,
                "other_cores": max(0.0, (busy - self.busy0) - ours) / seconds,
                "stolen_cores": (steal - self.steal0) / seconds,
                "loadavg_1m_before": self.loadavg0[0],
                "loadavg_1m_after": os.getloadavg()[0]}
