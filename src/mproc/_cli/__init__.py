"""The command line: ``python -m mproc run|demo|bench``.

``main`` parses arguments; ``run`` executes an unmodified program with
``multiprocessing`` aliased to mproc; ``demo`` is the guided tour; ``bench`` runs
the benchmark suite of a source checkout.
"""
