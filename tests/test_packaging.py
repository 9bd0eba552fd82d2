"""The wheel: built offline, installed into a fresh virtual environment, it carries the
schema and its `ivrflow` command works from outside the repository."""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

from conftest import ROOT


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_wheel_installs_and_validates_outside_the_repository(tmp_path: Path) -> None:
    """pip install of the wheel gives a working ivrflow that finds its bundled schema."""
    dist = tmp_path / "dist"
    # --no-build-isolation: build with the hatchling of this environment, never the network
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "--no-index", "-w", dist, ROOT, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("ivrflow-*.whl"))

    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel,
                    cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    # The runtime dependencies come from this environment, so the test needs no network.
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=tmp_path).stdout.strip()
    Path(purelib, "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "flows" / "ebt-balance.yaml", work / "ebt.yaml")
    shutil.copy(ROOT / "flows" / "ebt-balance.menu.yaml", work)
    (work / "bad.yaml").write_text("version: 1\nname: x\nsteps:\n  - send: 1234\n")
    ivrflow = env / "bin" / "ivrflow"
    ok = run(ivrflow, "validate", "ebt.yaml", cwd=work)
    assert ok.returncode == 0, ok.stderr
    bad = run(ivrflow, "validate", "bad.yaml", cwd=work)
    assert bad.returncode == 2
    assert bad.stdout.startswith("bad.yaml:4:11: step 1 send: digits must be quoted text")
    schema = run(ivrflow, "schema", cwd=work)
    assert '"$id"' in schema.stdout
    where = run(python, "-c", "import ivrflow.language.schema as s, pathlib; "
                "print(pathlib.Path(s.__file__).resolve())", cwd=work).stdout
    assert where.startswith(str(env.resolve())), where
    listed = run(python, "-m", "pip", "show", "-f", "ivrflow", cwd=work).stdout
    assert "ivrflow/schemas/flow.schema.json" in listed
    metadata = run(python, "-m", "pip", "show", "-v", "ivrflow", cwd=work).stdout
    assert "Typing :: Typed" in metadata and "Programming Language :: Python :: 3.10" in metadata
    assert "ivrflow/py.typed" in listed and "licenses/LICENSE" in listed


def test_sdist_carries_everything_the_readme_refers_to(tmp_path: Path) -> None:
    """Every repository path the README names in backticks is in the sdist, with the
    LICENSE and the pre-commit hooks."""
    built = run(sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", tmp_path,
                cwd=ROOT)
    assert built.returncode == 0, built.stderr
    sdist = next(tmp_path.glob("ivrflow-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    referred = {ref.rstrip("/") for ref in re.findall(r"`([\w.-]+(?:/[\w.*-]+)*/?)`", readme)
                if "/" in ref or ref.startswith(".")}
    present = {ref for ref in referred if "*" not in ref and (ROOT / ref).exists()}
    assert len(present) >= 10, present
    missing = sorted(ref for ref in present
                     if ref not in names and not any(n.startswith(ref + "/") for n in names))
    assert missing == []
    assert {"LICENSE", ".pre-commit-hooks.yaml", "bench/run_all.py"} <= names
