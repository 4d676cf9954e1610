"""The Executor front end: ``concurrent.futures``' API on mproc's pool backends.

``executor``  ProcessPoolExecutor, ThreadPoolExecutor, ``options()`` (data-flow
              picture at its top)
``future``    Future (a ``concurrent.futures.Future`` that can stop a running task),
              MapJob (one ``map`` call's chunks, yielded in order)
``errors``    mproc's errors as ``BrokenProcessPool`` / ``BrokenThreadPool`` twins

It sits beside ``_pool`` (the Pool front end) over the same seam,
``mproc._backends.base``; it borrows the Pool front end's CPU count and progress
reporting, and nothing below imports it.
"""
