"""Run a recipe from Python: load, resolve, run, and read the per-step result.

    python examples/run_with_library.py [FLOW]

It runs FLOW (default flows/conference-pin.yaml, which takes meeting and pin) against
the built-in sandbox, so it needs no account and touches no network beyond 127.0.0.1.
Against the real API, replace the sandbox with `VobizTransport(auth_id=...,
auth_token=...)` and pass a live call's UUID.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import ivrflow
from ivrflow.sandbox import Sandbox

FLOW = Path(__file__).resolve().parent.parent / "flows" / "conference-pin.yaml"


async def main(path: Path) -> int:
    flow = ivrflow.load_flow(path)  # raises ivrflow.FlowInvalid with located problems
    bindings = ivrflow.resolve(flow, cli={"meeting": "123456789", "pin": "4321"})

    async with Sandbox.serve() as box, ivrflow.VobizTransport(
            auth_id=box.auth_id, auth_token=box.auth_token, api_url=box.url) as transport:
        result = await ivrflow.run_flow(flow, bindings, transport, "example-call")

    print(f"{result.flow} on {result.call}: {result.outcome} (exit {result.exit_code}) "
          f"in {result.duration:.2f}s")
    for step in result.steps:
        print(f"  step {step.number} {step.kind:<12} {step.detail:<16} "
              f"{step.start:6.3f}s -> {step.end:6.3f}s  {step.outcome}"
              f"{'' if step.status is None else f' HTTP {step.status}'}"
              f"{'' if not step.attempts else f', {step.attempts} attempt(s)'}")
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else FLOW)))
