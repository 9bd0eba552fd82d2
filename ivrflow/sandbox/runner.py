"""Starting and stopping a sandbox: in a background thread, or in the running loop.

Both ways give the same `Sandbox` object. It always binds 127.0.0.1: the sandbox is a
test double, and nothing outside this machine has any business talking to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from types import TracebackType

from aiohttp import web

from ivrflow.sandbox.app import SandboxHandler
from ivrflow.sandbox.config import HOST, SandboxConfig
from ivrflow.sandbox.connections import (
    Counts,
    GuardedServer,
    connection_limit,
    quiet_accept_failures,
)
from ivrflow.sandbox.dialer import Dialer, PlacedCall
from ivrflow.sandbox.state import (
    Heard,
    HeardListener,
    RequestListener,
    RequestRecord,
    SandboxState,
)
from ivrflow.sandbox.streams import StreamPlayer, Voices

_START_TIMEOUT = 10.0
# Idle keep-alive connections close at once; this only bounds waiting for handlers
# still running (a long `latency`) when the sandbox stops.
_SHUTDOWN_TIMEOUT = 1.0

# aiohttp logs every malformed request it refuses at error level. Garbage is a case the
# sandbox is built to survive, not news: keep it off stderr unless someone configures
# logging and asks for it.
_http_log = logging.getLogger("ivrflow.sandbox.http")
_http_log.addHandler(logging.NullHandler())


class Sandbox:
    """A running Vobiz-compatible API on loopback, and what it has seen.

    Start one with `Sandbox.start_in_thread(config)` (a context manager; `stop()` ends
    it) or `async with Sandbox.serve(config) as sb:` inside an event loop. The readers
    (`heard`, `requests`, `dtmf_requests`) and the call controls (`hangup`,
    `mark_live`) are safe to use from any thread.
    """

    def __init__(self, config: SandboxConfig, *,
                 on_request: RequestListener | None = None,
                 on_heard: HeardListener | None = None,
                 voices: Voices | None = None) -> None:
        """Prepare a sandbox without starting it; use `start_in_thread` or `serve`.

        `voices` gives each call's audio for its audio streams (default: line noise)."""
        self.config = config
        self._state = SandboxState(config)
        state = self._state
        self._streams = StreamPlayer(
            voices, lambda call: state.is_live(call, time.monotonic()), config.auth_id)
        self._dialer = Dialer(
            auth_token=config.auth_token, outcome=config.dial, ring_after=config.ring_after,
            answer_after=config.answer_after, bad_signature=config.bad_signature,
            mark_live=lambda call: state.mark_live(call, time.monotonic(), time.time()),
            is_live=lambda call: state.is_live(call, time.monotonic()),
            hang_up=lambda call: state.hang_up(call, time.monotonic(), time.time()))
        self._handler = SandboxHandler(config, self._state, on_request, on_heard,
                                       self._streams, self._dialer)
        self._runner: web.ServerRunner | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopped = False
        self._counts = Counts()
        self._previous_handler: object = None

    # Starting and stopping.

    @classmethod
    def start_in_thread(cls, config: SandboxConfig | None = None, *, port: int = 0,
                        on_request: RequestListener | None = None,
                        on_heard: HeardListener | None = None,
                        voices: Voices | None = None) -> Sandbox:
        """Start a sandbox on `port` (0: any free one) in a thread with its own loop.

        Returns once it accepts connections; raises OSError if the port is taken.
        """
        sandbox = cls(config or SandboxConfig(), on_request=on_request, on_heard=on_heard,
                      voices=voices)
        ready = threading.Event()
        failure: list[BaseException] = []
        sandbox._thread = threading.Thread(
            target=sandbox._thread_main, args=(port, ready, failure),
            name=f"ivrflow-sandbox-{port}", daemon=True)
        sandbox._thread.start()
        if not ready.wait(_START_TIMEOUT):
            raise RuntimeError("the sandbox did not start in time")
        if failure:
            sandbox._thread.join()
            raise failure[0]
        return sandbox

    @classmethod
    @contextlib.asynccontextmanager
    async def serve(cls, config: SandboxConfig | None = None, *, port: int = 0,
                    on_request: RequestListener | None = None,
                    on_heard: HeardListener | None = None,
                    voices: Voices | None = None) -> AsyncIterator[Sandbox]:
        """Run a sandbox in the running event loop for the length of an `async with`.

        Raises OSError on entry if the port is taken.
        """
        sandbox = cls(config or SandboxConfig(), on_request=on_request, on_heard=on_heard,
                      voices=voices)
        await sandbox._open(port)
        try:
            yield sandbox
        finally:
            await sandbox.aclose()

    def stop(self) -> None:
        """Stop a sandbox started with `start_in_thread` and wait for it. Idempotent."""
        if self._thread is None:
            raise RuntimeError("a sandbox from Sandbox.serve() stops when its `async with` "
                               "block ends, or with `await sandbox.aclose()`")
        if threading.current_thread() is self._thread:
            raise RuntimeError("stop() would wait for itself: call it from another thread")
        if self._loop is not None and self._stop_event is not None \
                and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join()

    async def aclose(self) -> None:
        """Stop a sandbox from `Sandbox.serve()`, closing every connection. Idempotent."""
        if self._thread is not None:
            raise RuntimeError("a sandbox from start_in_thread() stops with stop()")
        await self._close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _thread_main(self, port: int, ready: threading.Event,
                     failure: list[BaseException]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            try:
                await self._open(port)
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            try:
                await self._stop_event.wait()
            finally:
                await self._close()

        asyncio.run(main())

    async def _open(self, port: int) -> None:
        # keepalive_timeout also runs from a connection's opening: a client that sends
        # nothing, or half a request head, is closed after idle_timeout
        server = GuardedServer(self._handler, access_log=None, logger=_http_log,
                               auto_decompress=False,
                               keepalive_timeout=self.config.idle_timeout,
                               limit=connection_limit(), counts=self._counts)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        # a batch may open a connection per call at once: the default backlog (128) is
        # too small, and a refused SYN would look to the client like a dropped send
        site = web.TCPSite(runner, HOST, port, backlog=4096)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        self._previous_handler = quiet_accept_failures(asyncio.get_running_loop(),
                                                       self._counts)

    async def _close(self) -> None:
        if self._stopped or self._runner is None:
            return
        self._stopped = True
        try:
            await self._dialer.close()
            await self._streams.close()
            await self._runner.cleanup()
        finally:
            asyncio.get_running_loop().set_exception_handler(
                self._previous_handler)  # type: ignore[arg-type]

    # Where it is.

    @property
    def port(self) -> int:
        """The TCP port the sandbox listens on, on 127.0.0.1."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, like the real `https://api.vobiz.ai`: `http://127.0.0.1:PORT`."""
        return f"http://{HOST}:{self._port}"

    @property
    def auth_id(self) -> str:
        """The account id the sandbox accepts (X-Auth-ID and the path's {auth_id})."""
        return self.config.auth_id

    @property
    def auth_token(self) -> str:
        """The auth token the sandbox accepts (X-Auth-Token)."""
        return self.config.auth_token

    # What it has seen.

    @property
    def turned_away(self) -> tuple[int, int]:
        """(connections answered 503 at the open-file limit, accept() calls the system
        refused) so far."""
        return self._counts.refused, self._counts.accept_failures

    def heard(self) -> list[Heard]:
        """Every digit string played so far, oldest first (a copy)."""
        return self._state.heard()

    def requests(self) -> list[RequestRecord]:
        """Every request answered (or dropped) so far, oldest first (a copy)."""
        return self._state.requests()

    def placed(self) -> list[PlacedCall]:
        """The calls Make Call placed so far, oldest first: their uuids, the fields asked
        for, their status and the callbacks sent with the answers they got."""
        return list(self._dialer.calls.values())

    def dtmf_requests(self, call: str | None = None) -> int:
        """How many DTMF POSTs arrived, for one call or all, however they were answered."""
        return self._state.dtmf_requests(call)

    # Steering calls.

    def hangup(self, call: str) -> bool:
        """Hang a call up now, as the far end would; True if it was live."""
        return self._state.hang_up(call, time.monotonic(), time.time())

    def mark_live(self, call: str) -> None:
        """Make a call live now, whatever `live_after` or `never_live` say.

        It stays live until hung up (or its `hangup_after` runs out, if that is still
        ahead). Starts the call's clock if no request has named it yet.
        """
        self._state.mark_live(call, time.monotonic(), time.time())

    def is_live(self, call: str) -> bool:
        """Whether the live-call GET would find `call` in progress (faults aside)."""
        return self._state.is_live(call, time.monotonic())

    def live_calls(self) -> list[str]:
        """The ids of the calls live now, oldest first."""
        return self._state.live_calls(time.monotonic())
