"""`ivrflow validate` on 200 flow files, against check-jsonschema on the same files.

    python bench/validate_speed.py [--files 200] [--repeats 5] [--json]

Generates `--files` varied, valid flow files (seeded, so every run validates the same
text: 3 to 40 steps of every kind, waits in every duration form, variables with patterns,
secrets, environment names and defaults, flow and step retry policies, legs, comments)
into a temporary directory, then times, as a user runs them, each a fresh process:

    ivrflow validate FILE...
    check-jsonschema --schemafile schemas/flow.schema.json FILE...

alternating, `--repeats` times each; the median wall time counts. Both must accept every
file. Each is also timed on one file, which is mostly start-up, so the per-file cost
shows apart from it. check-jsonschema does less: it applies the JSON Schema only, with no
located YAML-trap checks (`send: 0123` read as a number, `on:` read as true), no
variable-reference, regex, unit-limit or timeline checks.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

SCHEMA = benchlib.ROOT / "schemas" / "flow.schema.json"
BIN = Path(sys.executable).parent
TIME_LIMIT = 120.0


def duration(rng: random.Random, low: float, high: float) -> str:
    """A duration between low and high seconds, written in one of the accepted forms."""
    seconds = round(rng.uniform(low, high), 1)
    form = rng.randrange(4)
    if form == 0:
        return f"{int(seconds * 1000)}ms"
    if form == 1:
        return f"{seconds:g}s"
    if form == 2:
        return f"{seconds:g}"
    return f"{max(1, round(seconds))}s"


def retry_block(rng: random.Random, send: bool) -> str:
    parts = [f"attempts: {rng.randint(1, 6)}"]
    if rng.random() < 0.6:
        parts.append(f"backoff: {rng.choice(['250ms', '500ms', '1s', '2s'])}")
    if rng.random() < 0.4:
        parts.append(f"max_backoff: {rng.choice(['4s', '8s', '10s'])}")
    if send and rng.random() < 0.2:
        parts.append("unknown: true")
    return "{" + ", ".join(parts) + "}"


def flow_text(n: int, rng: random.Random) -> str:
    lines = ["# yaml-language-server: $schema=../schemas/flow.schema.json",
             f"# generated benchmark flow {n}", "version: 1", f"name: bench-flow-{n:03d}"]
    if rng.random() < 0.7:
        lines.append(f"description: Generated recipe {n} for the validate benchmark")
    if rng.random() < 0.3:
        lines.append(f"leg: {rng.choice(['aleg', 'bleg', 'both'])}")
    if rng.random() < 0.5:
        lines.append(f"tone: {rng.choice(['0', '100ms', '200ms', '250ms', '0.3s'])}")
    if rng.random() < 0.3:
        lines.append(f"gap: {rng.choice(['200ms', '500ms', '1s'])}")
    lines.append(f"timeout: {rng.choice(['20m', '30m', '45m', '3600'])}")
    if rng.random() < 0.5:
        lines.append(f"retry: {retry_block(rng, True)}")
    names: list[str] = []
    if rng.random() < 0.8:
        lines.append("vars:")
        for v in range(rng.randint(1, 5)):
            name = rng.choice(["card", "pin", "account", "dob", "zip", "member", "rx"]) + \
                f"_{v}"
            names.append(name)
            length = rng.randint(4, 16)
            spec = [f"pattern: '^[0-9]{{{length}}}$'"]
            if rng.random() < 0.5:
                spec.append("secret: true")
            if rng.random() < 0.4:
                spec.append(f"env: BENCH_{name.upper()}")
            if rng.random() < 0.3:
                spec.append(f"default: \"{'7' * length}\"")
            if rng.random() < 0.3:
                spec.append(f"description: the {name.replace('_', ' ')}")
            if rng.random() < 0.5:
                lines.append(f"  {name}: {{{', '.join(spec)}}}")
            else:
                lines.append(f"  {name}:")
                lines.extend(f"    {item}" for item in spec)
    lines.append("steps:")
    clock = 0.0  # a lower bound of the timeline, to keep every `until` ahead of it
    if rng.random() < 0.6:
        if rng.random() < 0.5:
            lines.append("  - confirm_live: true")
        else:
            lines.append(f"  - confirm_live: {{timeout: {rng.choice(['10s', '30s', '1m'])}, "
                         f"interval: {rng.choice(['200ms', '500ms', '1s'])}}}")
            if rng.random() < 0.5:
                lines.append("    name: call answered")
        if rng.random() < 0.3:
            lines.append(f"    retry: {retry_block(rng, False)}")
    for s in range(rng.randint(3, 40)):
        kind = rng.random()
        if kind < 0.45:
            choice = rng.random()
            if choice < 0.2:
                clock += rng.uniform(2, 20)
                lines.append(f"  - wait: {{until: {round(clock)}s}}")
            else:
                lines.append(f"  - wait: {duration(rng, 0.2, 8)}")
                clock += 8
            if rng.random() < 0.3:
                lines.append(f"    name: prompt {s}")
        elif kind < 0.95:
            parts = []
            for _ in range(rng.randint(1, 3)):
                if names and rng.random() < 0.4:
                    parts.append(f"${{{rng.choice(names)}}}")
                else:
                    parts.append("".join(rng.choice("0123456789*#") for _ in range(
                        rng.randint(1, 4))))
                if rng.random() < 0.2:
                    parts.append(rng.choice("wW"))
            digits = "".join(parts)
            quote = rng.choice(["'", '"'])
            lines.append(f"  - send: {quote}{digits}{quote}")
            clock += 1
            if rng.random() < 0.5:
                lines.append(f"    name: menu choice {s}")
            if rng.random() < 0.2:
                lines.append(f"    leg: {rng.choice(['aleg', 'bleg', 'both'])}")
            if rng.random() < 0.2:
                lines.append(f"    retry: {retry_block(rng, True)}")
        else:
            lines.append("  - confirm_live: true  # still there?")
    return "\n".join(lines) + "\n"


def generate(directory: Path, count: int) -> list[Path]:
    rng = random.Random(20240605)
    paths = []
    for n in range(count):
        path = directory / f"flow-{n:03d}.yaml"
        path.write_text(flow_text(n, rng))
        paths.append(path)
    return paths


def timed(command: list[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT,
                          cwd=benchlib.ROOT)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {done.returncode}:\n"
                           f"{(done.stdout + done.stderr)[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(p) for p in generate(Path(tmp), args.files)]
        commands = {
            "ivrflow validate": [str(BIN / "ivrflow"), "validate"],
            "check-jsonschema": [str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMA)],
        }
        times: dict[str, dict[str, list[float]]] = {
            name: {"all": [], "one": []} for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name]["all"].append(timed(command + paths))
                times[name]["one"].append(timed(command + paths[:1]))
        size = sum(Path(p).stat().st_size for p in paths)
        steps = sum(Path(p).read_text().count("\n  - ") for p in paths)
    rows: dict[str, Any] = {}
    for name, measured in times.items():
        whole, one = statistics.median(measured["all"]), statistics.median(measured["one"])
        rows[name] = {"seconds": whole, "min": min(measured["all"]),
                      "max": max(measured["all"]), "one_file": one,
                      "per_file_ms": (whole - one) / max(1, args.files - 1) * 1000}
    result = {"files": args.files, "bytes": size, "steps": steps, "repeats": args.repeats,
              "commands": {"ivrflow validate": "ivrflow validate FILE...",
                           "check-jsonschema": "check-jsonschema --schemafile "
                                               "schemas/flow.schema.json FILE..."},
              "rows": rows}
    lines = [f"{args.files} generated flow files ({steps} steps, {size / 1024:.0f} KiB), "
             f"median of {args.repeats} runs:"]
    for name, row in rows.items():
        lines.append(f"  {name:<17} {row['seconds']:.3f} s  (one file {row['one_file']:.3f} s,"
                     f" {row['per_file_ms']:.2f} ms per further file)")
    benchlib.emit(result, args.json, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
