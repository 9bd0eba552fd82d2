"""Faults: failed, rate-limited, slow and dropped answers, alone and together."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from ivrflow.sandbox import Drop, Fail, RateLimit

from .api import Api
from .conftest import MakeApi


def _statuses(api: Api, n: int, call: str = "call-1") -> list[int | str]:
    """Send n DTMF requests; the status of each, or "dropped"."""
    out: list[int | str] = []
    for i in range(n):
        try:
            out.append(api.dtmf(call, str(i)).status_code)
        except httpx.RemoteProtocolError:
            out.append("dropped")
    return out


def test_fail_answers_the_first_requests_with_the_status(make_api: MakeApi) -> None:
    """Fail(503, 2) answers the first two DTMF requests 503, then 202."""
    api = make_api(dtmf_faults=(Fail(503, 2),))
    assert _statuses(api, 3) == [503, 503, 202]
    assert api.sandbox.dtmf_requests() == 3


def test_fail_answer_has_an_error_body(make_api: MakeApi) -> None:
    """A faulted answer carries the Plivo-style {"api_id", "error"} body."""
    api = make_api(dtmf_faults=(Fail(502),))
    response = api.dtmf()
    assert response.status_code == 502
    assert response.json().keys() == {"api_id", "error"}


@pytest.mark.parametrize(("status", "heard"), [
    (500, True), (502, True), (504, True), (503, False), (400, False), (501, False),
])
def test_failed_digits_are_heard_only_when_played_then_failed(
        make_api: MakeApi, status: int, heard: bool) -> None:
    """500/502/504 count the digits as heard (marked); 503, 501 and 4xx do not."""
    api = make_api(dtmf_faults=(Fail(status),))
    assert api.dtmf("call-1", "42").status_code == status
    expected = [("42", str(status))] if heard else []
    assert [(h.digits, h.fault) for h in api.sandbox.heard()] == expected
    assert api.sandbox.requests()[-1].fault == str(status)


def test_fails_apply_in_the_order_given(make_api: MakeApi) -> None:
    """Several Fail entries are used up one after the other, in order."""
    api = make_api(dtmf_faults=(Fail(500), Fail(503, 2), Fail(504)))
    assert _statuses(api, 5) == [500, 503, 503, 504, 202]


def test_rate_limit_answers_429_with_retry_after(make_api: MakeApi) -> None:
    """RateLimit(2, retry_after=3) answers two 429s with Retry-After: 3, unheard."""
    api = make_api(dtmf_faults=(RateLimit(2, retry_after=3),))
    first, second, third = api.dtmf(), api.dtmf(), api.dtmf()
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 202)
    assert first.headers["retry-after"] == "3"
    assert first.json()["error"] == "Rate limit exceeded"
    assert "retry-after" not in third.headers
    assert [h.fault for h in api.sandbox.heard()] == [None]


def test_rate_limit_can_leave_retry_after_out(make_api: MakeApi) -> None:
    """RateLimit(retry_after=None) answers 429 without a Retry-After header."""
    api = make_api(dtmf_faults=(RateLimit(1, retry_after=None),))
    response = api.dtmf()
    assert response.status_code == 429
    assert "retry-after" not in response.headers


def test_latency_delays_every_answer(make_api: MakeApi) -> None:
    """latency=0.2 makes DTMF, GET, 404 and 401 answers all take at least 0.2 s."""
    api = make_api(latency=0.2)
    sends: list[Callable[[], httpx.Response]] = [
        api.dtmf, api.live, lambda: api.client.get("/nowhere"),
        lambda: api.dtmf(headers={})]
    for send in sends:
        start = time.monotonic()
        send()
        assert time.monotonic() - start >= 0.19


def test_drop_closes_the_connection_without_answer(make_api: MakeApi) -> None:
    """Drop reads the request, closes the connection unanswered, and the digits are heard."""
    api = make_api(dtmf_faults=(Drop(1),))
    with pytest.raises(httpx.RemoteProtocolError):
        api.dtmf("call-1", "77")
    assert api.dtmf("call-1", "88").status_code == 202
    heard = api.sandbox.heard()
    assert [(h.digits, h.fault) for h in heard] == [("77", "drop"), ("88", None)]
    dropped = api.sandbox.requests()[0]
    assert (dropped.status, dropped.fault, dropped.digits) == (None, "drop", "77")


def test_drop_works_on_a_reused_keepalive_connection(make_api: MakeApi) -> None:
    """A drop on a kept-alive connection loses only that request; the next one succeeds."""
    api = make_api(dtmf_faults=(Fail(503), Drop(2)))
    assert _statuses(api, 4) == [503, "dropped", "dropped", 202]


def test_live_fail_fails_the_live_get(make_api: MakeApi) -> None:
    """live_fail=2 answers the first two live-call GETs 503, then 200."""
    api = make_api(live_fail=2)
    assert [api.live().status_code for _ in range(3)] == [503, 503, 200]
    assert api.dtmf().status_code == 202
    assert [r.fault for r in api.sandbox.requests()][:3] == ["503", "503", None]


def test_live_fail_status_is_configurable(make_api: MakeApi) -> None:
    """live_fail_status picks the status of the failed live-call GETs."""
    api = make_api(live_fail=1, live_fail_status=500)
    response = api.live()
    assert response.status_code == 500
    assert response.json().keys() == {"api_id", "error"}


def test_faults_are_not_used_up_by_refused_requests(make_api: MakeApi) -> None:
    """400, 401 and 404 answers leave the fault script where it was."""
    api = make_api(dtmf_faults=(Fail(503),), live_after=0.2, live_fail=1)
    assert api.dtmf(digits="X").status_code == 400
    assert api.dtmf(headers={}).status_code == 401
    assert api.dtmf().status_code == 404
    assert api.live().status_code == 404
    time.sleep(0.3)
    assert api.dtmf().status_code == 503
    assert api.live().status_code == 503
    assert api.dtmf().status_code == 202


def test_faults_combine(make_api: MakeApi) -> None:
    """A script of 429, 503 and drop, with latency and a live fault, plays out in order."""
    api = make_api(dtmf_faults=(RateLimit(1, retry_after=0), Fail(503), Drop(1)),
                   latency=0.05, live_fail=1)
    assert api.live().status_code == 503
    assert api.live().status_code == 200
    start = time.monotonic()
    assert _statuses(api, 4) == [429, 503, "dropped", 202]
    assert time.monotonic() - start >= 4 * 0.05 - 0.01
    assert [h.fault for h in api.sandbox.heard()] == ["drop", None]
    assert api.sandbox.dtmf_requests() == 4


def test_dtmf_requests_counts_every_post_per_call(make_api: MakeApi) -> None:
    """dtmf_requests() counts all DTMF POSTs, faulted or refused, in total or per call."""
    api = make_api(dtmf_faults=(Fail(503),))
    api.dtmf("a")
    api.dtmf("a", digits="bad")
    api.dtmf("b")
    api.dtmf("b", headers={})
    api.live("a")
    assert api.sandbox.dtmf_requests() == 4
    assert api.sandbox.dtmf_requests("a") == 2
    assert api.sandbox.dtmf_requests("b") == 2
    assert api.sandbox.dtmf_requests("c") == 0


def test_requests_records_every_request(make_api: MakeApi) -> None:
    """requests() holds each request's method, path, call, digits, leg, status and fault."""
    api = make_api(dtmf_faults=(Fail(500),))
    before_wall, before = time.time(), time.monotonic()
    api.dtmf("c1", "12", leg="bleg")
    api.live("c1")
    api.client.get("/nowhere")
    records = api.sandbox.requests()
    assert [(r.method, r.path, r.call, r.digits, r.leg, r.status, r.fault)
            for r in records] == [
        ("POST", f"{api.account}/Call/c1/DTMF/", "c1", "12", "bleg", 500, "500"),
        ("GET", f"{api.account}/Call/c1/?status=live", "c1", None, None, 200, None),
        ("GET", "/nowhere", None, None, None, 404, None),
    ]
    assert before <= records[0].t <= records[1].t <= records[2].t <= time.monotonic()
    assert before_wall - 1 <= records[0].wall <= time.time() + 1
