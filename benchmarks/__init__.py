"""Side-by-side benchmarks: mproc vs. the stdlib ``multiprocessing``.

Run with ``python -m benchmarks`` (see ``benchmarks/README.md``).

This package must stay import-light: spawn/forkserver children of a
measurement re-import ``benchmarks._worker`` (the measuring process's
``__main__``) and ``benchmarks._children`` (the process targets), and
anything imported here is paid for by every such child.
"""
