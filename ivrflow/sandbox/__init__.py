"""A Vobiz-compatible API on loopback, for trying flows and testing the engine.

    from ivrflow.sandbox import Fail, Sandbox, SandboxConfig

    with Sandbox.start_in_thread(SandboxConfig(dtmf_faults=(Fail(503),))) as sb:
        ...  # point a client at sb.url with sb.auth_id / sb.auth_token
        sb.heard()  # what was played, call by call

The modules, in the order a request meets them: `routes` (which endpoint a path
names), `app` (the aiohttp handler), `faults` (what to break and what a break means for
the digits), `state` (calls, records, heard digits), `runner` (start and stop),
`config` (what to do), `command` (the `ivrflow sandbox` subcommand).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivrflow.sandbox.config import (
    DEMO_AUTH_ID,
    DEMO_AUTH_TOKEN,
    HOST,
    MAX_BODY_BYTES,
    Drop,
    DtmfFault,
    Fail,
    RateLimit,
    SandboxConfig,
)
from ivrflow.sandbox.state import Heard, HeardListener, RequestListener, RequestRecord

if TYPE_CHECKING:
    from ivrflow.sandbox.runner import Sandbox


def __getattr__(name: str) -> object:
    # `Sandbox` brings in aiohttp, so it loads on first use: `ivrflow validate`, whose
    # parser registers the sandbox subcommand, must not pay for the HTTP stack.
    if name == "Sandbox":
        from ivrflow.sandbox.runner import Sandbox

        return Sandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEMO_AUTH_ID",
    "DEMO_AUTH_TOKEN",
    "HOST",
    "MAX_BODY_BYTES",
    "Drop",
    "DtmfFault",
    "Fail",
    "Heard",
    "HeardListener",
    "RateLimit",
    "RequestListener",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
]
