"""`ivrflow init [DIR]`: a recipes repository whose own checks pass straight away, written
safely (nothing overwritten without --force, nothing outside DIR), and the pre-commit
hooks that ivrflow offers."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from ivrflow import scaffold
from ivrflow._version import __version__
from ivrflow.language.schema import schema_text

WRITTEN = ["flows/order-status.yaml", "flows/order-status.menu.yaml",
           "schemas/flow.schema.json", "schemas/menu.schema.json", ".pre-commit-config.yaml",
           ".github/workflows/recipes.yml", "README.md"]
HOOK_IDS = ["ivrflow-validate", "ivrflow-test"]


def init(directory: Path | str, force: bool = False) -> int:
    return scaffold.run(argparse.Namespace(init_dir=str(directory), init_force=force))


def ivrflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivrflow", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def expected_bytes(name: str) -> bytes:
    if name.startswith("schemas/"):
        return schema_text(name.removeprefix("schemas/")).encode("utf-8")
    source = dict(scaffold.TEMPLATES)[name]
    return (ROOT / "ivrflow" / "templates" / source).read_bytes()


def repository_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def selected(hook: dict[str, object], files: list[str]) -> list[str]:
    """The files pre-commit hands a hook: `files` (regex search), then `types: [yaml]`."""
    pattern = re.compile(str(hook.get("files", "")))
    return [f for f in files if pattern.search(f) and f.endswith((".yaml", ".yml"))]


def test_init_writes_a_repository_whose_own_checks_pass(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """A missing DIR is created; the listing and the next two commands are printed; the
    repository's validate, test and pre-commit hooks pass in it as they are written."""
    repo = tmp_path / "new" / "recipes"
    assert init(repo) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Created a recipes repository in {repo}:"
    assert [line.strip() for line in out[1:8]] == WRITTEN
    assert out[8:] == ["Next:", f"  cd {repo} && ivrflow test flows/",
                       "  git init && pre-commit install"]
    assert repository_files(repo) == sorted(WRITTEN)

    validated = ivrflow("validate", "flows", cwd=repo)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stderr.strip() == "2 file(s) valid"
    tested = ivrflow("test", "flows", cwd=repo)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith("PASS flows/order-status.yaml: reached 'order_status'")
    assert "1 passed, 0 failed" in tested.stdout

    # What pre-commit would run: each local hook's entry and args on the files it selects.
    config = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (local,) = config["repos"]
    assert local["repo"] == "local"
    assert [hook["id"] for hook in local["hooks"]] == HOOK_IDS
    files = repository_files(repo)
    for hook in local["hooks"]:
        assert hook["language"] == "system" and hook["types"] == ["yaml"]
        entry = hook["entry"].split()
        assert entry[0] == "ivrflow"
        names = selected(hook, files)
        assert names == ["flows/order-status.menu.yaml", "flows/order-status.yaml"]
        given = names if hook.get("pass_filenames", True) else []
        done = ivrflow(*entry[1:], *hook.get("args", []), *given, cwd=repo)
        assert done.returncode == 0, (hook["id"], done.stdout + done.stderr)


def test_the_default_directory_is_the_current_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    scaffold.add_parser(parser.add_subparsers())
    args = parser.parse_args(["init"])
    assert (args.init_dir, args.init_force, args.command) == (".", False, scaffold.run)
    assert args.command(args) == 0
    assert repository_files(tmp_path) == sorted(WRITTEN)
    forced = parser.parse_args(["init", "elsewhere", "--force"])
    assert (forced.init_dir, forced.init_force) == ("elsewhere", True)


def test_init_through_the_command_line(tmp_path: Path) -> None:
    """`ivrflow init DIR` from ivrflow.cli.main, once cli.py registers the subcommand."""
    from ivrflow.cli import main

    repo = tmp_path / "recipes"
    assert main(["init", str(repo)]) == 0
    assert repository_files(repo) == sorted(WRITTEN)
    assert main(["init", str(repo)]) == 2
    assert main(["test", str(repo / "flows")]) == 0


def test_written_files_are_the_package_data_byte_for_byte(tmp_path: Path) -> None:
    assert init(tmp_path) == 0
    for name in WRITTEN:
        assert (tmp_path / name).read_bytes() == expected_bytes(name), name
    # the installed package's own copies, as the wheel carries them
    for target, source in scaffold.TEMPLATES:
        assert scaffold.template_bytes(source) == (tmp_path / target).read_bytes()


def test_modelines_point_at_the_written_schemas(tmp_path: Path) -> None:
    assert init(tmp_path) == 0
    flows = sorted((tmp_path / "flows").glob("*.yaml"))
    assert len(flows) == 2
    for flow in flows:
        first = flow.read_text(encoding="utf-8").splitlines()[0]
        found = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert found, (flow.name, first)
        schema = (flow.parent / found[1]).resolve()
        wanted = "menu.schema.json" if flow.name.endswith(".menu.yaml") else "flow.schema.json"
        assert schema == (tmp_path / "schemas" / wanted).resolve() and schema.is_file()


def test_existing_files_are_refused_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("my own readme\n")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "order-status.yaml").write_text("mine\n")
    before = tree(tmp_path)
    assert init(tmp_path) == 2
    assert tree(tmp_path) == before
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"ivrflow: {tmp_path / 'flows/order-status.yaml'}: already exists; not overwritten "
        "(--force replaces it)",
        f"ivrflow: {tmp_path / 'README.md'}: already exists; not overwritten "
        "(--force replaces it)",
        "ivrflow: nothing written; 2 path(s) in the way"]


def test_a_second_init_refuses_every_file(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert init(tmp_path) == 0
    before = tree(tmp_path)
    capsys.readouterr()
    assert init(tmp_path) == 2
    assert tree(tmp_path) == before
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(WRITTEN) + 1
    assert all(line.endswith("already exists; not overwritten (--force replaces it)")
               for line in err[:-1])


def test_force_replaces_files_and_keeps_others(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert init(tmp_path) == 0
    (tmp_path / "flows" / "order-status.yaml").write_text("changed\n")
    (tmp_path / "flows" / "mine.yaml").write_text("kept\n")
    capsys.readouterr()
    assert init(tmp_path, force=True) == 0
    assert (tmp_path / "flows" / "order-status.yaml").read_bytes() == \
        expected_bytes("flows/order-status.yaml")
    assert (tmp_path / "flows" / "mine.yaml").read_text() == "kept\n"
    assert "  flows/order-status.yaml (replaced)" in capsys.readouterr().out


def test_a_file_as_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("not a directory\n")
    assert init(target) == 2
    assert init(target, force=True) == 2
    assert target.read_text() == "not a directory\n"
    assert tree(tmp_path) == {"notes.txt": b"not a directory\n"}
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"ivrflow: {target}: exists and is not a directory; name a "
                      "directory, new or existing")


def test_nothing_is_written_outside_dir_even_with_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A symbolic link (to a directory or to a file) or a file in a directory's place is in
    the way with --force too; nothing is written anywhere."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("untouched\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "flows").symlink_to(outside, target_is_directory=True)
    (repo / "README.md").symlink_to(outside / "victim")
    (repo / ".github").write_text("a file\n")
    assert init(repo, force=True) == 2
    assert tree(outside) == {"victim": b"untouched\n"}
    assert sorted(p.name for p in repo.iterdir()) == [".github", "README.md", "flows"]
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"ivrflow: {repo / 'flows'}: is a symbolic link; init writes only inside {repo}: "
        "move it away first",
        f"ivrflow: {repo / '.github'}: is a file where a directory goes; move it away first",
        f"ivrflow: {repo / 'README.md'}: is a symbolic link; init writes only inside "
        f"{repo}: move it away first",
        "ivrflow: nothing written; 3 path(s) in the way"]


def test_the_offered_hooks_filter_yaml_under_flows() -> None:
    """.pre-commit-hooks.yaml: both hooks take YAML files under flows/ only, so in a
    repository without flows/ pre-commit skips them; ivrflow-test plays the directory."""
    hooks = {h["id"]: h for h in yaml.safe_load(
        (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert list(hooks) == HOOK_IDS
    files = ["flows/a.yaml", "flows/a.menu.yml", "flows/notes.txt", ".pre-commit-config.yaml",
             ".github/workflows/recipes.yml", "docker-compose.yml", "recipes/b.yaml"]
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["types"] == ["yaml"]
        assert hook["require_serial"] is True
        assert selected(hook, files) == ["flows/a.yaml", "flows/a.menu.yml"]
        assert selected(hook, [f for f in files if not f.startswith("flows/")]) == []
    assert hooks["ivrflow-validate"]["entry"] == "ivrflow validate"
    assert hooks["ivrflow-validate"].get("pass_filenames", True) is True
    test = hooks["ivrflow-test"]
    assert (test["entry"], test["args"], test["pass_filenames"]) == \
        ("ivrflow test", ["flows/"], False)


def test_init_config_runs_the_offered_hooks_the_same_way(tmp_path: Path) -> None:
    """The local hooks `init` writes match the offered ones, and the remote form in its
    comment and the CI workflow pin this release."""
    offered = {h["id"]: h for h in yaml.safe_load(
        (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert init(tmp_path) == 0
    text = (tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    for hook in yaml.safe_load(text)["repos"][0]["hooks"]:
        model = offered[hook["id"]]
        for key in ("entry", "types", "files", "args", "pass_filenames", "require_serial"):
            assert hook.get(key) == model.get(key), (hook["id"], key)
    remote = yaml.safe_load("\n".join(line.removeprefix("#   ") for line in text.splitlines()
                                      if line.startswith("#   ")))
    assert remote[0]["repo"] == "https://github.com/ivrflow/ivrflow"
    assert remote[0]["rev"] == f"v{__version__}"
    assert [h["id"] for h in remote[0]["hooks"]] == HOOK_IDS
    workflow = yaml.safe_load((tmp_path / ".github/workflows/recipes.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert f"ivrflow @ git+https://github.com/ivrflow/ivrflow@v{__version__}" in runs[2]
    assert runs[3:5] == ["ivrflow validate flows/", "ivrflow test flows/ --junit report.xml"]
