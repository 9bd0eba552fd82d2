"""The DTMF endpoint: what it accepts, what it refuses, and with which status."""

from __future__ import annotations

import uuid

import pytest

from .api import Api
from .conftest import MakeApi


def _api_id_ok(body: dict[str, object]) -> bool:
    return uuid.UUID(str(body["api_id"])).version == 4


def test_accepts_digits_with_202(api: Api) -> None:
    """Valid digits on a live call get 202 {"api_id": uuid4, "message": "digits sent"}."""
    response = api.dtmf("call-1", "1234#")
    assert response.status_code == 202
    body = response.json()
    assert body.keys() == {"api_id", "message"}
    assert body["message"] == "digits sent"
    assert _api_id_ok(body)
    assert response.headers["content-type"].startswith("application/json")


def test_every_answer_has_its_own_api_id(api: Api) -> None:
    """Two answers never share an api_id."""
    assert api.dtmf().json()["api_id"] != api.dtmf().json()["api_id"]


def test_heard_records_call_leg_and_digits(api: Api) -> None:
    """An accepted request appears in heard() with its call, default leg aleg and no fault."""
    api.dtmf("call-7", "1w2W3*#")
    [heard] = api.sandbox.heard()
    assert (heard.call, heard.leg, heard.digits, heard.fault) == (
        "call-7", "aleg", "1w2W3*#", None)


@pytest.mark.parametrize("leg", ["aleg", "bleg", "both"])
def test_accepts_each_leg(api: Api, leg: str) -> None:
    """aleg, bleg and both are accepted and heard on that leg."""
    assert api.dtmf(digits="9", leg=leg).status_code == 202
    assert [h.leg for h in api.sandbox.heard()] == [leg]


@pytest.mark.parametrize("digits", [
    "", "12A", "1 2", "1\n", "\u0661\u0662", "1-2", "abc", "D", 123, 1.5, True, ["1"],
    {"d": "1"},
])
def test_refuses_invalid_digits_with_400(api: Api, digits: object) -> None:
    """Digits outside ^[0-9*#wW]+$ (or not a string) get 400 with an error body, unheard."""
    response = api.dtmf(digits=digits)
    assert response.status_code == 400
    body = response.json()
    assert body.keys() == {"api_id", "error"} and "digits" in body["error"]
    assert api.sandbox.heard() == []


@pytest.mark.parametrize("body", [{}, {"leg": "aleg"}, {"digits": None}])
def test_refuses_missing_digits_with_400(api: Api, body: dict[str, object]) -> None:
    """A body without digits gets 400 "digits is required"."""
    response = api.dtmf(body=body)
    assert response.status_code == 400
    assert response.json()["error"] == "digits is required"


@pytest.mark.parametrize("leg", ["cleg", "ALEG", "", 1, None, ["aleg"], True])
def test_refuses_invalid_leg_with_400(api: Api, leg: object) -> None:
    """A leg other than the strings aleg, bleg, both gets 400, unheard."""
    response = api.dtmf(digits="1", leg=leg)
    assert response.status_code == 400
    assert "leg" in response.json()["error"]
    assert api.sandbox.heard() == []


@pytest.mark.parametrize("headers", [
    {},
    {"X-Auth-ID": "MA_SANDBOX"},
    {"X-Auth-Token": "sandbox-token"},
    {"X-Auth-ID": "MA_OTHER", "X-Auth-Token": "sandbox-token"},
    {"X-Auth-ID": "MA_SANDBOX", "X-Auth-Token": "wrong"},
    {"X-Auth-ID": "ma_sandbox", "X-Auth-Token": "sandbox-token"},
])
def test_refuses_missing_or_wrong_credentials_with_401(
        api: Api, headers: dict[str, str]) -> None:
    """Missing or wrong X-Auth-ID / X-Auth-Token get 401 and nothing is heard."""
    response = api.dtmf(headers=headers)
    assert response.status_code == 401
    assert response.json().keys() == {"api_id", "error"}
    assert api.sandbox.heard() == []


def test_refuses_path_account_other_than_header_with_401(api: Api) -> None:
    """Good headers but another account id in the path get 401."""
    response = api.dtmf(path="/api/v1/Account/MA_OTHER/Call/call-1/DTMF/")
    assert response.status_code == 401
    assert "account" in response.json()["error"]


def test_accepts_other_credentials_when_configured(make_api: MakeApi) -> None:
    """auth_id/auth_token in the config replace the demo credentials."""
    api = make_api(auth_id="MA_TEST42", auth_token="s3cret")
    assert api.dtmf().status_code == 202
    demo = {"X-Auth-ID": "MA_SANDBOX", "X-Auth-Token": "sandbox-token"}
    assert api.dtmf(headers=demo, path="/api/v1/Account/MA_SANDBOX/Call/c/DTMF/"
                    ).status_code == 401


@pytest.mark.parametrize("path", [
    "/api/v1/account/MA_SANDBOX/Call/call-1/DTMF/",
    "/api/v1/Account/MA_SANDBOX/call/call-1/DTMF/",
    "/api/v1/Account/MA_SANDBOX/Call/call-1/dtmf/",
    "/api/v1/ACCOUNT/MA_SANDBOX/CALL/call-1/Dtmf",
])
def test_refuses_lowercase_path_with_401(api: Api, path: str) -> None:
    """A mis-cased path is answered 401, not 404, even with good credentials."""
    response = api.dtmf(path=path)
    assert response.status_code == 401
    assert "case" in response.json()["error"]
    assert api.sandbox.heard() == []


def test_refuses_call_that_is_not_live_with_404(make_api: MakeApi) -> None:
    """A DTMF request on a call that is not live gets 404, unheard."""
    api = make_api(never_live=True)
    response = api.dtmf()
    assert response.status_code == 404
    assert response.json().keys() == {"api_id", "error"}
    assert api.sandbox.heard() == []


@pytest.mark.parametrize("slash", ["/", ""])
def test_trailing_slash_is_optional(api: Api, slash: str) -> None:
    """Every endpoint answers the same with or without the trailing slash."""
    base = f"{api.account}/Call"
    assert api.dtmf(path=f"{base}/c1/DTMF{slash}").status_code == 202
    assert api.client.get(f"{base}/c1{slash}?status=live",
                          headers=api.auth).status_code == 200
    assert api.client.get(f"{base}{slash}?status=live",
                          headers=api.auth).json()["calls"] == ["c1"]
    assert api.client.delete(f"{base}/c1{slash}", headers=api.auth).status_code == 204


@pytest.mark.parametrize("path", [
    "/",
    "/api/v1/",
    "/api/v1/Account/MA_SANDBOX/",
    "/api/v1/Account/MA_SANDBOX/Call/c1/DTMF/extra/",
    "/api/v2/Account/MA_SANDBOX/Call/c1/DTMF/",
    "/api/v1/Account/MA_SANDBOX/Call//DTMF/",
    "/api/v1/Account/MA_SANDBOX/Call/c1/Speak/",
    "/api/v1/Account/MA_SANDBOX/Call/c1/DTMF//",
])
def test_unknown_paths_get_404(api: Api, path: str) -> None:
    """Any path that is not one of the three endpoints gets 404 with an error body."""
    response = api.client.post(path, headers=api.auth, json={"digits": "1"})
    assert response.status_code == 404
    assert response.json().keys() == {"api_id", "error"}
    assert api.sandbox.heard() == []


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/Call/c1/DTMF/", "POST"),
    ("PUT", "/Call/c1/DTMF/", "POST"),
    ("DELETE", "/Call/c1/DTMF/", "POST"),
    ("POST", "/Call/c1/", "GET, DELETE"),
    ("PATCH", "/Call/c1/", "GET, DELETE"),
    ("PUT", "/Call/", "GET, POST"),
    ("DELETE", "/Call/", "GET, POST"),
])
def test_wrong_method_gets_405(api: Api, method: str, path: str, allow: str) -> None:
    """A known path with a method it does not serve gets 405 and an Allow header."""
    response = api.client.request(method, f"{api.account}{path}", headers=api.auth)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json().keys() == {"api_id", "error"}


def test_extra_body_keys_are_ignored(api: Api) -> None:
    """Unknown keys beside digits and leg do not matter."""
    response = api.dtmf(body={"digits": "1", "leg": "bleg", "tone_ms": 300})
    assert response.status_code == 202
    assert api.sandbox.heard()[0].leg == "bleg"


def test_percent_encoded_call_id_is_decoded(api: Api) -> None:
    """A call id is taken from the path percent-decoded, as the API would see it."""
    assert api.dtmf(path=f"{api.account}/Call/call%201/DTMF/").status_code == 202
    assert api.sandbox.heard()[0].call == "call 1"
