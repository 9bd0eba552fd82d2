"""Command-line conventions: -V, no abbreviations, did-you-mean, colour switches, -q/-v,
`-` for standard input and output, `test --format json`, completion and help."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivrflow._version import __version__
from ivrflow.engine.report import colour_choice
from tests.engine.conftest import FAST, Run, Start

SECRET = "4111111111111111"
ROOT = Path(__file__).resolve().parents[2]


def ivrflow(*args: str, stdin: str | None = None, cwd: Path = ROOT
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivrflow", *args], capture_output=True,
                          text=True, cwd=cwd, input=stdin, timeout=60)


def test_short_version_flag() -> None:
    assert ivrflow("-V").stdout.strip() == f"ivrflow {__version__}"


def test_no_abbreviation_and_values_never_echoed() -> None:
    """`--vars card=...` is not `--vars-file`: it is refused by `run`, with suggestions,
    and the value (maybe a secret) is not shown."""
    done = ivrflow("run", "flows/ebt-balance.yaml", "--call", "c-1", "--vars",
                   f"card={SECRET}")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "usage: ivrflow run FLOW (--call ID... | --calls FILE | --to NUMBER)")
    assert "unrecognized arguments: --vars (did you mean --var or --vars-file?)" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_help_shows_required_calls_and_exit_codes() -> None:
    done = ivrflow("run", "--help")
    assert "usage: ivrflow run FLOW (--call ID... | --calls FILE | --to NUMBER) [options]" \
        in done.stdout
    assert "exit codes:" in done.stdout and "130  interrupted" in done.stdout
    validate = " ".join(ivrflow("validate", "--help").stdout.split())
    assert "- reads a flow from standard input" in validate and "text (default) or json" \
        in validate
    assert "JSON Schema that ivrflow ships" in " ".join(ivrflow("schema", "--help").stdout.split())


@pytest.mark.parametrize(("option", "env", "tty", "expected"), [
    ("always", {}, False, True), ("never", {"FORCE_COLOR": "1"}, True, False),
    ("auto", {}, True, True), ("auto", {}, False, False),
    ("auto", {"NO_COLOR": "1"}, True, False),
    ("auto", {"NO_COLOR": ""}, True, True),  # only a non-empty NO_COLOR counts
    ("auto", {"FORCE_COLOR": "1"}, False, True), ("auto", {"FORCE_COLOR": ""}, False, False),
    ("auto", {"TERM": "dumb"}, True, False),
])
def test_colour_choice(option: str, env: dict[str, str], tty: bool, expected: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert colour_choice(option, Stream(), env) is expected


def test_color_always_and_never_on_a_run(sandbox: Start, run_cli: Run) -> None:
    box = sandbox()
    flow = FAST + "steps:\n  - send: '1'\n"
    assert "\x1b[32m" in run_cli(box, flow, "--color", "always").err
    assert "\x1b[" not in run_cli(box, flow, "--color", "never").err


def test_quiet_batch_lists_only_failures_and_quiet_run_only_the_summary(
        sandbox: Start, run_cli: Run) -> None:
    box = sandbox()
    flow = FAST + "steps:\n  - send: '1'\n  - confirm_live: {timeout: 200ms}\n"
    box.mark_live("ok-1")
    box.hangup("gone-1")
    table = run_cli(box, flow, "--call", "ok-1", "--call", "gone-1", "-q", call=None).err
    assert "gone-1" in table and "ok-1" not in table and "2 calls:" in table
    single = run_cli(box, flow, "-q", call="ok-1").err.splitlines()
    assert len(single) == 2 and single[1].startswith("ok: 2/2 steps")
    verbose = run_cli(box, flow, "-v", call="ok-1").err
    assert "1/2  begins: send" in verbose and "2/2  begins: confirm_live" in verbose


def test_standard_input_for_validate_and_plan() -> None:
    good = "version: 1\nname: piped\nsteps:\n  - send: '1'\n"
    assert ivrflow("validate", "-", stdin=good).returncode == 0
    bad = ivrflow("validate", "-", stdin="version: 1\nname: x\nsteps:\n  - send: 0123\n")
    assert bad.returncode == 2 and bad.stdout.startswith("<stdin>:4:11: step 1 send")
    plan = ivrflow("plan", "-", "--format", "json", stdin=good)
    assert json.loads(plan.stdout)["flow"] == "piped"


def test_test_json_and_junit_to_standard_output(tmp_path: Path) -> None:
    (tmp_path / "m.menu.yaml").write_text(
        "version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, options: {'1': b}}\n"
        "  b: {prompt: 1s, end: true}\n")
    (tmp_path / "f.yaml").write_text("version: 1\nname: f\nsteps:\n  - send: '1'\n"
                                     "expect: {menu: m.menu.yaml, reach: b}\n")
    (tmp_path / "g.yaml").write_text("version: 1\nname: g\nsteps:\n  - send: '2'\n"
                                     "expect: {menu: m.menu.yaml, reach: b}\n")
    done = ivrflow("test", str(tmp_path), "--format", "json", cwd=tmp_path)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["passed"], report["failed"]) == (1, 1)
    assert [t["reached"] for t in report["tests"]] == ["b", "a"]
    xml = ivrflow("test", str(tmp_path), "--junit", "-", cwd=tmp_path)
    root = ET.fromstring(xml.stdout)
    assert root.iter("testcase") is not None and "1 passed, 1 failed" in xml.stderr
    quiet = ivrflow("test", str(tmp_path), "-q", cwd=tmp_path).stdout
    assert "PASS" not in quiet and "FAIL" in quiet


def test_completion_scripts_cover_every_command() -> None:
    for shell in ("bash", "zsh", "fish"):
        done = ivrflow("completion", shell)
        assert done.returncode == 0, done.stderr
        for word in ("validate", "plan", "run", "test", "sandbox", "completion"):
            assert word in done.stdout, (shell, word)
        assert "calls" in done.stdout and "vars-file" in done.stdout
    bash = ivrflow("completion", "bash").stdout
    assert subprocess.run(["bash", "-n"], input=bash, text=True).returncode == 0
    fish = ivrflow("completion", "fish").stdout
    assert "complete -c ivrflow -n '__fish_seen_subcommand_from run' -l calls -r -F" in fish


def test_standard_input_is_bounded_and_a_truncated_flow_is_located() -> None:
    """`validate -` reads at most 1 MiB of a pipe (endless input is refused at once), and
    a flow cut short mid-string is a located problem."""
    with open("/dev/zero", "rb") as zeros:
        done = subprocess.run([sys.executable, "-m", "ivrflow", "validate", "-"],
                              stdin=zeros, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stdout.startswith("<stdin>:1:1: file is larger than 1 MiB")
    cut = ivrflow("validate", "-", stdin="version: 1\nname: x\nsteps:\n  - send: \"1")
    assert cut.returncode == 2 and cut.stdout.startswith("<stdin>:4:11: a quoted string")
