"""Kernels for :mod:`cropseg.vectorize`: contour points of the upsampled trace to pixel-corner rings."""

from __future__ import annotations

import numpy as np
from numba import prange

__all__ = ["corner_rings", "split_loops"]

from cropseg._core._jit import ngjit, pjit


@pjit
def corner_rings(points, offsets, diagonal, out, out_len, pinch):  # pragma: no cover - numba
    """Map traced points to pixel corners, drop consecutive repeats, flag rings that touch themselves.

    ``points`` are ``(x, y)`` of the 2x-upsampled, one-pixel-framed trace; ring ``i`` spans
    ``points[offsets[i]:offsets[i + 1]]``. The corner of point ``p`` is ``(p + 1) // 2 - 1``. Ring ``i``
    is written to ``out[offsets[i]:offsets[i] + out_len[i]]``. ``pinch[i]`` is set when the ring
    passes a corner where the mask is diagonal (``diagonal[y, x]``), the only place a ring can touch
    itself.
    """
    for i in prange(len(offsets) - 1):
        start = offsets[i]
        stop = offsets[i + 1]
        n = 0
        last_x = (points[stop - 1, 0] + 1) // 2 - 1
        last_y = (points[stop - 1, 1] + 1) // 2 - 1
        n_diag = 0
        for k in range(start, stop):
            x = (points[k, 0] + 1) // 2 - 1
            y = (points[k, 1] + 1) // 2 - 1
            if x == last_x and y == last_y and not (n == 0 and k == stop - 1):
                continue
            out[start + n, 0] = x
            out[start + n, 1] = y
            n += 1
            last_x = x
            last_y = y
            # The frame's own border lies outside the corner grid; it is dropped by the caller.
            if 0 <= y < diagonal.shape[0] and 0 <= x < diagonal.shape[1] and diagonal[y, x]:
                n_diag += 1
        if n == 0:
            out[start, 0] = last_x
            out[start, 1] = last_y
            n = 1
        out_len[i] = n
        flag = False
        if n_diag > 1:
            # A repeated vertex can only be a diagonal corner: compare those few pairwise.
            diag = np.empty(n_diag, dtype=np.int64)
            m = 0
            for k in range(start, start + n):
                y = out[k, 1]
                x = out[k, 0]
                if 0 <= y < diagonal.shape[0] and 0 <= x < diagonal.shape[1] and diagonal[y, x]:
                    diag[m] = k
                    m += 1
            for u in range(m):
                for v in range(u + 1, m):
                    if out[diag[u], 0] == out[diag[v], 0] and out[diag[u], 1] == out[diag[v], 1]:
                        flag = True
        pinch[i] = flag



@ngjit
def split_loops(ring, width):  # pragma: no cover - numba
    """Split a ring that visits vertices more than once into simple loops.

    Walks the ring keeping the open path on a stack; when a vertex repeats, the path since its first
    visit closes a loop and is cut out. Returns the vertex indices of all loops, concatenated, and
    the loop offsets into them. Loops of fewer than three vertices (spikes) are dropped.
    """
    n = len(ring)
    seen = dict()
    seen[-1] = -1
    stack = np.empty(n, dtype=np.int64)
    sp = 0
    out = np.empty(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    n_loops = 0
    w = 0
    for i in range(n):
        key = ring[i, 1] * width + ring[i, 0]
        if key in seen:
            at = seen[key]
            if sp - at >= 3:
                for j in range(at, sp):
                    out[w] = stack[j]
                    w += 1
                n_loops += 1
                offsets[n_loops] = w
            for j in range(at + 1, sp):
                seen.pop(ring[stack[j], 1] * width + ring[stack[j], 0])
            sp = at + 1
        else:
            seen[key] = sp
            stack[sp] = i
            sp += 1
    if sp >= 3:
        for j in range(sp):
            out[w] = stack[j]
            w += 1
        n_loops += 1
        offsets[n_loops] = w
    return out[:w], offsets[: n_loops + 1]
