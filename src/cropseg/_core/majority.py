"""Majority (mode) filter kernel over class maps by sliding box counts (edges replicated)."""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit

__all__ = ["majority", "binary_vote", "distinct_values"]


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


@ngjit
def _add_row(row, one, nodata, use_nodata, sign, h, ones, valid):  # pragma: no cover - numba
    """Add (``sign = 1``) or remove (``-1``) an image row to the per-column counts (vectorized).

    The counts are padded by ``h`` columns on each side, filled by :func:`_box`. Valid counts are only
    kept with ``use_nodata``; without nodata every window holds k * k values.
    """
    n = len(row)
    inner = ones[h : h + n]
    for c in range(n):
        inner[c] += sign * (row[c] == one)
    if use_nodata:
        inner = valid[h : h + n]
        for c in range(n):
            inner[c] += sign * (row[c] != nodata)


@ngjit
def _box(counts, k, acc):  # pragma: no cover - numba
    """``acc[c] = counts[c] + ... + counts[c + k - 1]``, as ``k`` vectorized passes over the row.

    First replicates the edge counts into the ``k // 2`` padding columns on each side.
    """
    h = k // 2
    m = len(counts)
    for c in range(h):
        counts[c] = counts[h]
        counts[m - 1 - c] = counts[m - 1 - h]
    n = len(acc)
    first = counts[:n]
    for c in range(n):
        acc[c] = first[c]
    for d in range(1, k):
        src = counts[d : d + n]
        for c in range(n):
            acc[c] += src[c]


@ngjit
def _choose(n_one, n_valid, centre, zero, one, nodata, use_nodata, lower_median):  # pragma: no cover - numba
    """One pixel's vote from its window counts (``n_one <= n_valid``, same integer type).

    ``one`` wins with more votes than the others. A tie keeps the centre for the majority and gives
    the lower median ``zero`` (the lower of the two middle values); ``others <= (n_valid - 1) // 2``
    is the same test as ``others < n_one``.
    """
    others = n_valid - n_one
    tie_to_one = (not lower_median) & (n_one == others) & (centre == one)
    value = one if (n_one > others) | tie_to_one else zero
    return nodata if use_nodata and centre == nodata else value


@ngjit
def _decide(row, box_ones, box_valid, k, zero, one, nodata, use_nodata, lower_median, out):  # pragma: no cover
    """Each pixel's vote from its window counts, written to ``out`` (branch-free, vectorized)."""
    window = box_ones.dtype.type(k * k)
    for c in range(len(row)):
        n_valid = box_valid[c] if use_nodata else window
        out[c] = _choose(box_ones[c], n_valid, row[c], zero, one, nodata, use_nodata, lower_median)


@ngjit
def _vote3_row(up, mid, down, zero, one, nodata, use_nodata, lower_median, ones, valid, out):  # pragma: no cover
    """Vote 3 x 3 windows of one row from its three image rows, in two vectorized passes.

    Column counts of the three rows go into ``ones`` / ``valid`` (padded by one replicated column);
    then three neighbouring column counts make each window's counts.
    """
    n = len(mid)
    inner_ones = ones[1 : n + 1]
    inner_valid = valid[1 : n + 1]
    for c in range(n):
        inner_ones[c] = np.uint8(up[c] == one) + np.uint8(mid[c] == one) + np.uint8(down[c] == one)
    if use_nodata:
        for c in range(n):
            inner_valid[c] = np.uint8(up[c] != nodata) + np.uint8(mid[c] != nodata) + np.uint8(down[c] != nodata)
    ones[0] = ones[1]
    ones[n + 1] = ones[n]
    valid[0] = valid[1]
    valid[n + 1] = valid[n]
    o0, o1, o2 = ones[:n], ones[1 : n + 1], ones[2 : n + 2]
    v0, v1, v2 = valid[:n], valid[1 : n + 1], valid[2 : n + 2]
    for c in range(n):
        # Counts are at most 9: byte arithmetic keeps the loop 32 pixels wide.
        n_one = np.uint8(o0[c] + o1[c] + o2[c])
        n_valid = np.uint8(v0[c] + v1[c] + v2[c]) if use_nodata else np.uint8(9)
        out[c] = _choose(n_one, n_valid, mid[c], zero, one, nodata, use_nodata, lower_median)


@pjit
def binary_vote(img, zero, one, nodata, use_nodata, k, lower_median, counter, n_blocks, out):  # pragma: no cover
    """Window vote on a two-class map (``one`` against any other valid value) by sliding box counts.

    Counts the ``one`` pixels and the valid pixels of each window. ``lower_median`` picks ``one`` when
    the other class is at most ``(n - 1) // 2`` of the ``n`` valid values (the lower middle of the
    sorted values, as :func:`median_gather`); otherwise the majority wins and ties keep the centre.
    Nodata centres stay nodata; ``out`` gets ``one`` or ``zero`` (the other valid value).

    Each band of rows keeps per-column counts of its window's rows (padded by ``k // 2`` replicated
    columns), slides them down one row at a time and sums ``k`` shifted copies of them; every step is
    a loop over a whole row that the compiler vectorizes; 3 x 3 windows count their rows directly.
    ``counter`` (empty) gives the count dtype, which must hold ``k * k``.
    """
    rows, cols = img.shape
    h = k // 2
    step = (rows + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        r0 = b * step
        r1 = min(r0 + step, rows)
        if r0 >= r1:
            continue
        ones = np.zeros(cols + 2 * h, dtype=counter.dtype)
        valid = np.zeros(cols + 2 * h, dtype=counter.dtype)
        if k == 3:
            for r in range(r0, r1):
                _vote3_row(
                    img[max(r - 1, 0)], img[r], img[min(r + 1, rows - 1)], zero, one, nodata, use_nodata,
                    lower_median, ones, valid, out[r],
                )
            continue
        box_ones = np.empty(cols, dtype=counter.dtype)
        box_valid = np.empty(cols, dtype=counter.dtype)
        for dr in range(-h, h + 1):
            _add_row(img[min(max(r0 + dr, 0), rows - 1)], one, nodata, use_nodata, 1, h, ones, valid)
        for r in range(r0, r1):
            if r > r0:
                _add_row(img[max(r - h - 1, 0)], one, nodata, use_nodata, -1, h, ones, valid)
                _add_row(img[min(r + h, rows - 1)], one, nodata, use_nodata, 1, h, ones, valid)
            _box(ones, k, box_ones)
            if use_nodata:
                _box(valid, k, box_valid)
            _decide(img[r], box_ones, box_valid, k, zero, one, nodata, use_nodata, lower_median, out[r])


@ngjit
def _count_others(row, a, b, nodata, use_nodata):  # pragma: no cover - numba
    """How many values of ``row`` are neither ``a``, ``b`` nor (with ``use_nodata``) ``nodata`` (vectorized)."""
    n = 0
    for c in range(len(row)):
        n += (row[c] != a) & (row[c] != b) & ((not use_nodata) | (row[c] != nodata))
    return n


@ngjit
def _count_value(row, value):  # pragma: no cover - numba
    n = 0
    for c in range(len(row)):
        n += row[c] == value
    return n


@pjit
def distinct_values(img, nodata, use_nodata, n_blocks, found):  # pragma: no cover - numba
    """Up to three distinct valid values per band of rows, and whether nodata occurs.

    Row ``b`` of ``found`` gets ``(count, first, second, third, has_nodata)`` for band ``b``; a band
    stops at its third value, so this answers "at most two classes?" in about one vectorized pass.
    """
    rows = img.shape[0]
    step = (rows + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        values = np.zeros(3, dtype=img.dtype)
        count = 0
        has_nodata = False
        for r in range(blk * step, min((blk + 1) * step, rows)):
            row = img[r]
            if use_nodata and not has_nodata:
                has_nodata = _count_value(row, nodata) > 0
            a = values[0]
            b = values[1] if count > 1 else a
            if count > 0 and _count_others(row, a, b, nodata, use_nodata) == 0:
                continue
            for v in row:
                if use_nodata and v == nodata:
                    continue
                known = False
                for j in range(count):
                    if values[j] == v:
                        known = True
                if not known:
                    values[count] = v
                    count += 1
                    if count == 3:
                        break
            if count == 3:
                break
        found[blk, 0] = count
        for j in range(3):
            found[blk, 1 + j] = values[j]
        found[blk, 4] = has_nodata
