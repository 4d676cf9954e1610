"""mproc's types, as a user's type checker sees them.

tests/typing/user_program.py is a program written against the public API with
``assert_type`` statements and lines that must be errors; mypy (strict) and pyright
(strict) must both accept it. ``pyright --verifytypes`` must find the public API
at least 95% typed. The generic classes must also be subscriptable at run time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "typing"
USER_PROGRAM = PROGRAMS / "user_program.py"
COMPLETENESS = 0.95


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else src
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _mypy(program: Path) -> subprocess.CompletedProcess[str]:
    # --config-file "": the user's own settings, not the project's (whose
    # ignore_missing_imports and files= are for checking mproc itself).
    return subprocess.run(
        [_tool("mypy"), "--config-file", "", "--strict", "--python-version", "3.11",
         "--warn-unused-ignores", "--no-incremental", "--cache-dir", os.devnull,
         str(program)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)


def _pyright(program: Path) -> subprocess.CompletedProcess[str]:
    # Strict from the program's "# pyright: strict" comment; pyrightconfig.json there
    # makes an unneeded "# pyright: ignore" an error and leaves "# type: ignore" to mypy.
    return subprocess.run(
        [_tool("pyright"), "--project", str(PROGRAMS / "pyrightconfig.json"),
         "--pythonversion", "3.11", "--pythonpath", sys.executable, str(program)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)


def test_user_program_mypy_strict() -> None:
    result = _mypy(USER_PROGRAM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_user_program_pyright_strict() -> None:
    text = USER_PROGRAM.read_text()
    assert text.startswith("# pyright: strict\n"), "the program must be checked in strict mode"
    result = _pyright(USER_PROGRAM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unneeded_ignores_are_errors(tmp_path: Path) -> None:
    """The user program's must-be-an-error lines prove something only if an ignore
    that is not needed fails the check: a correct line marked as an error fails."""
    program = tmp_path / "ignored.py"
    settings = "".join(line + "\n" for line in USER_PROGRAM.read_text().splitlines()
                       if line.startswith("# pyright:"))
    program.write_text(
        settings +
        "from __future__ import annotations\n\n"
        "import mproc as mp\n\n\n"
        "def square(x: int) -> int:\n"
        "    return x * x\n\n\n"
        "def main() -> None:\n"
        "    with mp.Pool(1) as pool:\n"
        "        ok: list[int] = pool.map(square, [1])  "
        "# type: ignore[assignment]  # pyright: ignore[reportAssignmentType]\n"
        "        print(ok)\n")
    assert _mypy(program).returncode != 0
    pyright = _pyright(program)
    assert pyright.returncode != 0 and "Unnecessary" in pyright.stdout, pyright.stdout


def test_verifytypes_completeness() -> None:
    result = subprocess.run(
        [_tool("pyright"), "--verifytypes", "mproc", "--ignoreexternal", "--outputjson",
         "--pythonpath", sys.executable],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    completeness = report["typeCompleteness"]
    score = completeness["completenessScore"]
    if score < COMPLETENESS:
        missing = [
            symbol["name"] for symbol in completeness["symbols"]
            if symbol["isExported"] and (symbol["isTypeAmbiguous"] or not symbol["isTypeKnown"])
        ]
        pytest.fail(f"pyright --verifytypes mproc: {score:.1%} < {COMPLETENESS:.0%}; "
                    f"not fully typed: {', '.join(missing)}")


def test_generic_classes_subscript_at_run_time() -> None:
    import mproc.managers
    import mproc.pool
    import mproc.queues
    import mproc.shared_memory
    import mproc.sharedctypes

    for cls in (mproc.pool.ApplyResult, mproc.pool.AsyncResult, mproc.pool.MapResult,
                mproc.pool.IMapIterator, mproc.pool.IMapUnorderedIterator,
                mproc.queues.Queue, mproc.queues.JoinableQueue, mproc.queues.SimpleQueue,
                mproc.managers.ListProxy, mproc.managers.ValueProxy,
                mproc.shared_memory.ShareableList,
                mproc.sharedctypes.Synchronized, mproc.sharedctypes.SynchronizedArray):
        alias = cls[int]
        assert alias.__origin__ is cls
        assert alias.__args__ == (int,)
    assert mproc.managers.DictProxy[str, int].__args__ == (str, int)
    # Generic for checkers only: no typing.Generic in the classes' bases at run time.
    import typing

    assert typing.Generic not in mproc.queues.Queue.__mro__
    assert mproc.queues.Queue.__mro__[-1] is object
    assert mproc.pool.MapResult.__mro__[1] is mproc.pool.ApplyResult
