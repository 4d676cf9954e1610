"""Argument parsing for ``python -m mproc``; bad arguments get one clear line."""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def _prog() -> str:
    """``mproc`` when run as the console script, else ``python -m mproc``."""
    import os

    return "mproc" if os.path.basename(sys.argv[0]) == "mproc" else "python -m mproc"


def _version() -> str:
    from .. import __version__

    return f"mproc {__version__} (Python {sys.version.split()[0]}, {sys.executable})"


def _parser() -> _Parser:
    parser = _Parser(prog=_prog(),
                     description="mproc: a drop-in, from-scratch multiprocessing.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser(
        "run", help="run an unmodified multiprocessing program on mproc",
        description="Run a program that imports multiprocessing, with mproc in its place "
                    "(in the program and in every child it starts). Exit status and "
                    "signals pass through.")
    run.add_argument("-m", dest="module", metavar="MODULE",
                     help="run a module, as python -m MODULE does")
    run.add_argument("--cluster", metavar="ADDRESS",
                     help="run every multiprocessing.Pool the program makes on the Dask "
                          "cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786; "
                          "needs pymproc[dask]); the same as MPROC_CLUSTER=ADDRESS")
    run.add_argument("target", nargs=argparse.REMAINDER,
                     help="script.py [args...] (or the module's args with -m)")
    demo = commands.add_parser(
        "demo", help="a guided tour of mproc (under a minute)",
        description="Run the tutorial programs on mproc, then what mproc adds.")
    demo.add_argument("--quick", action="store_true", help="skip the slower steps")
    bench = commands.add_parser(
        "bench", help="benchmarks: mproc and the stdlib side by side",
        description="Run the benchmark suite of an mproc source checkout and print a "
                    "table of ratios. Extra arguments go to the suite "
                    "(e.g. --quick, --repeat N, workload names).")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the suite")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "run":
        from .run import run_module, run_script

        if args.cluster is not None:
            if not args.cluster.strip():
                parser.error("--cluster needs a scheduler address, e.g. tcp://host:8786")
            os.environ["MPROC_CLUSTER"] = args.cluster
        if args.module:
            return run_module(args.module, list(args.target))
        if not args.target:
            parser.error("run needs a script (or -m MODULE)")
        return run_script(args.target[0], list(args.target[1:]))
    if args.command == "demo":
        from .demo import tour

        return tour(quick=args.quick)
    if args.command == "bench":
        from .bench import bench

        return bench([*unknown, *args.args])
    parser.print_help()
    return 2
