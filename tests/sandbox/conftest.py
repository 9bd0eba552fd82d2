"""Fixtures: sandboxes started per test and stopped after it, with httpx clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from ivrflow.sandbox import Sandbox, SandboxConfig

from .api import Api, client_for

MakeApi = Callable[..., Api]


@pytest.fixture
def make_api() -> Iterator[MakeApi]:
    """Start a sandbox with `SandboxConfig(**options)` and return a client for it."""
    opened: list[tuple[Sandbox, httpx.Client]] = []

    def make(**options: object) -> Api:
        sandbox = Sandbox.start_in_thread(SandboxConfig(**options))  # type: ignore[arg-type]
        client = client_for(sandbox)
        opened.append((sandbox, client))
        return Api(sandbox, client)

    yield make
    for sandbox, client in opened:
        client.close()
        sandbox.stop()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """A client for a well-behaved sandbox."""
    return make_api()
