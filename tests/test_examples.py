"""The examples in examples/ run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_library_example_runs_against_the_sandbox(tmp_path: Path) -> None:
    """examples/run_with_library.py loads, resolves and runs a flow, printing each step."""
    flow = tmp_path / "quick.yaml"
    flow.write_text("version: 1\nname: quick\ntone: 50ms\nvars:\n  meeting: {}\n"
                    "  pin: {secret: true}\nsteps:\n  - confirm_live: true\n"
                    "  - send: '${meeting}#'\n  - wait: 100ms\n  - send: '${pin}#'\n")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "run_with_library.py"),
                             str(flow)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("quick on example-call: ok (exit 0)")
    assert "send         123456789#" in lines[2]
    assert "****#" in lines[4] and "4321" not in result.stdout
