"""Garbage in: the sandbox answers 400 (or what aiohttp gives) and keeps serving."""

from __future__ import annotations

import json
import socket

import pytest

from ivrflow.sandbox import MAX_BODY_BYTES

from .api import Api

_AUTH = b"X-Auth-ID: MA_SANDBOX\r\nX-Auth-Token: sandbox-token\r\n"
_POST = b"POST /api/v1/Account/MA_SANDBOX/Call/c1/DTMF/ HTTP/1.1\r\nHost: sandbox\r\n"


def _status(answer: bytes) -> int:
    """The status code on the first line of a raw HTTP answer."""
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("data", [
    pytest.param(bytes(range(256)) * 4, id="binary"),
    pytest.param(b"\x00" * 100, id="nul-bytes"),
    pytest.param(bytes.fromhex("16030100a5010000a10303") + b"\x00" * 64, id="tls-hello"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", id="bad-version"),
    pytest.param(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", id="control-char-in-path"),
    pytest.param(b"GET /api/v1/Account/MA_SANDBOX/Call/?status=live HTTP/1.1\r\n"
                 + _AUTH + b"\r\n", id="http11-without-host"),
    pytest.param(_POST + _AUTH + b"Content-Length: abc\r\n\r\n", id="content-length-abc"),
    pytest.param(_POST + _AUTH + b"Content-Length: -5\r\n\r\n", id="content-length-negative"),
    pytest.param(_POST + _AUTH + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n12345",
                 id="content-length-twice"),
    pytest.param(_POST + _AUTH + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                 id="bad-chunk-size"),
    pytest.param(_POST + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n", id="header-too-long"),
    pytest.param(_POST + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
                 id="too-many-headers"),
])
def test_malformed_http_gets_400_and_serving_goes_on(api: Api, data: bytes) -> None:
    """Malformed HTTP gets aiohttp's 400; the next normal request is still accepted."""
    answer = api.raw(data)
    assert answer.startswith(b"HTTP/1.")
    assert _status(answer) == 400
    api.assert_still_serving()
    assert [h.call for h in api.sandbox.heard()] == ["after-garbage"]


@pytest.mark.parametrize("data", [
    pytest.param(b"POST /api/v1/Acc", id="request-line"),
    pytest.param(_POST + b"Content-Le", id="headers"),
    pytest.param(_POST + _AUTH + b'Content-Length: 100\r\n\r\n{"digits": "1', id="body"),
    pytest.param(_POST + _AUTH + b'Transfer-Encoding: chunked\r\n\r\n20\r\n{"dig',
                 id="chunked-body"),
])
@pytest.mark.parametrize("half_close", [False, True], ids=["close", "half-close"])
def test_truncated_request_is_survived(api: Api, data: bytes, half_close: bool) -> None:
    """A request cut short (then closed or half-closed) is not heard; serving goes on."""
    if half_close:
        assert api.raw(data, half_close=True) == b""
    else:
        api.raw_then_abort(data)
    api.assert_still_serving()
    assert [h.call for h in api.sandbox.heard()] == ["after-garbage"]


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="unclosed-object"),
    pytest.param(b"digits=1&leg=aleg", id="form-encoded"),
    pytest.param(b'{"digits": "1",}', id="trailing-comma"),
    pytest.param(b"\xff\xfe\x00\x01", id="not-utf8"),
    pytest.param('{"digits": "1"}'.encode("utf-16"), id="utf16-json"),
    pytest.param(b'\xef\xbb\xbf{"digits": "1"}', id="utf8-bom"),
    pytest.param(b"[" * 30_000 + b"]" * 30_000, id="deeply-nested"),
    pytest.param(b'{"digits": NaN}', id="nan-digits"),
    pytest.param(b"\x1f\x8b\x08\x00garbage", id="gzip-bytes"),
])
def test_bad_json_gets_400_and_serving_goes_on(api: Api, content: bytes) -> None:
    """A body that is not UTF-8 JSON with string digits gets 400; serving goes on."""
    response = api.dtmf(content=content)
    assert response.status_code == 400
    assert response.json().keys() == {"api_id", "error"}
    api.assert_still_serving()


@pytest.mark.parametrize("content", ["[]", '"1"', "1", "null", "true", '[{"digits": "1"}]'])
def test_non_object_json_gets_400(api: Api, content: str) -> None:
    """JSON that is not an object gets 400 naming the expected shape; serving goes on."""
    response = api.dtmf(content=content.encode())
    assert response.status_code == 400
    assert "object" in response.json()["error"]
    api.assert_still_serving()


def test_gzip_encoded_body_is_not_inflated(api: Api) -> None:
    """Content-Encoding: gzip is not decoded (no decompression bombs): 400."""
    headers = {**api.auth, "Content-Encoding": "gzip"}
    response = api.dtmf(content=b"\x1f\x8b\x08\x00\x00\x00\x00\x00", headers=headers)
    assert response.status_code == 400
    api.assert_still_serving()


def _padded_body(size: int) -> bytes:
    body = json.dumps({"digits": "1"}).encode()
    return body + b" " * (size - len(body))


def test_body_of_exactly_64_kib_is_accepted(api: Api) -> None:
    """A body of exactly 64 KiB (JSON padded with spaces) is read and accepted."""
    assert api.dtmf(content=_padded_body(MAX_BODY_BYTES)).status_code == 202


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 1024 * 1024])
def test_body_over_64_kib_gets_413(api: Api, size: int) -> None:
    """A declared body over 64 KiB gets 413 and is not heard; serving goes on."""
    response = api.dtmf(content=_padded_body(size))
    assert response.status_code == 413
    assert response.json().keys() == {"api_id", "error"}
    api.assert_still_serving()
    assert [h.call for h in api.sandbox.heard()] == ["after-garbage"]


def test_chunked_body_over_64_kib_gets_413(api: Api) -> None:
    """A chunked body that grows past 64 KiB gets 413 too."""
    body = _padded_body(MAX_BODY_BYTES + 4096)
    chunks = (body[i:i + 8192] for i in range(0, len(body), 8192))
    response = api.client.post(f"{api.account}/Call/c1/DTMF/", headers=api.auth,
                               content=chunks)
    assert response.status_code == 413
    assert api.sandbox.requests()[-1].status == 413
    api.assert_still_serving()


def test_big_body_on_another_path_gets_413(api: Api) -> None:
    """The 64 KiB limit holds for every path, not just DTMF."""
    response = api.client.post("/anything", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


def test_malformed_percent_escapes_in_path_are_answered(api: Api) -> None:
    """Bad percent-escapes in the path get an answer (401: not this account), no crash."""
    answer = api.raw(b"GET /api/v1/Account/%ff%00/Call/%zz/?status=live HTTP/1.1\r\n"
                     b"Host: x\r\nConnection: close\r\n" + _AUTH + b"\r\n")
    assert _status(answer) == 401
    api.assert_still_serving()


def test_non_ascii_credentials_get_401(api: Api) -> None:
    """Header bytes that are not ASCII are compared like any others: 401."""
    answer = api.raw(_POST + b"X-Auth-ID: \xff\r\nX-Auth-Token: \xfe\r\n"
                     b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")
    assert _status(answer) == 401
    api.assert_still_serving()


def test_pipelined_requests_get_answers_in_order(api: Api) -> None:
    """Two requests written at once on one connection get two answers, in order."""
    first = _POST + _AUTH + b'Content-Length: 15\r\n\r\n{"digits": "1"}'
    second = _POST + _AUTH + b'Connection: close\r\nContent-Length: 15\r\n\r\n{"digits": "X"}'
    answer = api.raw(first + second)
    assert answer.count(b"HTTP/1.1 202 ") == 1
    assert answer.count(b"HTTP/1.1 400 ") == 1
    assert answer.index(b" 202 ") < answer.index(b" 400 ")


def test_expect_100_continue_is_honoured(api: Api) -> None:
    """A client that waits for 100 Continue (like curl) gets it, then its 202."""
    head = _POST + _AUTH + (b"Expect: 100-continue\r\nConnection: close\r\n"
                            b"Content-Length: 15\r\n\r\n")
    with socket.create_connection(("127.0.0.1", api.sandbox.port), 2.0) as sock:
        sock.sendall(head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b'{"digits": "1"}')
        assert sock.recv(4096).startswith(b"HTTP/1.1 202 ")
