"""The sandbox's Make Call: what it refuses (400, nothing dialled), and a call whose
answer URL is down (it ends, as on Vobiz). Placing calls end to end, with the signed
callbacks and the run that drives them, is in tests/engine/test_placing_calls.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .api import Api


@pytest.mark.parametrize(("body", "says"), [
    ({}, "from is required"),
    ({"from": "14155550123"}, "to is required"),
    ({"from": "1", "to": "18005550100", "answer_url": "http://127.0.0.1:9/a"}, "from is"),
    ({"from": "14155550123", "to": "18005550100"}, "answer_url is required"),
    ({"from": "14155550123", "to": "18005550100", "answer_url": "https://127.0.0.1/a"},
     "only http:// URLs on loopback"),
    ({"from": "14155550123", "to": "18005550100", "answer_url": "http://10.1.1.1/a"},
     "only http:// URLs on loopback"),
    ({"from": "14155550123", "to": "18005550100", "answer_url": "http://127.0.0.1:9/a",
      "hangup_url": "http://example.com/h"}, "hangup_url: the sandbox calls back only"),
    ({"from": "14155550123", "to": "18005550100", "answer_url": "http://127.0.0.1:9/a",
      "answer_method": "PUT"}, "answer_method must be POST or GET"),
    ({"from": ["x"], "to": "18005550100", "answer_url": "http://127.0.0.1:9/a"}, "from is"),
])
def test_make_call_refuses_what_it_cannot_dial_and_dials_nothing(
        api: Api, body: dict[str, Any], says: str) -> None:
    answer = api.client.post(f"{api.account}/Call/", headers=api.auth, json=body)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert api.sandbox.placed() == []


def test_make_call_to_a_callback_url_that_is_down_ends_the_call(api: Api) -> None:
    """An answer URL that cannot be reached: no XML, so the call ends, as on Vobiz."""
    answer = api.client.post(f"{api.account}/Call/", headers=api.auth, json={
        "from": "14155550123", "to": "18005550100", "answer_url": "http://127.0.0.1:9/a"})
    assert answer.status_code == 201
    assert answer.json()["message"] == "Call fired"
    end = time.monotonic() + 5
    while time.monotonic() < end and (not api.sandbox.placed()
                                      or api.sandbox.placed()[0].status != "completed"):
        time.sleep(0.02)
    placed = api.sandbox.placed()[0]
    assert placed.status == "completed"
    assert not api.sandbox.is_live(placed.call_uuid)
