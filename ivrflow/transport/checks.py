"""What the adapter checks before anything is sent: the API's base URL, the credentials
and a call id, each refused with `InvalidInput` in words that never echo a secret."""

from __future__ import annotations

import os
import re
import ssl

import httpx

from ivrflow.errors import InvalidInput

DEFAULT_API_URL = "https://api.vobiz.ai"
CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
CREDENTIAL = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no spaces or line breaks
AUTH_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def check_call_id(call: str) -> str:
    """A call id safe to put in a URL path; anything else is invalid input."""
    if not CALL_ID.fullmatch(call):
        raise InvalidInput(f"invalid call id {call!r}: use 1-128 letters, digits, '-' or '_', "
                           "starting with a letter or digit")
    return call


def check_api_url(url: str) -> str:
    """An https base URL without a path, query or credentials (http only on loopback)."""
    if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise InvalidInput("invalid API URL: it carries credentials; give them in "
                           "VOBIZ_AUTH_ID and VOBIZ_AUTH_TOKEN instead")
    try:
        parsed = httpx.URL(url)
        scheme, host, path, port = parsed.scheme, parsed.host, parsed.path, parsed.port
    except Exception:
        scheme = host = path = ""
        port = -1
    if (scheme not in ("http", "https") or not host or "?" in url or "#" in url
            or path not in ("", "/") or not (port is None or 0 < port < 65536)):
        raise InvalidInput(f"invalid API URL {url!r}: give a base URL such as "
                           f"{DEFAULT_API_URL} or http://127.0.0.1:8765")
    if scheme == "http" and host not in LOOPBACK:
        raise InvalidInput(f"invalid API URL {url!r}: use https (plain http would send the "
                           "auth token in clear; it is allowed only for 127.0.0.1)")
    return url.rstrip("/")


def check_public_base(url: str, option: str, *, secure: str, plain: str, example: str,
                      what: str) -> str:
    """A public base address at which Vobiz reaches ivrflow's listener (`--stream-url`,
    `--public-url`): scheme `secure` (`plain` only on loopback, since `what` would travel
    in clear), a host, no query, fragment or credentials; returned without a trailing /."""
    try:
        parsed = httpx.URL(url)
        scheme, host = parsed.scheme, parsed.host
    except Exception:
        scheme = host = ""
    if scheme not in (secure, plain) or not host or "?" in url or "#" in url \
            or "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise InvalidInput(f"{option} {url!r}: give the public {secure}:// address at which "
                           f"Vobiz reaches the listener, such as {example} (a tunnel or "
                           "reverse proxy to --listen)")
    if scheme == plain and host not in LOOPBACK:
        raise InvalidInput(f"{option} {url!r}: use {secure}:// ({what} would travel in "
                           f"clear; {plain}:// is allowed only for 127.0.0.1)")
    return url.rstrip("/")


def check_credentials(auth_id: str, auth_token: str) -> None:
    """Credentials that can go in a URL path and an HTTP header; never echoes the token."""
    if not AUTH_ID.fullmatch(auth_id):
        raise InvalidInput("VOBIZ_AUTH_ID is not a valid account id (letters, digits, '_', "
                           "'-' and '.', like MA_XXXXXXXX)")
    if not CREDENTIAL.fullmatch(auth_token):
        raise InvalidInput("VOBIZ_AUTH_TOKEN holds spaces, line breaks or non-ASCII "
                           "characters; check how it was set")


def tls_context() -> ssl.SSLContext:
    """The TLS context both engines verify the API with: httpx's choice of CA bundle
    (`SSL_CERT_FILE` or `SSL_CERT_DIR` when set, else certifi's). A setting that names
    nothing readable is invalid input, refused before any request."""
    try:
        return httpx.create_ssl_context()
    except (OSError, ssl.SSLError) as exc:
        name = "SSL_CERT_FILE" if os.environ.get("SSL_CERT_FILE") else "SSL_CERT_DIR"
        where = os.environ.get(name, "")
        why = ("it holds no CA certificate" if isinstance(exc, ssl.SSLError)
               else exc.strerror or "it cannot be read")
        raise InvalidInput(f"{name}={where!r} cannot be used to verify the API's TLS "
                           f"certificate ({why}): point it at a PEM CA bundle, or unset "
                           "it") from None
