"""The flow corpus: every valid file loads, every invalid file gives exactly its expected
problems (tests/flows/invalid/NAME.yaml beside NAME.expected)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivrflow.errors import FlowInvalid
from ivrflow.language.loader import load_flow

CORPUS = Path(__file__).parent / "flows"
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))


def test_corpus_is_not_empty() -> None:
    """The parametrized tests below really run over files."""
    assert len(VALID) >= 5
    assert len(INVALID) >= 25


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_flow_loads(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid recipe loads into a typed flow with at least one step."""
    monkeypatch.chdir(path.parent)
    flow = load_flow(path.name)
    assert flow.steps
    assert flow.path == path.name


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_flow_reports_exact_problems(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid recipe is refused with exactly the located messages in its .expected file."""
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    monkeypatch.chdir(path.parent)
    with pytest.raises(FlowInvalid) as caught:
        load_flow(path.name)
    assert [str(p) for p in caught.value.problems] == expected
