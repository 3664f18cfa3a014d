"""Hand freed memory back to the operating system after one-off steps that allocate a lot.

TensorFlow and Arrow's readers free hundreds of MB that their allocators keep in the process:
glibc's heap is trimmed only from the top (`malloc_trim` returns the rest; elsewhere, macOS or musl,
that part does nothing), and Arrow's default pool (mimalloc; the CLI switches to the system
allocator, the Python API keeps it) holds what reading every photo of a parquet file once took,
~90 MB for 2,000 photos, until asked to let it go. The steps after them start from a lower peak."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> None:
    if "pyarrow" in sys.modules:  # (never imported just for this)
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


# Blocks this large or larger are mapped on their own and unmapped when freed. glibc's default
# raises this threshold as large blocks are freed (up to 32 MB), after which every decoded photo
# (~0.5 MB) stays in a per-thread heap: ~40 MB held by four decoding threads.
MMAP_THRESHOLD = 256 * 1024
M_MMAP_THRESHOLD = -3  # mallopt's parameter number


def tune_allocator() -> None:
    """For a command's process (the CLI's): freed photos go back to the OS at once."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
