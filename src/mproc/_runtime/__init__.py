"""Per-process runtime: the state every process has exactly once.

Current and parent process, children, name counters, finalizers, after-fork hooks,
logging and the temp dir live here, in one place, so that a child (started by mproc
or by a bare ``os.fork()``) can reset all of it in one call. This is the lowest layer:
it imports nothing from the rest of mproc.
"""
