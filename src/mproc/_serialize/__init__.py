"""Serialization: one pickler for everything that crosses a process boundary.

``pickler`` is the entry point (dumps/loads plus the reducer registry); ``fds``
moves file descriptors between processes (SCM_RIGHTS, and a small sharer thread for
processes that are already running); ``spawning`` knows whether we are pickling a
process object for a child that is being started.
"""
