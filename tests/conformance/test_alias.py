"""Fast checks of mproc._alias and of the conformance runner's plumbing.

Each alias check runs in a fresh interpreter: installing the alias in the
pytest process would affect every other test.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _mproc_root() -> str:
    spec = importlib.util.find_spec("mproc")
    if spec is None or not spec.submodule_search_locations:
        return str(REPO_ROOT / "src")
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def _python(code: str, *flags: str, pythonpath: list[str] | None = None) -> str:
    env = dict(os.environ)
    env.pop("MPROC_ALIAS_MULTIPROCESSING", None)
    env["PYTHONPATH"] = os.pathsep.join([*(pythonpath or []), _mproc_root()])
    proc = subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_install_aliases_package_and_submodules() -> None:
    out = _python("""
        import os, sys
        import mproc._alias as alias
        alias.install()
        alias.install()  # idempotent
        import multiprocessing, multiprocessing._alias
        import mproc
        assert multiprocessing is mproc
        assert multiprocessing._alias is alias
        from multiprocessing import _alias as again
        assert again is alias
        assert alias.__spec__.name == "mproc._alias", alias.__spec__.name
        assert sum(getattr(f, "_mproc_alias_finder", False) for f in sys.meta_path) == 1
        assert alias.installed()
        assert os.environ[alias.ALIAS_ENV] == "1"
        try:
            import multiprocessing.no_such_module_xyz
        except ModuleNotFoundError as exc:
            assert exc.name == "multiprocessing.no_such_module_xyz", exc.name
        else:
            raise AssertionError("imported a module that does not exist")
        assert "multiprocessing.no_such_module_xyz" not in sys.modules
        print("ok")
    """)
    assert out == "ok"


def test_install_replaces_already_imported_stdlib() -> None:
    out = _python("""
        import sys
        import multiprocessing, multiprocessing.util
        stdlib = multiprocessing
        import mproc._alias
        mproc._alias.install()
        import multiprocessing
        import mproc
        assert multiprocessing is mproc and multiprocessing is not stdlib
        for name, module in list(sys.modules.items()):
            if name == "multiprocessing" or name.startswith("multiprocessing."):
                assert module.__name__.startswith("mproc"), (name, module)
        import multiprocessing.util as util
        assert util.__name__ == "mproc.util", util
        print("ok")
    """)
    assert out == "ok"


def test_lazy_install_defers_import() -> None:
    out = _python("""
        import sys
        import mproc._alias
        mproc._alias.install(lazy=True)
        assert "multiprocessing" not in sys.modules
        assert mproc._alias.installed()
        import multiprocessing
        assert multiprocessing is sys.modules["mproc"]
        print("ok")
    """)
    assert out == "ok"


def test_shim_dir_aliases_fresh_interpreters() -> None:
    out = _python("""
        import os, subprocess, sys
        import mproc._alias
        shim = mproc._alias.shim_dir()
        assert mproc._alias.shim_dir() == shim
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([shim, os.environ["PYTHONPATH"]]))
        code = ("import sys; assert 'multiprocessing' not in sys.modules; "
                "import multiprocessing, mproc; print(multiprocessing is mproc)")
        print(subprocess.check_output([sys.executable, "-c", code], env=env, text=True).strip())
        print(shim)
    """)
    identical, shim = out.splitlines()
    assert identical == "True"
    assert not os.path.exists(shim)  # removed when the creating process exited


def test_runner_dry_run_resolves_short_names() -> None:
    if importlib.util.find_spec("test._test_multiprocessing") is None:
        pytest.skip("no test._test_multiprocessing in this interpreter")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.conformance.runner", "--method", "fork", "--stdlib"]
        + ["--dry-run", "--classes", "Process,TestWait.test_wait_timeout,ImportStar"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = proc.stdout.splitlines()
    assert "WithProcessesTestProcess.test_process" in ids
    assert "WithThreadsTestProcess.test_process" in ids
    assert "TestWait.test_wait_timeout" in ids and "TestWait.test_wait" not in ids
    assert "_TestImportStar.test_import" in ids


@pytest.mark.skipif(os.name != "posix", reason="pid-based sweep is POSIX only")
def test_shim_dir_sweeps_dirs_of_dead_creators(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"mproc-alias-{dead.pid}-abc123"
    (stale / "multiprocessing").mkdir(parents=True)
    out = _python(f"""
        import os, tempfile
        tempfile.tempdir = {str(tmp_path)!r}
        import mproc._alias
        shim = mproc._alias.shim_dir()
        print(os.path.exists({str(stale)!r}), os.path.basename(shim).startswith(f"mproc-alias-{{os.getpid()}}-"))
    """)
    assert out == "False True"


_SUBMODULES = ("", "connection", "context", "dummy", "dummy.connection", "forkserver", "heap",
               "managers", "pool", "popen_fork", "popen_forkserver", "popen_spawn_posix",
               "process", "queues", "reduction", "resource_sharer", "resource_tracker",
               "shared_memory", "sharedctypes", "spawn", "synchronize", "util")


def _package_attributes(package: str) -> dict[str, set[str]]:
    """Per submodule: the package's public submodule attributes after importing it."""
    code = f"""
        import importlib, json, subprocess, sys
        probe = (
            "import importlib, sys, types; p, s = sys.argv[1], sys.argv[2];"
            "importlib.import_module(p + ('.' + s if s else ''));"
            "print(sorted(k for k, v in vars(sys.modules[p]).items()"
            " if isinstance(v, types.ModuleType) and v.__name__.startswith(p + '.')"
            " and not k.startswith('_')))")
        out = {{}}
        for sub in {_SUBMODULES!r}:
            line = subprocess.run([sys.executable, "-c", probe, {package!r}, sub],
                                  capture_output=True, text=True, check=True).stdout
            out[sub] = eval(line)
        print(json.dumps(out))
    """
    import json

    return {k: set(v) for k, v in json.loads(_python(code)).items()}


def test_import_side_effects_match_the_stdlib() -> None:
    """After ``import multiprocessing.X`` the stdlib's package has some submodules as
    attributes (``multiprocessing.util`` after ``import multiprocessing.queues``);
    code reads them that way (CPython's concurrent.futures tests do), so mproc's
    package has at least the same ones after the same import."""
    stdlib, ours = _package_attributes("multiprocessing"), _package_attributes("mproc")
    missing = {sub or "<package>": sorted(stdlib[sub] - ours[sub])
               for sub in _SUBMODULES if stdlib[sub] - ours[sub]}
    assert not missing, missing
