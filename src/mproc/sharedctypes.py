"""ctypes objects in shared memory (stdlib ``multiprocessing.sharedctypes``).

See ``mproc._shm.ctypes_shared``.
"""

from . import heap, util  # the stdlib's package has these after this import
from ._shm.ctypes_shared import (
    Array,
    RawArray,
    RawValue,
    Synchronized,
    SynchronizedArray,
    SynchronizedBase,
    SynchronizedString,
    Value,
    copy,
    synchronized,
    typecode_to_type,
)

__all__ = ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized"]
