"""The wheel: built offline, installed into a fresh virtual environment, it carries the
schema and its `ivrflow` command works from outside the repository."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
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
    where = run(python, "-c", "import ivrflow.schema as s, pathlib; "
                "print(pathlib.Path(s.__file__).resolve())", cwd=work).stdout
    assert where.startswith(str(env.resolve())), where
    listed = run(python, "-m", "pip", "show", "-f", "ivrflow", cwd=work).stdout
    assert "ivrflow/schemas/flow.schema.json" in listed
