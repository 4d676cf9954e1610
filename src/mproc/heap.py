"""The arena heap that backs sharedctypes (stdlib ``multiprocessing.heap``).

Arenas are anonymous shared files (memfd), inherited under fork and passed as file
descriptors under spawn and forkserver; see ``mproc._shm.heap``.
"""

from . import util  # the stdlib's package has these after this import
from ._shm.heap import Arena, BufferWrapper, Heap

__all__ = ["BufferWrapper"]
