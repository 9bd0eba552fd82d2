"""Starting and stopping sandboxes, the Python API, and the configuration checks."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from ivrflow.sandbox import (
    DEMO_AUTH_ID,
    DEMO_AUTH_TOKEN,
    Drop,
    Fail,
    Heard,
    RateLimit,
    RequestRecord,
    Sandbox,
    SandboxConfig,
)

from .api import Api, client_for
from .conftest import MakeApi


def test_start_in_thread_is_fast_and_serves_on_loopback() -> None:
    """start_in_thread returns within 0.2 s with a URL on 127.0.0.1 and demo credentials."""
    start = time.perf_counter()
    with Sandbox.start_in_thread(SandboxConfig()) as sb:
        elapsed = time.perf_counter() - start
        assert sb.url == f"http://127.0.0.1:{sb.port}" and sb.port > 0
        assert (sb.auth_id, sb.auth_token) == (DEMO_AUTH_ID, DEMO_AUTH_TOKEN)
        with client_for(sb) as client:
            response = client.post(f"/api/v1/Account/{sb.auth_id}/Call/c/DTMF/",
                                   json={"digits": "1"},
                                   headers={"X-Auth-ID": sb.auth_id,
                                            "X-Auth-Token": sb.auth_token})
        assert response.status_code == 202
    assert elapsed < 0.2


def test_stop_closes_the_port_and_is_idempotent() -> None:
    """After stop() the port refuses connections; a second stop() is harmless."""
    sb = Sandbox.start_in_thread()
    sb.stop()
    sb.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sb.port), 1.0).close()


def test_stop_with_a_kept_alive_client_is_quick() -> None:
    """A client holding a keep-alive connection does not slow stop() down."""
    sb = Sandbox.start_in_thread()
    with client_for(sb) as client:
        assert client.get("/").status_code == 404
        start = time.perf_counter()
        sb.stop()
        assert time.perf_counter() - start < 0.5
        with pytest.raises(httpx.TransportError):
            client.get("/")


def test_records_stay_readable_after_stop() -> None:
    """heard() and requests() still answer once the sandbox is stopped."""
    with Sandbox.start_in_thread() as sb, client_for(sb) as client:
        client.get("/")
    assert [r.status for r in sb.requests()] == [404]


def test_serve_runs_in_the_current_event_loop() -> None:
    """`async with Sandbox.serve(cfg)` serves in the running loop, same object API."""
    async def main() -> tuple[int, list[Heard], int]:
        async with Sandbox.serve(SandboxConfig(dtmf_faults=(Fail(500),))) as sb:
            headers = {"X-Auth-ID": sb.auth_id, "X-Auth-Token": sb.auth_token}
            async with httpx.AsyncClient(base_url=sb.url, verify=False) as client:
                path = f"/api/v1/Account/{sb.auth_id}/Call/c9/DTMF/"
                first = await client.post(path, json={"digits": "1"}, headers=headers)
                await client.post(path, json={"digits": "2"}, headers=headers)
            return first.status_code, sb.heard(), sb.port

    status, heard, port = asyncio.run(main())
    assert status == 500
    assert [(h.call, h.digits, h.fault) for h in heard] == [("c9", "1", "500"),
                                                           ("c9", "2", None)]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), 1.0).close()


def test_stop_and_aclose_refuse_the_other_mode() -> None:
    """stop() is for threaded sandboxes, aclose() for served ones: each says so."""
    async def main() -> None:
        async with Sandbox.serve() as sb:
            with pytest.raises(RuntimeError, match="async with"):
                sb.stop()
            await sb.aclose()
            await sb.aclose()

    asyncio.run(main())
    with Sandbox.start_in_thread() as sb, pytest.raises(RuntimeError, match="stop"):
        asyncio.run(sb.aclose())


def test_port_in_use_raises_oserror() -> None:
    """Starting on a port already taken raises OSError and leaves no thread behind."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        before = threading.active_count()
        with pytest.raises(OSError):
            Sandbox.start_in_thread(port=holder.getsockname()[1])
        assert threading.active_count() == before


def test_two_sandboxes_are_independent(make_api: MakeApi) -> None:
    """Two sandboxes at once have their own ports, calls and records."""
    one, two = make_api(), make_api(never_live=True)
    assert one.sandbox.port != two.sandbox.port
    assert one.dtmf().status_code == 202
    assert two.dtmf().status_code == 404
    assert len(one.sandbox.heard()) == 1 and two.sandbox.heard() == []


def test_readers_return_copies(api: Api) -> None:
    """heard() and requests() return new lists: changing them changes nothing."""
    api.dtmf()
    api.sandbox.heard().clear()
    api.sandbox.requests().clear()
    assert len(api.sandbox.heard()) == 1 and len(api.sandbox.requests()) == 1


def test_records_are_frozen(api: Api) -> None:
    """Heard and RequestRecord are immutable."""
    api.dtmf()
    with pytest.raises(AttributeError):
        api.sandbox.heard()[0].digits = "9"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        api.sandbox.requests()[0].status = 200  # type: ignore[misc]


def test_reading_while_serving_from_another_thread(api: Api) -> None:
    """Snapshots read in another thread while requests arrive are whole, ordered prefixes."""
    stop = threading.Event()
    snapshots: list[list[Heard]] = []

    def read() -> None:
        while not stop.is_set():
            snapshots.append(api.sandbox.heard())
            time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(100):
            api.dtmf(f"call-{i % 3}", str(i % 10))
    finally:
        stop.set()
        reader.join()
    final = api.sandbox.heard()
    assert len(final) == 100 and api.sandbox.dtmf_requests() == 100
    assert snapshots
    assert all(snap == final[:len(snap)] for snap in snapshots)
    assert [len(s) for s in snapshots] == sorted(len(s) for s in snapshots)


def test_listeners_hear_each_request_and_digit() -> None:
    """on_request gets every record and on_heard every Heard, as they happen."""
    records: list[RequestRecord] = []
    heard: list[Heard] = []
    with Sandbox.start_in_thread(on_request=records.append, on_heard=heard.append) as sb:
        api = Api(sb, client_for(sb))
        with api.client:
            api.dtmf("c", "12")
            api.live("c")
            assert [r.status for r in records] == [202, 200]
            assert [h.digits for h in heard] == ["12"]


def test_max_records_keeps_the_newest(make_api: MakeApi) -> None:
    """max_records bounds the histories, dropping the oldest; counts stay whole."""
    api = make_api(max_records=2)
    for digits in "123":
        api.dtmf(digits=digits)
    assert [h.digits for h in api.sandbox.heard()] == ["2", "3"]
    assert [r.digits for r in api.sandbox.requests()] == ["2", "3"]
    assert api.sandbox.dtmf_requests() == 3


def test_live_calls_and_is_live(api: Api) -> None:
    """live_calls() and is_live() report the calls the live GET would find."""
    api.dtmf("a")
    api.dtmf("b")
    api.sandbox.hangup("a")
    assert api.sandbox.live_calls() == ["b"]
    assert api.sandbox.is_live("b") and not api.sandbox.is_live("a")
    assert not api.sandbox.is_live("never-named")


@pytest.mark.parametrize("options", [
    {"live_after": -1},
    {"live_after": float("nan")},
    {"hangup_after": float("inf")},
    {"latency": "0.1"},
    {"never_live": True, "live_after": 1.0},
    {"auth_id": ""},
    {"auth_id": "MA/X"},
    {"auth_token": ""},
    {"live_fail": -1},
    {"live_fail_status": 200},
    {"dtmf_faults": [Fail(503)]},
    {"dtmf_faults": ("503",)},
    {"max_records": -5},
])
def test_config_refuses_values_it_cannot_honour(options: dict[str, object]) -> None:
    """SandboxConfig raises ValueError for impossible or contradictory options."""
    with pytest.raises(ValueError):
        SandboxConfig(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fault", "args"), [
    (Fail, (200,)), (Fail, (600,)), (Fail, (503, -1)), (Fail, (True,)), (Fail, ("503",)),
    (RateLimit, (-1,)), (RateLimit, (1, -1)), (RateLimit, (1, 1.5)), (Drop, (-2,)),
])
def test_fault_records_refuse_bad_values(fault: type, args: tuple[object, ...]) -> None:
    """Fail, RateLimit and Drop refuse statuses, counts and delays they cannot mean."""
    with pytest.raises(ValueError):
        fault(*args)


def test_fault_with_count_zero_is_skipped(make_api: MakeApi) -> None:
    """A fault entry with count 0 is a no-op in the script."""
    api = make_api(dtmf_faults=(Fail(500, 0), Fail(503)))
    assert [api.dtmf().status_code for _ in range(2)] == [503, 202]
