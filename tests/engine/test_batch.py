"""Batches: one flow on many calls, against the sandbox over real HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from ivrflow.sandbox import Drop, Fail, RateLimit

from .conftest import FAST, Run, Start, unpaced

FLOW = FAST + ("vars:\n  meeting: {pattern: '^[0-9]{6}$'}\n  pin: {secret: true}\n"
               "steps:\n  - send: '${meeting}#'\n  - wait: 100ms\n  - send: '${pin}#'\n")


@pytest.fixture
def run_cli(run_cli: Run) -> Run:  # type: ignore[no-redef]
    """`ivrflow run` with only the calls each test names (no implicit --call)."""

    def run(*args: object, **kwargs: object) -> object:
        return run_cli(*args, call=None, **kwargs)

    return run  # type: ignore[return-value]


def calls_csv(tmp_path: Path, rows: list[str], header: str = "call,meeting,pin") -> str:
    path = tmp_path / "calls.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


def test_mixed_outcomes_are_isolated(sandbox: Start, run_cli: Run, tmp_path: Path) -> None:
    """Each call's failure is its own: rejected, ended and unknown calls do not stop the
    others, and the exit code is the worst class present (3 over 1)."""
    box = sandbox(dtmf_faults=(Fail(400), Fail(404), Drop()))
    calls = calls_csv(tmp_path, [f"c-{i},11111{i},99{i}" for i in range(1, 6)])
    result = run_cli(box, FLOW, "--calls", calls, "--concurrency", "1")
    assert result.code == 3
    table = result.err
    assert "c-1   rejected" in table and "c-2   not_live" in table
    assert "c-3   unknown" in table
    assert "c-4   ok" in table and "c-5   ok" in table
    assert "5 calls: 2 ok" in table
    per_call = {c: box.dtmf_requests(c) for c in ("c-1", "c-2", "c-3", "c-4", "c-5")}
    assert per_call == {"c-1": 1, "c-2": 1, "c-3": 1, "c-4": 2, "c-5": 2}
    assert "991" not in table and "995" not in table  # secrets stay masked


def test_a_failing_call_does_not_delay_the_others(sandbox: Start, run_cli: Run,
                                                  tmp_path: Path) -> None:
    """One call's unknown outcome leaves the other calls' timing untouched."""
    box = sandbox(dtmf_faults=(Fail(500),))
    calls = calls_csv(tmp_path, [f"c-{i},12345{i},1" for i in range(5)])
    result = run_cli(box, FLOW, "--calls", calls)
    assert result.code == 1
    pairs = [[r.t for r in box.requests() if r.call == f"c-{i}"] for i in range(5)]
    good = [times for times in pairs if len(times) == 2]
    assert len(good) == 4  # the call whose send failed stopped; the others went on
    for times in good:  # tone 0: the second send is due 100 ms after the first
        assert times[1] - times[0] == pytest.approx(0.1, abs=0.05)


def test_rate_limit_is_shared_by_every_call(sandbox: Start, run_cli: Run,
                                            tmp_path: Path) -> None:
    """--rate R: the sandbox never sees more than R requests in any second (+1 burst)."""
    box = sandbox()
    flow = FAST + "steps:\n  - confirm_live: true\n  - send: '1'\n  - send: '2'\n"
    args = [a for i in range(10) for a in ("--call", f"c-{i}")]
    started = time.monotonic()
    result = run_cli(box, flow, *args, "--rate", "20")
    elapsed = time.monotonic() - started
    assert result.code == 0, result.err
    times = sorted(r.t for r in box.requests())
    assert len(times) == 30
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 21
    assert elapsed >= 29 / 20 - 0.05


def test_429_slows_the_whole_batch(sandbox: Start, run_cli: Run, tmp_path: Path) -> None:
    """A 429 on one call holds every call's requests back for its Retry-After."""
    box = sandbox(dtmf_faults=(RateLimit(1, retry_after=1),))
    flow = FAST + "steps:\n  - send: '1'\n  - wait: 200ms\n  - send: '2'\n"
    args = [a for i in range(4) for a in ("--call", f"c-{i}")]
    result = run_cli(box, flow, *args)
    assert result.code == 0, result.err
    posts = [r for r in box.requests() if r.method == "POST"]
    refused = next(r for r in posts if r.status == 429)
    quiet = [r for r in box.requests() if refused.t + 0.05 < r.t < refused.t + 0.95]
    assert quiet == []
    assert sum(1 for r in posts if r.status == 202) == 8


def test_auth_refusal_stops_the_whole_batch(sandbox: Start, run_cli: Run) -> None:
    """A 401 on any call stops every call at once: exit 4, no further requests."""
    box = sandbox(dtmf_faults=(Fail(401),))
    # every call holding a slot has started (the starts are paced) before the first 401
    flow = FAST + "steps:\n  - wait: 100ms\n  - send: '1'\n  - wait: 2s\n  - send: '2'\n"
    args = [a for i in range(3) for a in ("--call", f"c-{i}")]
    started = time.monotonic()
    result = run_cli(box, flow, *args, "--concurrency", "2")
    assert result.code == 4
    assert time.monotonic() - started < 1.5  # nobody waited out the 2 s wait
    assert box.dtmf_requests() <= 2
    assert "auth_refused" in result.err and "stopped" in result.err
    assert "not_started" in result.err


def test_duplicate_call_ids_are_refused(sandbox: Start, run_cli: Run) -> None:
    """The same call twice in one batch: exit 2 before anything starts."""
    box = sandbox()
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n", "--call", "a", "--call", "a")
    assert result.code == 2
    assert "call 'a' appears twice" in result.err
    assert box.requests() == []


def test_bad_rows_are_refused_with_file_row_and_column(sandbox: Start, run_cli: Run,
                                                       tmp_path: Path) -> None:
    """Every bad row is reported as file:row:column before any request; exit 2."""
    box = sandbox()
    calls = calls_csv(tmp_path, ["c-1,123456,1", "c-2,12345,1", "c-3,123456", "../x,123456,1",
                                 "c-5,,1"])
    result = run_cli(box, FLOW, "--calls", calls)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == (f"{calls}:3:2: variable 'meeting': value '12345' (from the calls "
                        "file) does not match its pattern ^[0-9]{6}$")
    assert lines[1] == f"{calls}:4:1: 2 cells but the header has 3"
    assert lines[2].startswith(f"{calls}:5:1: '../x' is not a valid call id")
    assert lines[3].startswith(f"{calls}:6:2: variable 'meeting' has no value: fill its "
                               "'meeting' cell")
    assert len(lines) == 4
    assert box.requests() == []


def test_bad_header_and_conflicting_var(sandbox: Start, run_cli: Run, tmp_path: Path) -> None:
    """Unknown columns get a suggestion; a variable given by --var and a column is refused."""
    box = sandbox()
    bad = run_cli(box, FLOW, "--calls", calls_csv(tmp_path, ["c-1,1,1"], "call,meting,pin"))
    assert bad.code == 2 and "column 'meting' is not a variable of the flow (did you mean " \
        "'meeting'?)" in bad.err
    clash = run_cli(box, FLOW, "--calls", calls_csv(tmp_path, ["c-1,123456,1"]),
                    "--var", "pin=1")
    assert clash.code == 2 and "'pin' is given both by --var and by the calls file" in clash.err
    assert box.requests() == []


def test_json_lines_calls_file_and_json_events(sandbox: Start, run_cli: Run,
                                               tmp_path: Path) -> None:
    """A JSON Lines calls file works; --json interleaves events tagged with their call."""
    box = sandbox()
    path = tmp_path / "calls.jsonl"
    path.write_text('{"call": "j-1", "meeting": "111111", "pin": "1"}\n'
                    '{"call": "j-2", "meeting": "222222", "pin": "2"}\n')
    result = run_cli(box, FLOW, "--calls", str(path), "--json")
    assert result.code == 0, result.err
    events = result.events()
    assert {e["call"] for e in events[:-1]} == {"j-1", "j-2"}
    assert sum(1 for e in events if e["event"] == "flow_finished") == 2
    assert unpaced(events[-1]) == {"event": "batch_finished", "calls": 2, "ok": 2, "failed": 0,
                          "exit_code": 0}
    assert sorted(h.digits for h in box.heard()) == ["1#", "111111#", "2#", "222222#"]


def test_jsonl_numbers_are_refused(sandbox: Start, run_cli: Run, tmp_path: Path) -> None:
    """A number where a value belongs is refused (quote it), never converted."""
    path = tmp_path / "calls.jsonl"
    path.write_text('{"call": "j-1", "meeting": 123456, "pin": "1"}\n')
    result = run_cli(sandbox(), FLOW, "--calls", str(path))
    assert result.code == 2
    assert f'{path}:1:2: "meeting" must be a string, not 123456; quote it' in result.err


def test_interrupt_stops_every_call_and_prints_the_table(tmp_path: Path) -> None:
    """SIGINT during a batch: every flow stops at once, the table shows where, exit 130."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: t\nsteps:\n  - send: '1'\n  - wait: 30s\n"
                    "  - send: '2'\n")
    args = [a for i in range(5) for a in ("--call", f"c-{i}")]
    with subprocess.Popen([sys.executable, "-m", "ivrflow", "run", str(flow), *args,
                           "--sandbox", "--concurrency", "3"], stderr=subprocess.PIPE,
                          text=True, cwd=ROOT) as proc:
        assert proc.stderr is not None
        proc.stderr.readline()  # the sandbox is up
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        assert proc.wait(10) == 130
    outcomes = [line.split()[1] for line in err.splitlines() if line.startswith("c-")]
    assert sorted(outcomes) == ["interrupted"] * 3 + ["not_started"] * 2
    assert "the sandbox heard 3 send(s)" in err


def test_dry_run_batch_sends_nothing(sandbox: Start, run_cli: Run, tmp_path: Path) -> None:
    """--dry-run on a batch checks every row and prints one plan, sending nothing."""
    box = sandbox()
    calls = calls_csv(tmp_path, ["c-1,123456,1", "c-2,234567,2"])
    result = run_cli(box, FLOW, "--calls", calls, "--dry-run")
    assert result.code == 0
    assert "2 calls in all, nothing sent" in result.out
    assert box.requests() == []

