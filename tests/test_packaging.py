"""The distribution as a user gets it: built, installed in a fresh venv, run."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # setuptools warns when it cannot byte-compile
    env.pop("PYTHONPATH", None)
    env.pop("MPROC_ALIAS_MULTIPROCESSING", None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    proc = _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "warning" in line.lower()]
    assert not warnings, "\n".join(warnings)
    return out


def test_wheel_and_sdist_carry_the_licence_types_and_tests(dist: Path) -> None:
    (wheel,) = dist.glob("pymproc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mproc/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert "Classifier: Typing :: Typed" in text
    (sdist,) = dist.glob("pymproc-*.tar.gz")
    members = {m.split("/", 1)[1] for m in tarfile.open(sdist).getnames() if "/" in m}
    assert {"LICENSE", "tests/conftest.py", "tests/helpers.py", "benchmarks/harness.py"} <= members


def test_installed_wheel_runs_its_console_script(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("pymproc-*.whl")
    env_dir = tmp_path / "venv"
    # the system site-packages give it cloudpickle without reaching the index
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    proc = _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)])
    assert proc.returncode == 0, proc.stderr
    version = _run([str(env_dir / "bin" / "mproc"), "--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("mproc 0.1.0")
    script = tmp_path / "prog.py"
    script.write_text(
        "import multiprocessing as mp\n"
        "def square(x):\n    return x * x\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('spawn').Pool(2) as pool:\n"
        "        print(mp.__name__, sum(pool.map(square, range(10))))\n")
    ran = _run([str(env_dir / "bin" / "mproc"), "run", str(script)], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["mproc", "285"]
    where = _run([str(python), "-c", "import mproc; print(mproc.__file__)"], cwd=tmp_path)
    assert str(env_dir) in where.stdout, where.stdout  # the wheel's copy, not the checkout
