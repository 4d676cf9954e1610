"""Build of the optional C extension; everything else is in pyproject.toml.

``mproc._sync._fastlock`` puts Lock/RLock acquire in C (docs/decisions.md). It is
optional: where it cannot be compiled (no compiler, no headers, a platform without
POSIX semaphores' ``sem_timedwait``) the install goes on without it and
``mproc._sync.locks`` uses its pure-Python path.
"""

import sys

from setuptools import Extension, setup

ext_modules = []
if sys.platform != "win32" and sys.platform != "darwin" and sys.implementation.name == "cpython":
    ext_modules.append(
        Extension(
            "mproc._sync._fastlock",
            ["src/mproc/_sync/_fastlock.c"],
            optional=True,
        )
    )

# The C source is built, not shipped inside the package.
setup(ext_modules=ext_modules, exclude_package_data={"mproc._sync": ["*.c"]})
