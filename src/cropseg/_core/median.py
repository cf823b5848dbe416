"""Median filter kernels (edges replicated, like ``cv2.medianBlur`` and ``scipy`` ``mode="nearest"``).

- ``median3``: a 3x3 min/max exchange network, any dtype, no nodata.
- ``median_hist_u8``: Huang's sliding histogram for uint8, any odd k, no nodata.
- ``median_hist_u16``: the same with a two-level (256 x 256) histogram for uint16.
- ``median_gather``: any dtype and k, optionally ignoring a nodata value (and NaN): gathers the valid
  window values and selects the lower middle one.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit

__all__ = ["median3", "median_hist_u8", "median_hist_u16", "median_gather"]


@ngjit
def _sort2(a, b):  # pragma: no cover - numba
    return (a, b) if a <= b else (b, a)


@pjit
def median3(img, out):  # pragma: no cover - numba
    """3x3 median by the classic 19-exchange network on each pixel's replicated neighbourhood."""
    rows, cols = img.shape
    for r in prange(rows):
        ru = max(r - 1, 0)
        rd = min(r + 1, rows - 1)
        for c in range(cols):
            cl = max(c - 1, 0)
            cr = min(c + 1, cols - 1)
            p0, p1, p2 = img[ru, cl], img[ru, c], img[ru, cr]
            p3, p4, p5 = img[r, cl], img[r, c], img[r, cr]
            p6, p7, p8 = img[rd, cl], img[rd, c], img[rd, cr]
            p1, p2 = _sort2(p1, p2)
            p4, p5 = _sort2(p4, p5)
            p7, p8 = _sort2(p7, p8)
            p0, p1 = _sort2(p0, p1)
            p3, p4 = _sort2(p3, p4)
            p6, p7 = _sort2(p6, p7)
            p1, p2 = _sort2(p1, p2)
            p4, p5 = _sort2(p4, p5)
            p7, p8 = _sort2(p7, p8)
            p0, p3 = _sort2(p0, p3)
            p5, p8 = _sort2(p5, p8)
            p4, p7 = _sort2(p4, p7)
            p3, p6 = _sort2(p3, p6)
            p1, p4 = _sort2(p1, p4)
            p2, p5 = _sort2(p2, p5)
            p4, p7 = _sort2(p4, p7)
            p4, p2 = _sort2(p4, p2)
            p6, p4 = _sort2(p6, p4)
            p4, p2 = _sort2(p4, p2)
            out[r, c] = p4


@pjit
def median_hist_u8(img, k, out):  # pragma: no cover - numba
    """Huang's algorithm: per row, a 256-bin window histogram slid along the row."""
    rows, cols = img.shape
    h = k // 2
    half = (k * k) // 2
    for r in prange(rows):
        hist = np.zeros(256, dtype=np.int32)
        for dr in range(-h, h + 1):
            rr = min(max(r + dr, 0), rows - 1)
            for dc in range(-h, h + 1):
                cc = min(max(dc, 0), cols - 1)
                hist[img[rr, cc]] += 1
        # median m and lt = number of values below m
        m = 0
        lt = 0
        while lt + hist[m] <= half:
            lt += hist[m]
            m += 1
        out[r, 0] = m
        for c in range(1, cols):
            cl = min(max(c - h - 1, 0), cols - 1)
            cr = min(c + h, cols - 1)
            for dr in range(-h, h + 1):
                rr = min(max(r + dr, 0), rows - 1)
                v = img[rr, cl]
                hist[v] -= 1
                if v < m:
                    lt -= 1
                v = img[rr, cr]
                hist[v] += 1
                if v < m:
                    lt += 1
            while lt > half:
                m -= 1
                lt -= hist[m]
            while lt + hist[m] <= half:
                lt += hist[m]
                m += 1
            out[r, c] = m


@pjit
def median_hist_u16(img, k, n_blocks, out):  # pragma: no cover - numba
    """Huang's algorithm with a coarse (high byte) and a fine (full value) histogram for uint16.

    Rows are split into ``n_blocks`` bands, each with its own histograms (cleared by removing the
    last window of a row, not by zeroing 65 536 bins). The coarse median bin is tracked as in Huang's
    algorithm; the median is then found by a scan of at most 256 fine bins.
    """
    rows, cols = img.shape
    h = k // 2
    half = (k * k) // 2
    step = (rows + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        fine = np.zeros(65536, dtype=np.int32)
        coarse = np.zeros(256, dtype=np.int32)
        for r in range(blk * step, min((blk + 1) * step, rows)):
            mc = 0
            ltc = 0
            for dr in range(-h, h + 1):
                rr = min(max(r + dr, 0), rows - 1)
                for dc in range(-h, h + 1):
                    v = img[rr, min(max(dc, 0), cols - 1)]
                    fine[v] += 1
                    coarse[v >> 8] += 1
            for c in range(cols):
                if c > 0:
                    cl = min(max(c - h - 1, 0), cols - 1)
                    cr = min(c + h, cols - 1)
                    for dr in range(-h, h + 1):
                        rr = min(max(r + dr, 0), rows - 1)
                        v = img[rr, cl]
                        fine[v] -= 1
                        coarse[v >> 8] -= 1
                        if (v >> 8) < mc:
                            ltc -= 1
                        v = img[rr, cr]
                        fine[v] += 1
                        coarse[v >> 8] += 1
                        if (v >> 8) < mc:
                            ltc += 1
                while ltc > half:
                    mc -= 1
                    ltc -= coarse[mc]
                while ltc + coarse[mc] <= half:
                    ltc += coarse[mc]
                    mc += 1
                acc = ltc
                v = mc << 8
                while acc + fine[v] <= half:
                    acc += fine[v]
                    v += 1
                out[r, c] = v
            # Empty the histograms: remove the row's last window.
            for dr in range(-h, h + 1):
                rr = min(max(r + dr, 0), rows - 1)
                for dc in range(cols - 1 - h, cols + h):
                    v = img[rr, min(max(dc, 0), cols - 1)]
                    fine[v] -= 1
                    coarse[v >> 8] -= 1


@ngjit
def _select(buf, n, target):  # pragma: no cover - numba
    """Quickselect: the ``target``-th smallest of ``buf[:n]`` (reorders ``buf``)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = buf[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                tmp = buf[i]
                buf[i] = buf[j]
                buf[j] = tmp
                i += 1
                j -= 1
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:
            break
    return buf[target]


@pjit
def median_gather(img, k, use_nodata, nodata, out):  # pragma: no cover - numba
    """Median of the valid values of each window; lower middle for even counts.

    With ``use_nodata``, values equal to ``nodata`` and NaN are invalid; an invalid centre, or a window
    without valid values, gives ``nodata``.
    """
    rows, cols = img.shape
    h = k // 2
    for r in prange(rows):
        buf = np.empty(k * k, dtype=img.dtype)
        for c in range(cols):
            centre = img[r, c]
            if use_nodata and (centre == nodata or centre != centre):
                out[r, c] = nodata
                continue
            n = 0
            for dr in range(-h, h + 1):
                rr = min(max(r + dr, 0), rows - 1)
                for dc in range(-h, h + 1):
                    v = img[rr, min(max(c + dc, 0), cols - 1)]
                    if use_nodata and (v == nodata or v != v):
                        continue
                    buf[n] = v
                    n += 1
            out[r, c] = _select(buf, n, (n - 1) // 2)
