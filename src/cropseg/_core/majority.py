"""Majority (mode) filter kernel over class maps by sliding box counts (edges replicated)."""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import pjit

__all__ = ["majority", "binary_vote", "value_counts"]


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


@pjit
def binary_vote(img, zero, one, nodata, use_nodata, k, lower_median, n_blocks, out):  # pragma: no cover - numba
    """Window vote on a two-class map (``one`` against any other valid value) by sliding box counts.

    Counts the ``one`` pixels and the valid pixels of each window. ``lower_median`` picks ``one`` when
    the other class is at most ``(n - 1) // 2`` of the ``n`` valid values (the lower middle of the
    sorted values, as :func:`median_gather`); otherwise the majority wins and ties keep the centre.
    Nodata centres stay nodata; ``out`` gets ``one`` or ``zero`` (the other valid value).
    """
    rows, cols = img.shape
    h = k // 2
    step = (rows + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        r0 = b * step
        r1 = min(r0 + step, rows)
        if r0 >= r1:
            continue
        ones = np.zeros(cols, dtype=np.int32)
        valid = np.zeros(cols, dtype=np.int32)
        for dr in range(-h, h + 1):
            rr = min(max(r0 + dr, 0), rows - 1)
            for c in range(cols):
                v = img[rr, c]
                if not (use_nodata and v == nodata):
                    valid[c] += 1
                    if v == one:
                        ones[c] += 1
        for r in range(r0, r1):
            if r > r0:
                ro = min(max(r - h - 1, 0), rows - 1)
                ri = min(r + h, rows - 1)
                for c in range(cols):
                    v = img[ro, c]
                    if not (use_nodata and v == nodata):
                        valid[c] -= 1
                        if v == one:
                            ones[c] -= 1
                    v = img[ri, c]
                    if not (use_nodata and v == nodata):
                        valid[c] += 1
                        if v == one:
                            ones[c] += 1
            box_ones = 0
            box_valid = 0
            for dc in range(-h, h + 1):
                cc = min(max(dc, 0), cols - 1)
                box_ones += ones[cc]
                box_valid += valid[cc]
            for c in range(cols):
                if c > 0:
                    cl = min(max(c - h - 1, 0), cols - 1)
                    cr = min(c + h, cols - 1)
                    box_ones += ones[cr] - ones[cl]
                    box_valid += valid[cr] - valid[cl]
                centre = img[r, c]
                if use_nodata and centre == nodata:
                    out[r, c] = nodata
                    continue
                others = box_valid - box_ones
                if lower_median:
                    out[r, c] = one if others <= (box_valid - 1) // 2 else zero
                elif box_ones > others:
                    out[r, c] = one
                elif box_ones < others:
                    out[r, c] = zero
                else:
                    out[r, c] = one if centre == one else zero


@pjit
def value_counts(img, n_values, n_blocks):  # pragma: no cover - numba
    """Histogram of the values of a uint8/uint16 image (``n_values`` bins), counted in parallel blocks."""
    rows, cols = img.shape
    step = (rows + n_blocks - 1) // n_blocks
    partial = np.zeros((n_blocks, n_values), dtype=np.int64)
    for b in prange(n_blocks):
        for r in range(b * step, min((b + 1) * step, rows)):
            for c in range(cols):
                partial[b, img[r, c]] += 1
    return partial.sum(axis=0)
