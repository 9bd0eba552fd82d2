"""The README is the manual: the examples it shows are what ivrflow really prints."""

from __future__ import annotations

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_error_example_is_real_output() -> None:
    """The error listing in the README is the corpus file's expected output, verbatim."""
    expected = (ROOT / "tests" / "flows" / "invalid" / "readme-example.expected").read_text()
    assert expected.replace("readme-example.yaml", "bad.yaml") in README


def test_readme_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    """Quick start is two commands; .ci/run runs the README's test command."""
    block = README.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = block.strip().splitlines()
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_documents_every_exit_code() -> None:
    """Each ExitCode appears in the README's exit code table."""
    from ivrflow.errors import ExitCode

    for code in ExitCode:
        assert f"| {int(code)} |" in README


def test_readme_worked_failure_is_real_output() -> None:
    """The README's `ivrflow test examples/broken` listing is what the command prints."""
    import re
    import subprocess
    import sys

    shown = README.split("$ ivrflow test examples/broken\n", 1)[1].split("```", 1)[0]
    result = subprocess.run([sys.executable, "-m", "ivrflow", "test", "examples/broken"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1

    def normal(text: str) -> str:
        return re.sub(r"in \d+ ms\)", "in N ms)", text).strip()

    assert normal(result.stdout) == normal(shown)
