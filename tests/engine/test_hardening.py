"""The HTTP adapter and the run command against hostile answers and careless input:
typed outcomes instead of crashes, and neither the token nor a secret in any output."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ivrflow.errors import InvalidInput
from ivrflow.transport.base import AuthDenied, Rejected
from ivrflow.transport.checks import check_api_url
from ivrflow.transport.vobiz import VobizTransport

from .conftest import FAST, Run, Start

TOKEN = "tok-SENTINEL-9"


def adapter(handler) -> VobizTransport:  # type: ignore[no-untyped-def]
    client = httpx.AsyncClient(base_url="http://127.0.0.1:9",
                               transport=httpx.MockTransport(handler))
    return VobizTransport(auth_id="MA_X", auth_token=TOKEN, api_url="http://127.0.0.1:9",
                          client=client)


def ask(handler, live: bool = False):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        async with adapter(handler) as transport:
            if live:
                return await transport.live("c")
            return await transport.send_digits("c", "1", "aleg")
    return asyncio.run(main())


def test_absurdly_nested_error_body_is_read_safely() -> None:
    """A 400 whose body is deeply nested JSON still gives a typed outcome."""
    outcome = ask(lambda r: httpx.Response(400, content=b"[" * 100_000))
    assert isinstance(outcome, Rejected) and outcome.message == "HTTP 400 Bad Request"


def test_token_and_control_characters_are_scrubbed_from_api_messages() -> None:
    """An error body echoing the token or carrying terminal escapes is cleaned."""
    body = {"error": f"bad token {TOKEN}\x1b[2J"}
    outcome = ask(lambda r: httpx.Response(401, json=body))
    assert isinstance(outcome, AuthDenied)
    assert TOKEN not in outcome.message and "\x1b" not in outcome.message
    assert "****" in outcome.detail and TOKEN not in outcome.detail


@pytest.mark.parametrize("url", [
    "http://api.example.com", "https://MA_X:tok@api.vobiz.ai", "http://127.0.0.1:99999",
    "http://xn--/", "https://api.vobiz.ai/?", "https://api.vobiz.ai/v2", "ftp://x"])
def test_bad_api_urls_are_refused(url: str) -> None:
    """Only https base URLs (http on loopback) pass; the message never echoes credentials."""
    with pytest.raises(InvalidInput) as caught:
        check_api_url(url)
    assert "MA_X:tok" not in str(caught.value)


@pytest.mark.parametrize(("auth_id", "token"), [
    ("../../evil", "t"), ("MA_X?x=", "t"), ("MÄ", "t"), ("MA_X", "tok\nline2"),
    ("MA_X", "tök"), ("MA_X", "two words")])
def test_bad_credentials_exit_2_before_any_request(sandbox: Start, run_cli: Run,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   auth_id: str, token: str) -> None:
    """Credentials that could bend the path or a header are refused, never echoed."""
    box = sandbox()
    monkeypatch.setenv("VOBIZ_AUTH_ID", auth_id)
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", token)
    monkeypatch.setenv("VOBIZ_API_URL", box.url)
    result = run_cli(None, FAST + "steps:\n  - send: '1'\n")
    assert result.code == 2
    assert box.requests() == []
    assert token not in result.err or token == "t"


def test_json_mode_redacts_a_token_that_json_would_escape(sandbox: Start, run_cli: Run) -> None:
    """A token with characters JSON escapes is still redacted in --json output."""
    token = 'tok\\"SENTINEL'
    box = sandbox(auth_token=token)
    result = run_cli(box, FAST + "steps:\n  - send: '1'\n", "--json", token="wrong" + token)
    assert result.code == 4
    assert "SENTINEL" not in result.out + result.err


def test_jsonl_secret_number_is_not_echoed(sandbox: Start, run_cli: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A secret given as a JSON number is refused without printing it."""
    path = tmp_path / "calls.jsonl"
    path.write_text('{"call": "c1", "pin": 86753091}\n')
    flow = FAST + "vars: {pin: {secret: true}}\nsteps:\n  - send: '${pin}'\n"
    result = run_cli(sandbox(), flow, "--calls", str(path), call=None)
    assert result.code == 2 and "86753091" not in result.err
    assert '"pin" must be a string, not a number; quote it' in result.err


@pytest.mark.parametrize("http_engine", ["aiohttp", "httpx"])  # run_cli's engine
@pytest.mark.parametrize(("variable", "value", "why"), [
    ("SSL_CERT_FILE", "/nonexistent/ca.pem", "No such file or directory"),
    ("SSL_CERT_FILE", "/etc/hostname", "it holds no CA certificate")])
def test_an_unusable_ca_bundle_setting_is_refused_before_any_request(
        run_cli: Run, monkeypatch: pytest.MonkeyPatch, http_engine: str, variable: str,
        value: str, why: str) -> None:
    """SSL_CERT_FILE naming nothing usable: exit 2 naming the variable and what to do,
    on both engines, rather than an internal error once the run began."""
    monkeypatch.setenv("VOBIZ_AUTH_ID", "MA_X")
    monkeypatch.setenv("VOBIZ_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv(variable, value)
    result = run_cli(None, FAST + "steps:\n  - send: '1'\n", "--api-url",
                     "https://127.0.0.1:9")
    assert result.code == 2
    assert result.err.startswith(f"ivrflow: {variable}='{value}' cannot be used")
    assert why in result.err and "unset it" in result.err and "_ssl.c" not in result.err
    assert "internal error" not in result.err and "attempt" not in result.err
