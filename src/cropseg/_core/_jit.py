"""Shared numba decorator presets, so every kernel is compiled the same way.

``ngjit`` is a cached, GIL-free serial kernel; ``pjit`` is the same with ``parallel=True`` for kernels
whose outermost loop is a ``numba.prange``, each iteration writing its own slice of ``out``.
"""

from __future__ import annotations

import functools

import numba

ngjit = functools.partial(numba.njit, cache=True, nogil=True)
pjit = functools.partial(numba.njit, cache=True, nogil=True, parallel=True)
