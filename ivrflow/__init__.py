"""ivrflow: navigate phone menus from YAML recipes over the Vobiz API.

    import asyncio, ivrflow

    flow = ivrflow.load_flow("flows/ebt-balance.yaml")
    bindings = ivrflow.resolve(flow, cli={"card": "4111111111111111"})
    async def main():
        async with ivrflow.VobizTransport(auth_id=..., auth_token=...) as transport:
            return await ivrflow.run_flow(flow, bindings, transport, "call-uuid")
    result = asyncio.run(main())

Names load on first use, so `import ivrflow` stays cheap for the command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ivrflow._version import __version__

if TYPE_CHECKING:
    from ivrflow.engine.clock import Clock, MonotonicClock, VirtualClock
    from ivrflow.engine.events import Event, RunResult, StepRecord
    from ivrflow.engine.interpreter import run_flow
    from ivrflow.errors import (
        AuthRefused,
        CallNotLive,
        ExitCode,
        FlowInvalid,
        InvalidInput,
        IvrflowError,
        Problem,
        StepFailed,
    )
    from ivrflow.language.loader import load_flow, parse_flow
    from ivrflow.language.model import ConfirmLive, Flow, RetryPolicy, Send, Variable, Wait
    from ivrflow.language.plan import Plan, make_plan
    from ivrflow.language.variables import Bindings, resolve
    from ivrflow.transport.base import Transport
    from ivrflow.transport.vobiz import VobizTransport

_WHERE = {
    "Clock": "engine.clock", "MonotonicClock": "engine.clock", "VirtualClock": "engine.clock",
    "AuthRefused": "errors", "CallNotLive": "errors", "ExitCode": "errors",
    "FlowInvalid": "errors", "InvalidInput": "errors", "IvrflowError": "errors",
    "Problem": "errors", "StepFailed": "errors",
    "Event": "engine.events", "RunResult": "engine.events", "StepRecord": "engine.events",
    "run_flow": "engine.interpreter",
    "load_flow": "language.loader", "parse_flow": "language.loader",
    "ConfirmLive": "language.model", "Flow": "language.model", "RetryPolicy": "language.model",
    "Send": "language.model",
    "Variable": "language.model", "Wait": "language.model",
    "Plan": "language.plan", "make_plan": "language.plan",
    "Transport": "transport.base", "VobizTransport": "transport.vobiz",
    "Bindings": "language.variables", "resolve": "language.variables",
}

# literal, so type checkers see the re-exports (a test keeps it equal to _WHERE)
__all__ = [
    "AuthRefused",
    "Bindings",
    "CallNotLive",
    "Clock",
    "ConfirmLive",
    "Event",
    "ExitCode",
    "Flow",
    "FlowInvalid",
    "InvalidInput",
    "IvrflowError",
    "MonotonicClock",
    "Plan",
    "Problem",
    "RetryPolicy",
    "RunResult",
    "Send",
    "StepFailed",
    "StepRecord",
    "Transport",
    "Variable",
    "VirtualClock",
    "VobizTransport",
    "Wait",
    "__version__",
    "load_flow",
    "make_plan",
    "parse_flow",
    "resolve",
    "run_flow",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"ivrflow.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ivrflow' has no attribute {name!r}")
