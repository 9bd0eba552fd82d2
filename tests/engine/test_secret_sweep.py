"""Sentinel secrets over every output: a secret (or the auth token) never shows, and a
short one never garbles ivrflow's own words.

The check is differential. Everything ivrflow prints for one sentinel (human and
`--json` runs, retries and refusals, the plan, the dry run, validate, the errors for
bad values, `ivrflow test` and its JUnit report, `run --sandbox`'s heard list) is
collected; then all of it again for another sentinel of the same length. With timings
and ports set aside the two must be identical: a secret shown anywhere, or a digit of
ivrflow's own text masked because it happens to equal a secret, makes them differ. The
16-digit sentinel must also be absent outright.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.sandbox import Fail, Sandbox, SandboxConfig

FLOW = """\
version: 1
name: sec{A}
tone: 0
retry: {{backoff: 50ms, max_backoff: 200ms}}
vars:
  pin: {{secret: true}}
steps:
  - send: "{A}"
  - send: "${{pin}}#"
  - send: "{A}"
"""

MENU = """\
version: 1
name: m
start: a
nodes:
  a: {prompt: 1s, collect: {end: "#", max: 20}, next: b}
  b: {prompt: 1s, end: true}
  c: {prompt: 1s, end: true}
"""

_VARYING = [  # in this order: a port before the numbers, an exponent before a decimal
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"), "TIMESTAMP"),  # JUnit's
    (re.compile(r"\d+(\.\d+)?e-?\d+"), "N.N"),
    (re.compile(r"\d+\.\d+"), "N.N"),
    (re.compile(r"\b\d+ ?ms\b"), "N ms"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
]


def _normal(text: str) -> str:
    for pattern, placeholder in _VARYING:
        text = pattern.sub(placeholder, text)
    return text


@pytest.fixture
def everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> Iterator[object]:
    monkeypatch.chdir(tmp_path)

    def collect(first: str, secret: str, token: str) -> str:
        """All output for sentinel `secret` and auth token `token`; `first` is the
        sentinel of the pair, used for the literal sends and the flow's name."""
        shown: list[str] = []

        def ivrflow(*argv: str) -> None:
            capsys.readouterr()
            code = main(list(argv))
            captured = capsys.readouterr()
            shown.append(f"$ ivrflow {argv[0]} -> {code}\n{captured.out}{captured.err}")

        Path("flow.yaml").write_text(FLOW.format(A=first))
        config = SandboxConfig(auth_token=token, dtmf_faults=(Fail(503),))
        with Sandbox.start_in_thread(config) as box:
            monkeypatch.setenv("VOBIZ_API_URL", box.url)
            monkeypatch.setenv("VOBIZ_AUTH_ID", box.auth_id)
            monkeypatch.setenv("VOBIZ_AUTH_TOKEN", token)
            ivrflow("run", "flow.yaml", "--call", "c-1", "--var", f"pin={secret}")
            ivrflow("run", "flow.yaml", "--call", "c-2", "--var", f"pin={secret}", "--json")
            ivrflow("run", "flow.yaml", "--call", "c-3", "--var", f"pin={secret}",
                    "--dry-run")
            monkeypatch.setenv("VOBIZ_AUTH_TOKEN", token + token)  # refused: 401
            ivrflow("run", "flow.yaml", "--call", "c-4", "--var", f"pin={secret}")
            monkeypatch.setenv("VOBIZ_AUTH_TOKEN", token)
        ivrflow("run", "flow.yaml", "--call", "c-5", "--var", f"pin={secret}", "--sandbox")
        ivrflow("plan", "flow.yaml", "--var", f"pin={secret}")
        # values refused: a bad shape, a pattern, a YAML trap in a vars file
        ivrflow("plan", "flow.yaml", "--var", f"pin:{secret}")
        Path("strict.yaml").write_text(FLOW.format(A=first).replace(
            "{secret: true}", "{secret: true, pattern: '^[*]{30}$'}"))
        ivrflow("plan", "strict.yaml", "--var", f"pin={secret}")
        Path("vars.yaml").write_text(f"pin: 0{secret}\n")
        ivrflow("plan", "flow.yaml", "--vars-file", "vars.yaml")
        # a secret's default, quoted and unquoted, beside a problem elsewhere
        for default in (f"'{secret}'", f"0{secret}"):
            Path("default.yaml").write_text(FLOW.format(A=first).replace(
                "{secret: true}", f"{{secret: true, default: {default}}}").replace(
                "tone: 0", "tone: often"))
            ivrflow("validate", "default.yaml")
            ivrflow("validate", "default.yaml", "--format", "json")
        # ivrflow test: the secret in expect.vars, the wrong node expected, JUnit
        Path("tests").mkdir(exist_ok=True)
        Path("tests/m.menu.yaml").write_text(MENU)
        Path("tests/f.yaml").write_text(FLOW.format(A=first) + (
            f"expect: {{menu: m.menu.yaml, reach: c, vars: {{pin: '{secret}'}}}}\n"))
        ivrflow("test", "tests", "--junit", "junit.xml")
        shown.append(Path("junit.xml").read_text())
        return _normal("\n".join(shown))

    yield collect


@pytest.mark.parametrize(("one", "other"), [("7", "9"), ("73", "98"),
                                            ("4111111111111111", "5500000000000004")])
def test_sentinel_secrets_never_show_nor_garble(everything: object, one: str,
                                                other: str) -> None:
    collect = everything
    assert callable(collect)
    first = collect(one, one, "7")
    second = collect(one, other, "9")
    if first != second:
        pytest.fail("\n".join(difflib.unified_diff(first.splitlines(), second.splitlines(),
                                                   lineterm="", n=1)))
    assert "****" in first  # the masked rendering is there, where the secret was sent
    if len(one) == 16:
        assert other not in second  # (the first run also sends it as a literal)
    assert f"sec{one}" in first  # the flow's own name, never masked
