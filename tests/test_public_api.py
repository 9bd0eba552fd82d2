"""The public names of `ivrflow`: listed literally, all importable, and typed."""

from __future__ import annotations

import ast
from pathlib import Path

import ivrflow

INIT = Path(ivrflow.__file__)


def test_all_is_a_literal_list_of_every_public_name() -> None:
    """A computed `__all__` defeats re-export for type checkers; the literal one must name
    exactly the lazily served names and the version."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    literal = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets))
    assert isinstance(literal, ast.List)
    assert all(isinstance(e, ast.Constant) for e in literal.elts)
    assert sorted(ivrflow.__all__) == sorted(["__version__", *ivrflow._WHERE])


def test_every_public_name_is_importable() -> None:
    for name in ivrflow.__all__:
        assert getattr(ivrflow, name) is not None, name


def test_the_package_says_it_is_typed() -> None:
    assert (INIT.parent / "py.typed").is_file()
