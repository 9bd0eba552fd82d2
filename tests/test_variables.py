"""Variable resolution: source order, checks, and secrets that never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivrflow.errors import FlowInvalid, InvalidInput
from ivrflow.language.loader import parse_flow
from ivrflow.language.model import Send
from ivrflow.language.variables import parse_assignments, read_vars_file, resolve

FLOW = """\
version: 1
name: t
vars:
  card: {pattern: '^[0-9]{4}$', secret: true, env: T_CARD}
  lang: {default: "1", env: T_LANG}
steps:
  - send: "${lang}"
  - send: "${card}#"
"""
SENTINEL = "9731"


def sends(text: str = FLOW) -> tuple[Send, ...]:
    return tuple(s for s in parse_flow(text, "f.yaml").steps if isinstance(s, Send))


def test_sources_in_order_of_strength() -> None:
    """--var beats the vars file, which beats the environment, which beats the default."""
    flow = parse_flow(FLOW, "f.yaml")
    env = {"T_CARD": "1111", "T_LANG": "3"}
    assert resolve(flow, environ=env).values == {"card": "1111", "lang": "3"}
    assert resolve(flow, file_values={"lang": "4"}, environ=env).values["lang"] == "4"
    got = resolve(flow, cli={"lang": "5"}, file_values={"lang": "4"}, environ=env)
    assert got.values["lang"] == "5"
    assert resolve(flow, cli={"card": "2222"}, environ={}).values == {"card": "2222", "lang": "1"}


def test_substitution_and_masking() -> None:
    """Digits get the real value; what people see has **** for secrets."""
    flow = parse_flow(FLOW, "f.yaml")
    bindings = resolve(flow, cli={"card": SENTINEL}, environ={})
    first, second = sends()
    assert bindings.digits(second) == f"{SENTINEL}#"
    assert bindings.shown(second) == "****#"
    assert bindings.shown(first) == "1"
    assert bindings.redact(f"sent {SENTINEL}#") == "sent ****#"


def test_missing_value_names_every_source() -> None:
    """A variable with no value is located at its declaration and says how to give one."""
    flow = parse_flow(FLOW, "f.yaml")
    with pytest.raises(InvalidInput) as caught:
        resolve(flow, environ={})
    assert str(caught.value) == ("f.yaml:4:3: variable 'card' has no value: pass --var "
                                 "card=..., put it in a --vars-file, or set T_CARD")


def test_secret_value_failing_pattern_is_not_shown() -> None:
    """A secret that fails its pattern is reported without its value."""
    flow = parse_flow(FLOW, "f.yaml")
    with pytest.raises(InvalidInput) as caught:
        resolve(flow, cli={"card": "97310"}, environ={})
    message = str(caught.value)
    assert "97310" not in message
    assert message == ("f.yaml:4:3: variable 'card': its value (from --var card) does not "
                       "match its pattern ^[0-9]{4}$")


def test_plain_value_failing_digits_is_shown() -> None:
    """A non-secret value that is not DTMF is reported with the value and its source."""
    flow = parse_flow(FLOW, "f.yaml")
    with pytest.raises(InvalidInput) as caught:
        resolve(flow, cli={"card": "1234"}, environ={"T_LANG": "en"})
    assert str(caught.value) == ("f.yaml:5:3: variable 'lang': value 'en' (from $T_LANG) is "
                                 "sent as digits but holds characters other than 0-9 * # w W")


def test_unknown_variable_gets_a_suggestion() -> None:
    """Setting a variable the flow does not declare is an error, with a did-you-mean."""
    flow = parse_flow(FLOW, "f.yaml")
    with pytest.raises(InvalidInput) as caught:
        resolve(flow, cli={"crad": "1234"}, environ={"T_CARD": "1234"})
    assert "no variable 'crad' (did you mean 'card'?)" in str(caught.value)


def test_empty_value_is_never_used() -> None:
    """An empty value (here from the environment) is refused, never sent or taken for the
    default."""
    flow = parse_flow("version: 1\nname: t\nvars: {x: {env: X, default: '1'}}\nsteps:\n"
                      "  - send: '${x}#'\n", "f.yaml")
    with pytest.raises(InvalidInput) as caught:
        resolve(flow, environ={"X": ""})
    assert str(caught.value) == ("f.yaml:3:8: variable 'x': the value from $X is empty; give "
                                 "a value, or remove it to use the next source")


def test_parse_assignments() -> None:
    """--var name=value pairs are split at the first '='; malformed ones are refused."""
    assert parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(InvalidInput, match="has no '='"):
        parse_assignments(["card:4111111111111111"])
    with pytest.raises(InvalidInput, match="not a variable name"):
        parse_assignments(["1bad=2"])
    with pytest.raises(InvalidInput, match="is empty"):
        parse_assignments(["c="])
    with pytest.raises(InvalidInput, match="given twice"):
        parse_assignments(["a=1", "a=2"])


def test_parse_assignments_never_quotes_the_value() -> None:
    """A malformed --var never echoes what may be a secret."""
    for item in ["card:4111111111111111", "4111111111111111", "x y=4111111111111111"]:
        with pytest.raises(InvalidInput) as caught:
            parse_assignments([item])
        assert "4111" not in str(caught.value)


def test_vars_file_requires_quoted_values(tmp_path: Path) -> None:
    """A vars file whose values YAML would convert is refused, pointing at each value."""
    path = tmp_path / "v.yaml"
    path.write_text("card: 0123\nlang: \"1\"\npin: 42\n", encoding="utf-8")
    with pytest.raises(FlowInvalid) as caught:
        read_vars_file(path)
    assert [p.message for p in caught.value.problems] == [
        'card: values must be quoted text, so YAML cannot change them; put the value in '
        'quotes: card: "..."',
        'pin: values must be quoted text, so YAML cannot change them; put the value in '
        'quotes: pin: "..."',
    ]
    path.write_text("card: \"0123\"\n", encoding="utf-8")
    assert read_vars_file(path) == {"card": "0123"}


@pytest.mark.parametrize("unquoted", ["0912", "09", "1e5", "en", "0o17"])
def test_vars_file_refuses_every_unquoted_value(tmp_path: Path, unquoted: str) -> None:
    """Unquoted, `0912` is text to YAML 1.1 and a number to 1.2 (`0712` an octal to 1.1):
    whatever YAML makes of it, an unquoted value is refused the same way, never echoed."""
    path = tmp_path / "v.yaml"
    path.write_text(f"card: {unquoted}\n", encoding="utf-8")
    with pytest.raises(FlowInvalid) as caught:
        read_vars_file(path)
    assert [p.message for p in caught.value.problems] == [
        'card: values must be quoted text, so YAML cannot change them; put the value in '
        'quotes: card: "..."']
    path.write_text(f"card: '{unquoted}'\n", encoding="utf-8")
    assert read_vars_file(path) == {"card": unquoted}
