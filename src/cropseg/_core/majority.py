"""Majority (mode) filter kernel over class maps by sliding box counts (edges replicated)."""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import pjit

__all__ = ["majority"]


@pjit
def majority(img, lut, classes, k, invalid, n_blocks, out):  # pragma: no cover - numba
    """Most frequent valid class index in each k x k window; ties and invalid centres keep the centre.

    ``lut`` maps each value of ``img`` to its class index ``0 .. len(classes) - 1``, or to ``invalid`` for
    nodata, which never votes and stays as it was; ``classes`` maps indices back to values.
    Rows are processed in ``n_blocks`` bands; each band keeps per-column class counts of the rows in
    its window and slides them down, then slides a box sum along each row.
    """
    rows, cols = img.shape
    n_classes = max(len(classes), 1)
    h = k // 2
    step = (rows + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        r0 = b * step
        r1 = min(r0 + step, rows)
        if r0 >= r1:
            continue
        colcount = np.zeros((cols, n_classes), dtype=np.int32)
        box = np.zeros(n_classes, dtype=np.int32)
        for dr in range(-h, h + 1):
            rr = min(max(r0 + dr, 0), rows - 1)
            for c in range(cols):
                v = lut[img[rr, c]]
                if v != invalid:
                    colcount[c, v] += 1
        for r in range(r0, r1):
            if r > r0:
                ro = min(max(r - h - 1, 0), rows - 1)
                ri = min(r + h, rows - 1)
                for c in range(cols):
                    v = lut[img[ro, c]]
                    if v != invalid:
                        colcount[c, v] -= 1
                    v = lut[img[ri, c]]
                    if v != invalid:
                        colcount[c, v] += 1
            box[:] = 0
            for dc in range(-h, h + 1):
                cc = min(max(dc, 0), cols - 1)
                for j in range(n_classes):
                    box[j] += colcount[cc, j]
            for c in range(cols):
                if c > 0:
                    cl = min(max(c - h - 1, 0), cols - 1)
                    cr = min(c + h, cols - 1)
                    for j in range(n_classes):
                        box[j] += colcount[cr, j] - colcount[cl, j]
                centre = lut[img[r, c]]
                if centre == invalid:
                    out[r, c] = img[r, c]
                    continue
                best = centre
                best_n = box[centre]
                for j in range(n_classes):
                    if box[j] > best_n:
                        best = j
                        best_n = box[j]
                out[r, c] = classes[best]
