"""Arrays flush against an inaccessible page, so a native read past either end of a plane
faults (the test process dies) instead of reading a neighbour's bytes silently."""

from __future__ import annotations

import ctypes
import mmap
from typing import Any, List

import numpy as np

_PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_PROT_NONE = 0

_keep: List[mmap.mmap] = []  # a mapping with a protected page must outlive every view of it


def guarded_copy(array: Any, at_end: bool = True) -> Any:
    """A copy of the C-contiguous `array` whose last byte (at_end) or first byte (not at_end)
    touches a PROT_NONE page."""
    src = np.ascontiguousarray(array)
    size = max(src.nbytes, 1)
    data_pages = -(-size // _PAGE)
    total = (data_pages + 2) * _PAGE
    region = mmap.mmap(-1, total)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    for page in (base, base + (data_pages + 1) * _PAGE):
        if _libc.mprotect(ctypes.c_void_p(page), _PAGE, _PROT_NONE) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")
    start = _PAGE + (data_pages * _PAGE - src.nbytes if at_end else 0)
    out = np.frombuffer(region, dtype=src.dtype, count=src.size, offset=start).reshape(src.shape)
    out[...] = src
    _keep.append(region)
    return out
