"""How many connections a sandbox holds, and what it does at the open-file limit.

A process has a fixed number of file descriptors (`ulimit -n`). A sandbox that accepts
until `accept()` fails with EMFILE makes asyncio log a traceback for every refused
attempt, thousands a second, and leaves nothing for the log file or the client sharing
the process. So the sandbox holds at most the limit less a reserve: a connection past
that is answered 503 with `Retry-After: 1` and closed at once, which a client treats as
a refusal (nothing was played) and retries. Should `accept()` fail anyway (other
descriptors of the process), the failure is counted, never printed.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Any

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

RESERVE = 64  # descriptors left for the log file, the client of `run --sandbox`, imports
_FULL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 55\r\n\r\n"
         b'{"error": "the sandbox is at its open-file limit: retry"}')
_ACCEPT_TROUBLE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def connection_limit() -> int:
    """The most connections a sandbox in this process holds at once."""
    if resource is None:
        return 100_000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(16, soft - RESERVE)


class _Full(asyncio.Protocol):
    """A connection past the limit: a 503 that says why, then closed."""

    def __init__(self, counts: Counts) -> None:
        self._counts = counts

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._counts.refused += 1
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_FULL)
        transport.close()


class Counts:
    """What the guard turned away, for the sandbox's last words."""

    def __init__(self) -> None:
        self.refused = 0  # connections answered 503 at the limit
        self.accept_failures = 0  # accept() calls the system refused


class GuardedServer(web.Server):
    """An aiohttp low-level server that holds at most `limit` connections."""

    def __init__(self, *args: Any, limit: int, counts: Counts, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit = limit
        self._counts = counts

    def __call__(self) -> RequestHandler:
        if len(self.connections) >= self._limit:
            return _Full(self._counts)  # type: ignore[return-value]
        return super().__call__()


def quiet_accept_failures(loop: asyncio.AbstractEventLoop, counts: Counts) -> object:
    """Count asyncio's "socket.accept() out of system resource" reports instead of
    printing them; everything else goes to the handler that was there. Returns that
    handler, for `loop.set_exception_handler` to put back."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_TROUBLE \
                and str(context.get("message", "")).startswith("socket.accept()"):
            counts.accept_failures += 1
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    return previous
