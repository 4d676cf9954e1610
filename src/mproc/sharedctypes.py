"""ctypes objects in shared memory (stdlib ``multiprocessing.sharedctypes``).

See ``mproc._shm.ctypes_shared``.
"""

from . import heap, util  # the stdlib's package has these after this import
from ._shm.ctypes_shared import (
    Array,
    RawArray,
    RawValue,
    Value,
    copy,
    synchronized,
    typecode_to_type,
)
from ._shm.ctypes_shared import Synchronized as Synchronized
from ._shm.ctypes_shared import SynchronizedArray as SynchronizedArray
from ._shm.ctypes_shared import SynchronizedBase as SynchronizedBase
from ._shm.ctypes_shared import SynchronizedString as SynchronizedString

__all__ = ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized"]
