"""The command line: exit codes, output formats, the error boundary, start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from ivrflow.cli import main, run_guarded
from ivrflow.errors import ExitCode

GOOD = "version: 1\nname: good\nsteps:\n  - wait: 1s\n  - send: '1'\n"
BAD = "version: 1\nname: bad\nsteps:\n  - send: 0123\n  - wait: -1\n"


def ivrflow(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivrflow", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=60)


def test_validate_shipped_flows() -> None:
    """Every recipe in flows/ is valid."""
    result = ivrflow("validate", "flows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "file(s) valid" in result.stderr


def test_validate_reports_all_problems_and_exits_2(write_flow) -> None:  # type: ignore[no-untyped-def]
    """Invalid files: every located problem on stdout, a tally on stderr, exit 2."""
    good, bad = write_flow(GOOD, "good.yaml"), write_flow(BAD, "bad.yaml")
    result = ivrflow("validate", str(good), str(bad))
    assert result.returncode == ExitCode.INVALID_INPUT
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}:4:11: step 1 send: 0123 is not quoted")
    assert lines[1] == f"{bad}:5:11: step 2 wait must not be negative (got -1)"
    assert "1 of 2 file(s) invalid, 2 problem(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_directory_and_json_format(tmp_path: Path) -> None:
    """A directory is searched for *.yaml/*.yml; --format json gives machine-readable problems."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text(BAD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    result = ivrflow("validate", str(tmp_path), "--format", "json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [(f["file"].rsplit("/", 1)[-1], f["valid"]) for f in report["files"]] == [
        ("b.yaml", True), ("a.yml", False)]
    assert report["files"][1]["problems"][1] == {
        "file": str(tmp_path / "sub" / "a.yml"), "line": 5, "column": 11,
        "message": "step 2 wait must not be negative (got -1)"}


def test_validate_empty_directory_is_an_error(tmp_path: Path) -> None:
    """Nothing to validate is reported, not silently passed."""
    result = ivrflow("validate", str(tmp_path))
    assert result.returncode == 2
    assert "no *.yaml or *.yml files found" in result.stderr


def test_plan_prints_timeline_with_masked_secret(tmp_path: Path) -> None:
    """plan resolves variables like a run and prints the timeline, secrets masked."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: f\nvars: {pin: {secret: true, env: PIN}}\nsteps:\n"
                    "  - wait: 2s\n  - send: '${pin}#'\n", encoding="utf-8")
    result = ivrflow("plan", str(flow), "--var", "pin=5150")
    assert result.returncode == 0, result.stderr
    assert "5150" not in result.stdout + result.stderr
    assert "send ****# on aleg" in result.stdout
    assert "total 3.250s" in result.stdout


def test_plan_json_and_vars_file(tmp_path: Path) -> None:
    """plan --format json reads a vars file and gives each step's start and duration."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: f\nvars: {x: {}}\nsteps:\n  - send: '${x}'\n",
                    encoding="utf-8")
    values = tmp_path / "v.yaml"
    values.write_text('x: "12"\n', encoding="utf-8")
    result = ivrflow("plan", str(flow), "--vars-file", str(values), "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["steps"][0] == {"step": 1, "kind": "send", "name": None, "start": 0.0,
                                "duration": 0.5, "earliest": False, "detail": "12 on aleg"}
    assert plan["listen_slack"] == 0


def test_plan_missing_variable_exits_2(tmp_path: Path) -> None:
    """A variable without a value stops plan with exit 2 and a located message."""
    flow = tmp_path / "f.yaml"
    flow.write_text("version: 1\nname: f\nvars: {x: {}}\nsteps:\n  - send: '${x}'\n",
                    encoding="utf-8")
    result = ivrflow("plan", str(flow))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{flow}:3:8: variable 'x' has no value")


def test_bad_command_line_exits_2() -> None:
    """An unknown option is a command-line error: exit 2."""
    result = ivrflow("validate", "--no-such-option", "x")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_schema_command_prints_the_schema() -> None:
    """ivrflow schema prints the draft 2020-12 schema with its $id."""
    result = ivrflow("schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("flow.schema.json")


def test_unexpected_error_is_logged_not_shown(capsys: pytest.CaptureFixture[str]) -> None:
    """A bug shows a one-line message naming a log file; the traceback goes only there."""

    def boom(args: object) -> int:
        raise RuntimeError("internal detail")

    code = run_guarded(boom, None)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and "internal detail" not in err
    log = Path(err.split("details are in ")[1].split(";")[0])
    assert "RuntimeError: internal detail" in log.read_text()
    log.unlink()


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    """^C anywhere in a command is exit 130 with a short message."""

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    assert run_guarded(interrupted, None) == 130  # type: ignore[arg-type]
    assert "interrupted" in capsys.readouterr().err


def test_validate_does_not_import_the_http_stack() -> None:
    """validate starts fast: it never imports httpx, aiohttp or tenacity."""
    code = ("import sys; from ivrflow.cli import main; main(['validate', 'flows']); "
            "print(sorted(m for m in ('httpx', 'aiohttp', 'tenacity') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_main_returns_exit_code_in_process(write_flow) -> None:  # type: ignore[no-untyped-def]
    """main() is usable in-process and returns the exit code rather than exiting."""
    assert main(["validate", str(write_flow(GOOD))]) == 0
    assert main(["validate", str(write_flow(BAD))]) == 2
