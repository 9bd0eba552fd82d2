"""Calls: the live-call GET, the list, hanging up, and when a call is live."""

from __future__ import annotations

import time

import pytest

from .api import Api
from .conftest import MakeApi

LIVE_KEYS = {"api_id", "call_status", "call_uuid", "caller_name", "direction", "from",
             "to", "request_uuid", "session_start", "stir_attestation",
             "stir_verification"}


def test_live_call_get_reports_the_call_in_progress(api: Api) -> None:
    """GET .../Call/{uuid}/?status=live answers 200 with the documented fields."""
    response = api.live("call-9")
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == LIVE_KEYS
    assert body["call_status"] == "in-progress"
    assert body["call_uuid"] == "call-9"


def test_live_call_keeps_its_request_uuid(api: Api) -> None:
    """The same call reports the same request_uuid and session_start every time."""
    first, second = api.live().json(), api.live().json()
    assert first["request_uuid"] == second["request_uuid"]
    assert first["session_start"] == second["session_start"]
    assert first["api_id"] != second["api_id"]


@pytest.mark.parametrize("query", ["", "?status=completed", "?state=live"])
def test_live_call_get_needs_status_live(api: Api, query: str) -> None:
    """Without ?status=live the call GET is refused with 400."""
    response = api.live(query=query)
    assert response.status_code == 400
    assert "status=live" in response.json()["error"]


def test_list_needs_status_live(api: Api) -> None:
    """GET .../Call/ without ?status=live is refused with 400."""
    response = api.client.get(f"{api.account}/Call/", headers=api.auth)
    assert response.status_code == 400


def test_list_shows_live_calls_only(api: Api) -> None:
    """GET .../Call/?status=live lists the live calls' ids, not the hung-up ones."""
    api.dtmf("a")
    api.live("b")
    api.dtmf("c")
    api.hangup("b")
    body = api.calls().json()
    assert body.keys() == {"api_id", "calls"}
    assert body["calls"] == ["a", "c"]


def test_calls_need_credentials(api: Api) -> None:
    """The call endpoints refuse missing credentials with 401 too."""
    assert api.client.get(f"{api.account}/Call/c/?status=live").status_code == 401
    assert api.client.get(f"{api.account}/Call/?status=live").status_code == 401
    assert api.client.delete(f"{api.account}/Call/c/").status_code == 401
    assert api.sandbox.live_calls() == []


def test_delete_hangs_up_with_204(api: Api) -> None:
    """DELETE answers 204 with no body; the call is then gone for GET, DTMF and DELETE."""
    api.dtmf()
    response = api.hangup()
    assert response.status_code == 204
    assert response.content == b""
    assert api.live().status_code == 404
    assert api.dtmf().status_code == 404
    assert api.hangup().status_code == 404


def test_python_hangup_ends_a_call(api: Api) -> None:
    """Sandbox.hangup() ends a live call (True), then reports it was not live (False)."""
    assert api.live().status_code == 200
    assert api.sandbox.hangup("call-1") is True
    assert api.live().status_code == 404
    assert api.sandbox.hangup("call-1") is False
    assert api.sandbox.is_live("call-1") is False


def test_python_hangup_of_an_unknown_call_keeps_it_dead(api: Api) -> None:
    """A call hung up before any request names it is never live."""
    assert api.sandbox.hangup("ghost") is False
    assert api.live("ghost").status_code == 404


def test_mark_live_overrides_never_live(make_api: MakeApi) -> None:
    """Sandbox.mark_live() makes a call live although the config says never."""
    api = make_api(never_live=True)
    assert api.live().status_code == 404
    api.sandbox.mark_live("call-1")
    assert api.live().status_code == 200
    assert api.dtmf().status_code == 202
    assert api.live("call-2").status_code == 404


def test_mark_live_revives_a_hung_up_call(api: Api) -> None:
    """mark_live() after a hangup makes the call live again."""
    api.sandbox.hangup("call-1")
    api.sandbox.mark_live("call-1")
    assert api.live().status_code == 200


def test_live_after_delays_liveness(make_api: MakeApi) -> None:
    """With live_after, a call is 404 until that long after its first request, then 200."""
    api = make_api(live_after=0.2)
    assert api.live().status_code == 404
    assert api.dtmf().status_code == 404
    assert api.calls().json()["calls"] == []
    time.sleep(0.3)
    assert api.live().status_code == 200
    assert api.dtmf("call-1", "2").status_code == 202
    [heard] = api.sandbox.heard()
    assert 0.2 <= heard.offset < 2.0


def test_live_after_counts_from_the_first_request_of_each_call(make_api: MakeApi) -> None:
    """Each call's own first request starts its clock."""
    api = make_api(live_after=0.2)
    api.live("early")
    time.sleep(0.3)
    assert api.live("early").status_code == 200
    assert api.live("late").status_code == 404


def test_first_request_that_starts_the_clock_can_be_a_dtmf(make_api: MakeApi) -> None:
    """A refused DTMF request (even with bad digits) starts the call's clock."""
    api = make_api(live_after=0.2)
    assert api.dtmf(digits="X").status_code == 400
    time.sleep(0.3)
    assert api.live().status_code == 200


def test_never_live_calls_are_always_404(make_api: MakeApi) -> None:
    """With never_live, every GET, DTMF and DELETE on a call is 404."""
    api = make_api(never_live=True)
    assert api.live().status_code == 404
    assert api.dtmf().status_code == 404
    assert api.hangup().status_code == 404
    assert api.calls().json()["calls"] == []


def test_hangup_after_ends_calls(make_api: MakeApi) -> None:
    """With hangup_after, a call is live, then 404 once that long has passed."""
    api = make_api(hangup_after=0.2)
    assert api.live().status_code == 200
    assert api.dtmf().status_code == 202
    time.sleep(0.3)
    assert api.live().status_code == 404
    assert api.dtmf().status_code == 404
    assert len(api.sandbox.heard()) == 1


def test_live_after_and_hangup_after_make_a_window(make_api: MakeApi) -> None:
    """live_after and hangup_after together make a call live only between the two."""
    api = make_api(live_after=0.15, hangup_after=0.45)
    assert api.live().status_code == 404
    time.sleep(0.25)
    assert api.live().status_code == 200
    time.sleep(0.3)
    assert api.live().status_code == 404


def test_heard_offset_counts_from_the_calls_first_request(api: Api) -> None:
    """Heard.offset is the time since the call's first request, t the monotonic receipt."""
    before = time.monotonic()
    api.live("call-1")
    time.sleep(0.2)
    api.dtmf("call-1", "3")
    after = time.monotonic()
    [heard] = api.sandbox.heard()
    assert 0.2 <= heard.offset <= after - before
    assert before + 0.2 <= heard.t <= after
