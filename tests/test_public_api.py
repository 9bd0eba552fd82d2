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


def test_the_flow_language_never_imports_the_engine_or_the_network() -> None:
    """ivrflow/language/ is recipe text to a checked flow: no engine, transport, sandbox,
    HTTP or event loop below it."""
    forbidden = ("ivrflow.engine", "ivrflow.transport", "ivrflow.sandbox", "ivrflow.menu.live",
                 "ivrflow.menu.testing", "ivrflow.menu.transport",
                 "ivrflow.cli", "httpx", "aiohttp", "asyncio")
    for path in (INIT.parent / "language").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
