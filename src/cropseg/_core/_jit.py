"""Shared numba decorator presets, so every kernel is compiled the same way, and kernel outputs.

``ngjit`` is a cached, GIL-free serial kernel; ``pjit`` is the same with ``parallel=True`` for kernels
whose outermost loop is a ``numba.prange``, each iteration writing its own slice of ``out``.
:func:`prefaulted` allocates the outputs such kernels fill.
"""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np

ngjit = functools.partial(numba.njit, cache=True, nogil=True)
pjit = functools.partial(numba.njit, cache=True, nogil=True, parallel=True)


def prefaulted(shape: Any, dtype: Any) -> np.ndarray:
    """``np.empty`` with every page already mapped, for a parallel kernel to fill.

    A fresh large array is mapped page by page on first write. Kernel threads faulting pages in at
    the same time cost several microseconds a page here (a 64 MB output: 50-90 ms, more than the
    kernel's own work for a lookup); one byte per page written from this thread costs ~0.5 us.
    """
    out = np.empty(shape, dtype=dtype)
    out.reshape(-1).view(np.uint8)[::4096] = 0
    return out
