"""Fixtures for end-to-end runs: a sandbox per test, and `ivrflow run` pointed at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.sandbox import Sandbox, SandboxConfig

FAST = "version: 1\nname: t\ntone: 0\nretry: {backoff: 50ms, max_backoff: 200ms}\n"


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def events(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.out.splitlines()]


Start = Callable[..., Sandbox]
PACING = ("start_spread", "start_slot", "start_lateness", "send_cost")


def unpaced(event: dict[str, object]) -> dict[str, object]:
    """A batch_finished without its pacing figures, which vary from run to run."""
    for key in PACING:
        assert isinstance(event.pop(key), (int, float)), key
    return event


@pytest.fixture
def sandbox() -> Iterator[Start]:
    """Start sandboxes with `SandboxConfig(**options)`; all are stopped after the test."""
    started: list[Sandbox] = []

    def start(**options: object) -> Sandbox:
        box = Sandbox.start_in_thread(SandboxConfig(**options))  # type: ignore[arg-type]
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


Run = Callable[..., Outcome]


@pytest.fixture
def http_engine() -> str:
    """The HTTP engine `run_cli` runs on; a test module overrides this to run on both."""
    return "aiohttp"


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], http_engine: str) -> Run:
    """Run `ivrflow run FLOW --call call-1 ARGS...` in-process against a sandbox
    (`call=None`: no --call; the arguments name the calls)."""

    def run(box: Sandbox | None, flow: str, *args: str, token: str | None = None,
            url: str | None = None, call: str | None = "call-1") -> Outcome:
        path = tmp_path / "flow.yaml"
        path.write_text(flow, encoding="utf-8")
        if box is not None:
            monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
            monkeypatch.setenv("VOBIZ_AUTH_TOKEN", token or box.auth_token)
            monkeypatch.setenv("VOBIZ_API_URL", url or box.url)
        capsys.readouterr()
        code = main(["run", str(path), *(["--call", call] if call else []), *args,
                     "--http-engine", http_engine])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
