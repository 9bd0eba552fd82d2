"""300 live calls acting at once, in real time, with the sandbox in another process: the
gaps each IVR hears, taken from the server's own arrival times, are the plan's.

The one real-time burst in the suite (about 4 s). Its tolerance is loose on purpose: the
suite's other workers share the machine's two cores with it; bench/burst_timing.py
measures the same thing precisely, with a core to itself.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from foreground import Foreground

CALLS = 300
FLOW = """\
version: 1
name: burst
tone: 100ms
vars:
  acct: {pattern: '[0-9]{4}'}
steps:
  - send: '1'
  - wait: 1s
  - send: '${acct}#'
  - wait: 1s
  - send: '2'
"""
# each wait plus the playback of the digits before it (100 ms a digit)
PLANNED = {"1": 1.1, "#": 1.5}


def test_300_calls_at_once_keep_their_gaps_at_the_server(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    box = Foreground("--log", str(log))
    flow = tmp_path / "burst.yaml"
    flow.write_text(FLOW)
    calls = tmp_path / "calls.csv"
    calls.write_text("call,acct\n" + "".join(f"c-{i:03d},{i:04d}\n" for i in range(CALLS)))
    env = {**os.environ, "VOBIZ_API_URL": box.url, "VOBIZ_AUTH_ID": box.auth_id,
           "VOBIZ_AUTH_TOKEN": box.auth["X-Auth-Token"]}
    try:
        done = subprocess.run([sys.executable, "-m", "ivrflow", "run", str(flow), "--calls",
                               str(calls), "--json"], env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        box.stop(2)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["event"] == "batch_finished" and summary["ok"] == CALLS
    assert 0.2 < summary["start_spread"] < 2.0 and summary["send_cost"] > 0

    arrivals: dict[str, list[tuple[float, str]]] = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record["method"] == "POST":
            arrivals.setdefault(record["call"], []).append((record["monotonic"], record["digits"]))
    assert len(arrivals) == CALLS
    errors = []
    for sends in arrivals.values():
        assert [d for _, d in sends] == ["1", sends[1][1], "2"] and sends[1][1].endswith("#")
        (t1, _), (t2, _), (t3, _) = sends
        errors += [abs(t2 - t1 - PLANNED["1"]), abs(t3 - t2 - PLANNED["#"])]
    errors.sort()
    # with a core to itself the p99 is 2-3 ms (bench/burst_timing.py); here, shared
    assert statistics.median(errors) < 0.010, errors[len(errors) // 2]
    assert errors[int(len(errors) * 0.99)] < 0.060, errors[-10:]
