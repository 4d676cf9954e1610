"""Run CPython's own multiprocessing test-suite against mproc.

``python -m tests.conformance.runner --method spawn`` runs the classes of
``test._test_multiprocessing`` listed in :mod:`tests.conformance.expected`
with ``multiprocessing`` aliased to ``mproc`` (see :mod:`mproc._alias`) in the
runner and in every process it starts.  ``--stdlib`` runs the same selection
against the real stdlib, for comparison.  ``python -m tests.conformance.dask_pool``
runs the suite's Pool tests on mproc's dask backend (a LocalCluster it starts).
"""
