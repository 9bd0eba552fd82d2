"""The `ivrflow init [DIR]` subcommand: a recipes repository whose checks pass at once.

It writes one recipe and its menu model under `flows/`, a copy of the installed schemas
under `schemas/` (so each file's `# yaml-language-server: $schema=../schemas/...` line
resolves), a `.pre-commit-config.yaml` running ivrflow's hooks, a GitHub Actions workflow
and a README. The files come from the package data in `ivrflow/templates/`, byte for byte.

Nothing is written unless everything can be: an existing file is refused (exit 2, one
line each) unless `--force`, and directories and symbolic links in the way are refused
even then, so nothing is ever written outside DIR.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TypeVar

from ivrflow.output import escape_controls

P = TypeVar("P", bound=argparse.ArgumentParser)

_EXIT_OK = 0
_EXIT_USAGE = 2

# Where each file goes in the new repository, and its template under ivrflow/templates/
# (stored without leading dots, which packaging tools tend to drop).
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("flows/order-status.yaml", "flows/order-status.yaml"),
    ("flows/order-status.menu.yaml", "flows/order-status.menu.yaml"),
    (".pre-commit-config.yaml", "pre-commit-config.yaml"),
    (".github/workflows/recipes.yml", "github/workflows/recipes.yml"),
    ("README.md", "README.md"),
)
# The schemas the templates' modelines point at, copied from the installed ivrflow.
SCHEMAS: tuple[str, ...] = ("flow.schema.json", "menu.schema.json")


def add_parser(subparsers: argparse._SubParsersAction[P]) -> P:
    """Register the `init` subcommand on `subparsers` and return its parser.

    Its `command` default is `run`, as `ivrflow.cli` dispatches; its dests start `init_`.
    """
    parser = subparsers.add_parser(
        "init", help="start a recipes repository: a recipe, its menu, schemas, pre-commit, CI",
        description="Write a recipes repository into DIR (created if missing): flows/ with "
                    "one recipe\nand its menu model, schemas/ for editors, a "
                    ".pre-commit-config.yaml running ivrflow's\nhooks, a GitHub Actions "
                    "workflow and a README; its checks pass at once. Existing\nfiles are "
                    "never overwritten without --force.")
    parser.add_argument("init_dir", nargs="?", default=".", metavar="DIR",
                        help="the repository's directory (default: the current one)")
    parser.add_argument("--force", dest="init_force", action="store_true",
                        help="replace files that already exist (never a directory or a "
                             "symbolic link)")
    parser.set_defaults(command=run, parser=parser)
    return parser


def template_bytes(name: str) -> bytes:
    """A template's bytes, `name` relative to ivrflow/templates/."""
    node = resources.files("ivrflow").joinpath("templates")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node.read_bytes()


def contents() -> dict[str, bytes]:
    """Every file `init` writes: its path in the new repository -> its bytes, in order."""
    from ivrflow.language.schema import schema_text

    files = {target: template_bytes(source) for target, source in TEMPLATES[:2]}
    files.update({f"schemas/{name}": schema_text(name).encode("utf-8") for name in SCHEMAS})
    files.update({target: template_bytes(source) for target, source in TEMPLATES[2:]})
    return files


def run(args: argparse.Namespace) -> int:
    """Write the repository into `args.init_dir`; 0 when written, 2 when refused."""
    root = Path(args.init_dir)
    force = bool(args.init_force)
    if os.path.lexists(root) and not root.is_dir():
        _say(f"{_shown(root)}: exists and is not a directory; name a directory, new or "
             "existing")
        return _EXIT_USAGE
    files = contents()
    problems = list(_obstacles(root, list(files), force))
    if problems:
        for problem in problems:
            _say(problem)
        _say(f"nothing written; {len(problems)} path(s) in the way")
        return _EXIT_USAGE
    replaced: set[str] = set()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = root / name
            if os.path.lexists(path):
                replaced.add(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, data)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else root
        _say(f"{_shown(Path(where))}: cannot write: {exc.strerror or type(exc).__name__}")
        return _EXIT_USAGE
    print(f"Created a recipes repository in {_shown(root)}:")
    for name in files:
        print(f"  {name}{' (replaced)' if name in replaced else ''}")
    print("Next:")
    print(f"  cd {escape_controls(shlex.quote(str(root)), newlines=True)} && "
          "ivrflow test flows/")
    print("  git init && pre-commit install")
    return _EXIT_OK


def _obstacles(root: Path, names: list[str], force: bool) -> Iterator[str]:
    """One line for each path that stops the repository being written as asked."""
    seen: set[Path] = set()
    blocked: set[Path] = set()
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):  # the directories on the way to the file
            folder = root.joinpath(*parts[:depth])
            if folder in seen or not os.path.lexists(folder):
                continue
            seen.add(folder)
            if folder.is_symlink():
                blocked.add(folder)
                yield (f"{_shown(folder)}: is a symbolic link; init writes only inside "
                       f"{_shown(root)}: move it away first")
            elif not folder.is_dir():
                blocked.add(folder)
                yield f"{_shown(folder)}: is a file where a directory goes; move it away first"
        path = root / name
        if not os.path.lexists(path) or any(p in blocked for p in path.parents):
            continue
        if path.is_symlink():
            yield (f"{_shown(path)}: is a symbolic link; init writes only inside "
                   f"{_shown(root)}: move it away first")
        elif path.is_dir():
            yield f"{_shown(path)}: is a directory where a file goes; move it away first"
        elif not path.is_file():
            yield f"{_shown(path)}: is not a regular file; move it away first"
        elif not force:
            yield f"{_shown(path)}: already exists; not overwritten (--force replaces it)"


def _write(path: Path, data: bytes) -> None:
    """Write `data` to `path`, never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _shown(path: Path) -> str:
    return escape_controls(str(path), newlines=True)


def _say(message: str) -> None:
    print(f"ivrflow: {message}", file=sys.stderr)
