"""`ivrflow run`: from checked input to a finished flow on a live call.

Everything that can be refused is refused before the first request: the flow, its
variables, the call id, the API URL and the credentials. Then one transport is opened,
SIGINT/SIGTERM are wired to stop the flow at once, and the reporters print as it goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from ivrflow.errors import InvalidInput
from ivrflow.events import RunResult
from ivrflow.interpreter import run_flow
from ivrflow.model import Flow, Send
from ivrflow.report import HumanReporter, JsonReporter, Redact, redactor
from ivrflow.transport.vobiz import DEFAULT_API_URL, VobizTransport, check_api_url, check_call_id
from ivrflow.variables import Bindings


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as whom to run: checked before anything is sent."""

    api_url: str
    auth_id: str
    auth_token: str


def target_from_environment(api_url: str | None, environ: Mapping[str, str]) -> Target:
    """The API URL and credentials from options and the environment; exit 2 when missing."""
    auth_id = environ.get("VOBIZ_AUTH_ID", "").strip()
    auth_token = environ.get("VOBIZ_AUTH_TOKEN", "").strip()
    missing = [n for n, v in (("VOBIZ_AUTH_ID", auth_id), ("VOBIZ_AUTH_TOKEN", auth_token))
               if not v]
    if missing:
        raise InvalidInput(f"set {' and '.join(missing)} to your Vobiz credentials (or use "
                           "--sandbox to try the flow on the built-in sandbox)")
    url = api_url or environ.get("VOBIZ_API_URL") or DEFAULT_API_URL
    return Target(check_api_url(url), auth_id, auth_token)


def run_command(flow: Flow, bindings: Bindings, call: str, *, api_url: str | None,
                sandbox: bool, json_mode: bool, environ: Mapping[str, str] | None = None
                ) -> int:
    """Run one flow on one call from the command line; return the exit code."""
    environ = os.environ if environ is None else environ
    check_call_id(call)
    target = None if sandbox else target_from_environment(api_url, environ)
    return asyncio.run(_main(flow, bindings, call, target, json_mode))


async def _main(flow: Flow, bindings: Bindings, call: str, target: Target | None,
                json_mode: bool) -> int:
    if target is not None:
        return (await _run(flow, bindings, call, target, json_mode)).exit_code
    from ivrflow.sandbox import Sandbox, SandboxConfig

    async with Sandbox.serve(SandboxConfig()) as box:
        print(f"ivrflow: sandbox listening on {box.url} (nothing leaves this machine)",
              file=sys.stderr)
        sandbox_target = Target(box.url, box.auth_id, box.auth_token)
        result = await _run(flow, bindings, call, sandbox_target, json_mode)
        # Show what was heard as the flow's steps show it: secrets masked as ****.
        shown = {bindings.digits(s): bindings.shown(s) for s in flow.steps
                 if isinstance(s, Send)}
        heard = box.heard()
        print(f"ivrflow: the sandbox heard {len(heard)} send(s):", file=sys.stderr)
        for h in heard:
            fault = f" ({h.fault})" if h.fault else ""
            digits = shown.get(h.digits) or bindings.redact(h.digits)
            print(f"  +{h.offset:7.3f}s  {digits:<20} on {h.leg}{fault}", file=sys.stderr)
    return result.exit_code


async def _run(flow: Flow, bindings: Bindings, call: str, target: Target,
               json_mode: bool) -> RunResult:
    # Secret variables are masked where events are made; the token is guarded here.
    redact: Redact = redactor([target.auth_token])
    listener = JsonReporter(redact) if json_mode else HumanReporter(redact)
    async with VobizTransport(auth_id=target.auth_id, auth_token=target.auth_token,
                              api_url=target.api_url) as transport:
        task = asyncio.create_task(run_flow(flow, bindings, transport, call,
                                            listener=listener))
        with _stop_on_signals(task):
            return await task


class _stop_on_signals:
    """SIGINT and SIGTERM cancel `task` (the interpreter then reports and returns)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, task: asyncio.Task[RunResult]) -> None:
        self.task = task
        self.loop = asyncio.get_running_loop()

    def __enter__(self) -> None:
        for sig in self.SIGNALS:
            self.loop.add_signal_handler(sig, self.task.cancel)

    def __exit__(self, *exc: object) -> None:
        for sig in self.SIGNALS:
            self.loop.remove_signal_handler(sig)
