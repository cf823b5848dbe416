"""Median filter kernels (edges replicated, like ``cv2.medianBlur`` and ``scipy`` ``mode="nearest"``).

- ``median3``: the 3x3 median from column-sorted rows, any dtype, no nodata.
- ``median3_nodata``: the nodata-aware 3x3 median, the same way (ranks 0-4 of each window).
- ``median_tile_network``: any odd k by separable sorting networks, a block of windows per program,
  any dtype, optionally nodata-aware (used up to the window size where the histograms overtake it).
- ``median_hist_u8``: Huang's sliding histogram for uint8, any odd k, no nodata.
- ``median_ph_u8``: Perreault and Hebert's constant-time median for uint8 (large k), no nodata.
- ``median_hist_u16``: the same for uint16, with the median tracked from pixel to pixel.
- ``median_tiled_ranks``: any dtype, any number of distinct values, optionally nodata-aware: tile by
  tile, the tile's values as uint16 ranks through ``median_hist_u16``'s histograms.
- ``median_gather``: any dtype and k, optionally ignoring a nodata value (and NaN): gathers the valid
  window values and selects the lower middle one.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit
from cropseg._core.ranks import sort_keys

__all__ = [
    "median3",
    "median3_nodata",
    "median_tile_network",
    "median_hist_u8",
    "median_ph_u8",
    "median_hist_u16",
    "median_tiled_ranks",
    "median_gather",
]


@ngjit
def _med3(a, b, c):  # pragma: no cover - numba
    """Median of three (branch-free min/max; no NaN here)."""
    lo = a if a < b else b
    hi = b if a < b else a
    t = hi if hi < c else c
    return t if lo < t else lo


@ngjit
def _sort_columns3(up, mid, down, lo, me, hi):  # pragma: no cover - numba
    """Sort the three values of every column of three rows into ``lo <= me <= hi`` (vectorized).

    The outputs are padded by one replicated column on each side.
    """
    n = len(up)
    lo_in, me_in, hi_in = lo[1 : n + 1], me[1 : n + 1], hi[1 : n + 1]
    for x in range(n):
        a = up[x]
        b = mid[x]
        c = down[x]
        s = a if a < b else b
        t = b if a < b else a
        lo_in[x] = s if s < c else c
        u = c if s < c else s
        me_in[x] = u if u < t else t
        hi_in[x] = t if u < t else u
    for buf in (lo, me, hi):
        buf[0] = buf[1]
        buf[n + 1] = buf[n]


@ngjit
def _med9(lo, me, hi, out):  # pragma: no cover - numba
    """3x3 medians from column-sorted rows padded by one column: med3(max of lows, med of mids, min of highs)."""
    n = len(out)
    l0, l1, l2 = lo[:n], lo[1 : n + 1], lo[2 : n + 2]
    m0, m1, m2 = me[:n], me[1 : n + 1], me[2 : n + 2]
    h0, h1, h2 = hi[:n], hi[1 : n + 1], hi[2 : n + 2]
    for x in range(n):
        a = l0[x] if l0[x] > l1[x] else l1[x]
        a = a if a > l2[x] else l2[x]
        c = h0[x] if h0[x] < h1[x] else h1[x]
        c = c if c < h2[x] else h2[x]
        out[x] = _med3(a, _med3(m0[x], m1[x], m2[x]), c)


@pjit
def median3(img, n_blocks, out):  # pragma: no cover - numba
    """3x3 median: per row, sort each column of three, then the classic max/med/min of the sorted columns.

    Both steps are loops over whole rows (held in buffers padded by one replicated column) that the
    compiler vectorizes.
    """
    rows, cols = img.shape
    step = (rows + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        lo = np.empty(cols + 2, dtype=img.dtype)
        me = np.empty(cols + 2, dtype=img.dtype)
        hi = np.empty(cols + 2, dtype=img.dtype)
        for r in range(b * step, min((b + 1) * step, rows)):
            _sort_columns3(img[max(r - 1, 0)], img[r], img[min(r + 1, rows - 1)], lo, me, hi)
            _med9(lo, me, hi, out[r])


@ngjit
def _sort_columns3_nodata(up, mid, down, nodata, big, lo, me, hi, count):  # pragma: no cover - numba
    """As :func:`_sort_columns3` with invalid values (``nodata``, NaN) made ``big``; ``count`` gets the valid ones."""
    n = len(up)
    lo_in, me_in, hi_in, count_in = lo[1 : n + 1], me[1 : n + 1], hi[1 : n + 1], count[1 : n + 1]
    one = count.dtype.type(1)
    zero = count.dtype.type(0)
    for x in range(n):
        a = up[x]
        b = mid[x]
        c = down[x]
        ok_a = not (a == nodata or a != a)
        ok_b = not (b == nodata or b != b)
        ok_c = not (c == nodata or c != c)
        count_in[x] = (one if ok_a else zero) + (one if ok_b else zero) + (one if ok_c else zero)
        a = a if ok_a else big
        b = b if ok_b else big
        c = c if ok_c else big
        s = a if a < b else b
        t = b if a < b else a
        lo_in[x] = s if s < c else c
        u = c if s < c else s
        me_in[x] = u if u < t else t
        hi_in[x] = t if u < t else u
    for buf in (lo, me, hi):
        buf[0] = buf[1]
        buf[n + 1] = buf[n]
    count[0] = count[1]
    count[n + 1] = count[n]


@ngjit
def _med9_nodata(lo, me, hi, count, centre, nodata, out):  # pragma: no cover - numba
    """Nodata-aware 3x3 medians from column-sorted rows (invalid values sorted last as ``big``).

    Sorting the three lows and the three mids across the window's columns keeps the 3x3 matrix
    sorted along rows and columns (a Young tableau ``T``); the ``j``-th smallest of its nine values is
    then the least maximum over the staircase shapes of ``j + 1`` cells. The output picks rank
    ``(n - 1) // 2`` of the ``n`` valid values (they sort first) and keeps a nodata ``centre``.
    """
    n = len(out)
    l0, l1, l2 = lo[:n], lo[1 : n + 1], lo[2 : n + 2]
    m0, m1, m2 = me[:n], me[1 : n + 1], me[2 : n + 2]
    h0, h1, h2 = hi[:n], hi[1 : n + 1], hi[2 : n + 2]
    c0, c1, c2 = count[:n], count[1 : n + 1], count[2 : n + 2]
    kind = count.dtype.type
    for x in range(n):
        # Row 0 (the lows) sorted: t00 <= t01 <= t02; row 1: t10 <= t11; row 2: t20.
        s = l0[x] if l0[x] < l1[x] else l1[x]
        t = l1[x] if l0[x] < l1[x] else l0[x]
        t00 = s if s < l2[x] else l2[x]
        u = l2[x] if s < l2[x] else s
        t01 = u if u < t else t
        t02 = t if u < t else u
        s = m0[x] if m0[x] < m1[x] else m1[x]
        t = m1[x] if m0[x] < m1[x] else m0[x]
        t10 = s if s < m2[x] else m2[x]
        u = m2[x] if s < m2[x] else s
        t11 = u if u < t else t
        t20 = h0[x] if h0[x] < h1[x] else h1[x]
        t20 = t20 if t20 < h2[x] else h2[x]
        a = t01 if t01 < t10 else t10  # rank 1
        b = t10 if t01 < t10 else t01
        b = b if b < t02 else t02
        b = b if b < t20 else t20  # rank 2
        p = t02 if t02 > t10 else t10
        q = t01 if t01 > t20 else t20
        c = p if p < q else q
        c = c if c < t11 else t11  # rank 3
        d = _med3(t02, t11, t20)  # rank 4
        # Rank (n - 1) // 2 of the n valid values, in the counts' own (narrow) type.
        n_valid = kind(c0[x] + c1[x] + c2[x])
        v = d if n_valid >= 9 else c
        v = v if n_valid >= 7 else b
        v = v if n_valid >= 5 else a
        v = v if n_valid >= 3 else t00
        w = centre[x]
        out[x] = nodata if (w == nodata or w != w) else v


@pjit
def median3_nodata(img, nodata, big, counter, n_blocks, out):  # pragma: no cover - numba
    """Nodata-aware 3x3 median (the lower middle of the valid values), per row in vectorized passes.

    Invalid values (``nodata`` and NaN) become ``big``, the dtype's largest value, which sorts last;
    a valid value equal to ``big`` is equal to whatever sorts beside it. ``counter`` (empty) gives
    the dtype of the per-column valid counts (as wide as the image's values, so the loops vectorize).
    """
    rows, cols = img.shape
    step = (rows + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        lo = np.empty(cols + 2, dtype=img.dtype)
        me = np.empty(cols + 2, dtype=img.dtype)
        hi = np.empty(cols + 2, dtype=img.dtype)
        count = np.empty(cols + 2, dtype=counter.dtype)
        for r in range(b * step, min((b + 1) * step, rows)):
            _sort_columns3_nodata(
                img[max(r - 1, 0)], img[r], img[min(r + 1, rows - 1)], nodata, big, lo, me, hi, count
            )
            _med9_nodata(lo, me, hi, count, img[r], nodata, out[r])


@ngjit
def _run_program(slots, program, width):  # pragma: no cover - numba
    """Apply operations ``(a, b, kind)`` (exchanges, or copies of ``a`` to ``b``) to slot rows.

    Each operation is a loop over ``width`` lanes that the compiler vectorizes.
    """
    for p in range(len(program)):
        a = slots[program[p, 0]]
        b = slots[program[p, 1]]
        kind = program[p, 2]
        if kind == 3:
            for x in range(width):
                u = a[x]
                v = b[x]
                a[x] = u if u < v else v
                b[x] = v if u < v else u
        elif kind == 1:
            for x in range(width):
                u = a[x]
                v = b[x]
                a[x] = u if u < v else v
        elif kind == 2:
            for x in range(width):
                u = a[x]
                v = b[x]
                b[x] = v if u < v else u
        else:
            for x in range(width):
                b[x] = a[x]


@pjit
def median_tile_network(  # pragma: no cover - numba
    img, k, tile_rows, tile_cols, programs, starts, spreads, outputs, n_slots, block, n_blocks, use_nodata, nodata,
    big, out,
):
    """Median of every ``k x k`` window by programs of :func:`cropseg._networks.tile_median_program`.

    The output is cut into tiles of ``tile_rows x tile_cols``; for each row of tiles and block of
    ``block`` tiles along it, slot ``i * (tile_cols + k - 1) + j`` gets input value ``(i, j)`` of
    every tile (with its margins, edges replicated), one tile per lane, a program runs (every step
    a loop over the lanes that the compiler vectorizes) and slot ``outputs[p, a * tile_cols + b, s]``
    holds rank ``k * k // 2 - spreads[p] + s`` of output ``(a, b)`` of every tile. Program ``p`` is
    ``programs[starts[p]:starts[p + 1]]``.

    Without ``use_nodata`` program 0 (``spreads[0] == 0``) gives the medians. With it, invalid
    values (``nodata`` and NaN) are loaded as ``big`` (they sort last), each window's invalid count
    ``m`` is summed from its rows' counts, and the block runs the first program whose spread covers
    ``ceil(m / 2)`` for every valid centre: rank ``k * k // 2 - ceil(m / 2)`` is the lower middle of
    the window's valid values. Invalid centres give ``nodata``.
    """
    rows, cols = img.shape
    h = k // 2
    width = tile_cols + k - 1
    n_tile_rows = (rows + tile_rows - 1) // tile_rows
    n_tile_cols = (cols + tile_cols - 1) // tile_cols
    step = (n_tile_rows + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        slots = np.empty((n_slots, block), dtype=img.dtype)
        n_flags = (tile_rows + k - 1) * width if use_nodata else 0
        bad = np.empty((n_flags, block), dtype=np.int16)  # k * k <= 32 767 invalid values
        column = np.empty((width if use_nodata else 0, block), dtype=np.int16)
        missing = np.empty((tile_rows * tile_cols if use_nodata else 0, block), dtype=np.int16)
        for tr in range(blk * step, min((blk + 1) * step, n_tile_rows)):
            r0 = tr * tile_rows
            for t0 in range(0, n_tile_cols, block):
                lanes = min(block, n_tile_cols - t0)
                for i in range(tile_rows + k - 1):
                    src = img[min(max(r0 - h + i, 0), rows - 1)]
                    for j in range(width):
                        dst = slots[i * width + j]
                        first = t0 * tile_cols + j - h
                        if first >= 0 and first + (lanes - 1) * tile_cols < cols:
                            for t in range(lanes):
                                dst[t] = src[first + t * tile_cols]
                        else:
                            for t in range(lanes):
                                dst[t] = src[min(max(first + t * tile_cols, 0), cols - 1)]
                        if use_nodata:
                            flag = bad[i * width + j]
                            for t in range(lanes):
                                v = dst[t]
                                invalid = v == nodata or v != v
                                flag[t] = np.int16(invalid)
                                dst[t] = big if invalid else v
                choice = 0
                if use_nodata:
                    need = -1  # stays -1 when every centre is invalid
                    for a in range(tile_rows):
                        for j in range(width):
                            col = column[j]
                            if a == 0:
                                for t in range(lanes):
                                    col[t] = 0
                                for i in range(k):
                                    flag = bad[i * width + j]
                                    for t in range(lanes):
                                        col[t] += flag[t]
                            else:
                                gone = bad[(a - 1) * width + j]
                                came = bad[(a + k - 1) * width + j]
                                for t in range(lanes):
                                    col[t] += came[t] - gone[t]
                        for b in range(tile_cols):
                            m = missing[a * tile_cols + b]
                            for t in range(lanes):
                                m[t] = 0
                            for d in range(k):
                                col = column[b + d]
                                for t in range(lanes):
                                    m[t] += col[t]
                            centre = bad[(a + h) * width + b + h]
                            for t in range(lanes):
                                if centre[t] == 0:
                                    need = max(need, (np.int64(m[t]) + 1) // 2)
                    if need < 0:
                        for a in range(min(tile_rows, rows - r0)):
                            row = out[r0 + a]
                            for c in range(t0 * tile_cols, min((t0 + lanes) * tile_cols, cols)):
                                row[c] = nodata
                        continue
                    while spreads[choice] < need:
                        choice += 1
                _run_program(slots, programs[starts[choice] : starts[choice + 1]], lanes)
                spread = spreads[choice]
                for a in range(min(tile_rows, rows - r0)):
                    row = out[r0 + a]
                    for b in range(tile_cols):
                        n_lanes = min(lanes, (cols - b - t0 * tile_cols + tile_cols - 1) // tile_cols)
                        if use_nodata:
                            m = missing[a * tile_cols + b]
                            centre = bad[(a + h) * width + b + h]
                            ranks = outputs[choice, a * tile_cols + b]
                            for t in range(n_lanes):
                                if centre[t]:
                                    row[(t0 + t) * tile_cols + b] = nodata
                                else:
                                    row[(t0 + t) * tile_cols + b] = slots[ranks[spread - (np.int64(m[t]) + 1) // 2], t]
                        else:
                            res = slots[outputs[choice, a * tile_cols + b, 0]]
                            for t in range(n_lanes):
                                row[(t0 + t) * tile_cols + b] = res[t]


@pjit
def median_hist_u8(img, k, use_nodata, nodata, out):  # pragma: no cover - numba
    """Huang's algorithm: per row, a 256-bin window histogram slid along the row, the median tracked.

    With ``use_nodata``, values equal to ``nodata`` stay out of the histogram, the target is the
    lower middle of the valid values and a nodata centre gives ``nodata``.
    """
    rows, cols = img.shape
    h = k // 2
    for r in prange(rows):
        hist = np.zeros(256, dtype=np.int32)
        n = 0
        for dr in range(-h, h + 1):
            rr = min(max(r + dr, 0), rows - 1)
            for dc in range(-h, h + 1):
                v = img[rr, min(max(dc, 0), cols - 1)]
                if not (use_nodata and v == nodata):
                    hist[v] += 1
                    n += 1
        # median m and lt = number of valid values below m
        m = 0
        lt = 0
        for c in range(cols):
            if c > 0:
                cl = min(max(c - h - 1, 0), cols - 1)
                cr = min(c + h, cols - 1)
                for dr in range(-h, h + 1):
                    rr = min(max(r + dr, 0), rows - 1)
                    v = img[rr, cl]
                    if not (use_nodata and v == nodata):
                        hist[v] -= 1
                        lt -= np.int64(v < m)
                        n -= 1
                    v = img[rr, cr]
                    if not (use_nodata and v == nodata):
                        hist[v] += 1
                        lt += np.int64(v < m)
                        n += 1
            if use_nodata and img[r, c] == nodata:
                out[r, c] = nodata
                continue
            t = (n - 1) // 2
            while lt > t:
                m -= 1
                lt -= hist[m]
            while lt + hist[m] <= t:
                lt += hist[m]
                m += 1
            out[r, c] = m


@ngjit
def _lane(words, j):  # pragma: no cover - numba
    """Count ``j`` of 16-bit counts packed four to a uint64 word (count j in bits 16 (j % 4) of word j // 4)."""
    return np.int64((words[j >> 2] >> np.uint64(16 * (j & 3))) & np.uint64(0xFFFF))


@pjit
def median_ph_u8(img, k, n_blocks, stripe, out):  # pragma: no cover - numba
    """Perreault and Hebert's constant-time median for uint8 (k <= 255), with fine bins updated lazily.

    The image is cut into ``n_blocks`` bands of rows and stripes of ``stripe`` columns, so that a
    tile's column histograms stay in cache. Each tile keeps one histogram per (edge-replicated)
    column of its stripe and margins over the ``k`` rows of the window, coarse (16 bins of 16
    values) and fine (256 bins), moved down one row at a time. Along a row, the window's coarse
    histogram is the sum of ``k`` column histograms, updated by one column in and one out; the
    median's coarse bin is carried from pixel to pixel with the count below it (the column moving
    in and the one moving out change that count by their values below the median's bin; a step or
    two then restores it), and only that bin's 16 fine counts are brought up to date (from where
    they were last valid, or summed afresh), as in OpenCV's implementation.

    Counts are 16-bit lanes packed four to a uint64 word (SWAR), so adding or subtracting a
    histogram is 4 word operations instead of 16 (numba does not vectorize the lane loops). Word
    arithmetic modulo 2**64 is exact as long as every final lane lies in [0, 2**16), which holds
    because a window holds k * k <= 65 025 values: borrows between lanes in between cancel out.
    Multiplying a word by 0x0001000100010001 leaves in each lane the sum of it and the lanes below
    (the prefix sums that find a median's bin and value).
    """
    rows, cols = img.shape
    h = k // 2
    half = (k * k) // 2
    step = (rows + n_blocks - 1) // n_blocks
    n_stripes = (cols + stripe - 1) // stripe
    one = np.uint64(1)
    spread = np.uint64(0x0001000100010001)
    top = np.uint64(48)
    lane_mask = np.uint64(0xFFFF)
    for t in prange(n_blocks * n_stripes):
        blk = t // n_stripes
        c0 = (t % n_stripes) * stripe
        c1 = min(c0 + stripe, cols)
        width = c1 - c0 + 2 * h
        colc = np.zeros((width, 4), dtype=np.uint64)  # coarse bin j: lane j % 4 of word j // 4
        colf = np.zeros((width, 64), dtype=np.uint64)  # value v: lane v % 4 of word v // 4
        hc = np.zeros(4, dtype=np.uint64)
        hf = np.zeros(64, dtype=np.uint64)
        valid_at = np.empty(16, dtype=np.int64)
        first = blk * step
        for r in range(first, min((blk + 1) * step, rows)):
            if r == first:
                for dr in range(-h, h + 1):
                    rr = min(max(r + dr, 0), rows - 1)
                    for p in range(width):
                        v = np.int64(img[rr, min(max(c0 - h + p, 0), cols - 1)])
                        colc[p, v >> 6] += one << np.uint64(16 * ((v >> 4) & 3))
                        colf[p, v >> 2] += one << np.uint64(16 * (v & 3))
            else:
                up = min(max(r - h - 1, 0), rows - 1)
                down = min(r + h, rows - 1)
                for p in range(width):
                    cc = min(max(c0 - h + p, 0), cols - 1)
                    a = np.int64(img[up, cc])
                    b = np.int64(img[down, cc])
                    if a != b:
                        colc[p, a >> 6] -= one << np.uint64(16 * ((a >> 4) & 3))
                        colf[p, a >> 2] -= one << np.uint64(16 * (a & 3))
                        colc[p, b >> 6] += one << np.uint64(16 * ((b >> 4) & 3))
                        colf[p, b >> 2] += one << np.uint64(16 * (b & 3))
            for j in range(4):
                hc[j] = 0
            for j in range(16):
                valid_at[j] = -(2 * k)
            for p in range(k):
                for j in range(4):
                    hc[j] += colc[p, j]
            # Coarse bin b of the median and the count below it (below <= half < below + count b),
            # found once per row, then carried along it.
            acc = 0
            b = 0
            below = 0
            for j in range(16):
                acc += _lane(hc, j)
                le = acc <= half
                b += np.int64(le)
                below = acc if le else below
            # Window of output column c0 + c: columns c .. c + k - 1 of the tile.
            for c in range(c1 - c0):
                if c > 0:
                    into = c + k - 1
                    for j in range(4):
                        hc[j] += colc[into, j] - colc[c - 1, j]
                    if b > 0:
                        last = (b - 1) >> 2  # word of bin b - 1; whole words below it
                        shift = np.uint64(16 * ((b - 1) & 3))
                        for j in range(last):
                            below += np.int64((colc[into, j] * spread) >> top)
                            below -= np.int64((colc[c - 1, j] * spread) >> top)
                        below += np.int64(((colc[into, last] * spread) >> shift) & lane_mask)
                        below -= np.int64(((colc[c - 1, last] * spread) >> shift) & lane_mask)
                    while below > half:
                        b -= 1
                        below -= _lane(hc, b)
                    while below + _lane(hc, b) <= half:
                        below += _lane(hc, b)
                        b += 1
                w = 4 * b
                if c - valid_at[b] >= k:
                    for j in range(4):
                        hf[w + j] = 0
                    for p in range(c, c + k):
                        for j in range(4):
                            hf[w + j] += colf[p, w + j]
                elif valid_at[b] == c - 1:  # the common case, kept apart from the loop below
                    for j in range(4):
                        hf[w + j] += colf[c + k - 1, w + j] - colf[c - 1, w + j]
                else:
                    for q in range(valid_at[b] + 1, c + 1):
                        for j in range(4):
                            hf[w + j] += colf[q + k - 1, w + j] - colf[q - 1, w + j]
                valid_at[b] = c
                # Fine value: whole words while their total keeps the count <= half, then lanes.
                acc = below
                m = 0
                for j in range(4):
                    prefix = hf[w + j] * spread
                    total = acc + np.int64(prefix >> top)
                    if total <= half:
                        m += 4
                        acc = total
                    else:
                        for i in range(3):
                            m += np.int64(acc + np.int64((prefix >> np.uint64(16 * i)) & lane_mask) <= half)
                        break
                out[r, c0 + c] = b * 16 + m


@pjit
def median_hist_u16(img, k, n_blocks, use_nodata, nodata, out):  # pragma: no cover - numba
    """Huang's algorithm for uint16 with the median tracked incrementally, optionally nodata-aware.

    Rows are split into ``n_blocks`` bands, each with its own fine (full value) and coarse (high
    byte) histograms; see :func:`_hist_u16_rect`.
    """
    rows, cols = img.shape
    step = (rows + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        fine = np.zeros(65536, dtype=np.int32)
        coarse = np.zeros(256, dtype=np.int32)
        r_hi = min((blk + 1) * step, rows)
        # Constant flags let the compiler drop the nodata tests from the loops without nodata.
        if use_nodata:
            _hist_u16_rect(img, k, blk * step, r_hi, 0, cols, True, nodata, 8, fine, coarse, out)
        else:
            _hist_u16_rect(img, k, blk * step, r_hi, 0, cols, False, nodata, 8, fine, coarse, out)


@ngjit
def _hist_u16_rect(img, k, r_lo, r_hi, c_lo, c_hi, use_nodata, nodata, shift, fine, coarse, out):  # noqa: E501  # pragma: no cover
    """Huang's median of ``img`` (uint16, edges replicated) for rows ``r_lo:r_hi``, columns ``c_lo:c_hi``.

    ``fine`` (one bin per value, at least as many as the largest value + 1) and ``coarse`` (one bin
    per ``2 ** shift`` values) must be zero; they are zero again on return (each row's last window is removed
    rather than 65 536 bins cleared). The median ``m`` and the count ``lt`` of window values below
    it are kept across pixels: each value entering or leaving the window adjusts ``lt``, then ``m``
    steps to the new median, one value at a time within a coarse bin and a whole bin at a time
    across bins, so neighbouring medians that are close cost a few steps. With ``use_nodata``,
    values equal to ``nodata`` stay out of the histograms, the target is the lower middle of the
    valid values, and a nodata centre gives ``nodata`` (a valid centre is a valid value in its window).
    """
    rows, cols = img.shape
    h = k // 2
    width = 1 << shift
    mask = width - 1
    for r in range(r_lo, r_hi):
        m = 0
        lt = 0
        n = 0
        for dr in range(-h, h + 1):
            rr = min(max(r + dr, 0), rows - 1)
            for dc in range(c_lo - h, c_lo + h + 1):
                v = img[rr, min(max(dc, 0), cols - 1)]
                if use_nodata and v == nodata:
                    continue
                fine[v] += 1
                coarse[v >> shift] += 1
                n += 1
        for c in range(c_lo, c_hi):
            if c > c_lo:
                cl = min(max(c - h - 1, 0), cols - 1)
                cr = min(c + h, cols - 1)
                for dr in range(-h, h + 1):
                    rr = min(max(r + dr, 0), rows - 1)
                    v = img[rr, cl]
                    if not (use_nodata and v == nodata):
                        fine[v] -= 1
                        coarse[v >> shift] -= 1
                        lt -= np.int64(v < m)
                        n -= 1
                    v = img[rr, cr]
                    if not (use_nodata and v == nodata):
                        fine[v] += 1
                        coarse[v >> shift] += 1
                        lt += np.int64(v < m)
                        n += 1
            if use_nodata and img[r, c] == nodata:
                out[r, c] = nodata
                continue
            # The target is the (n - 1) // 2-th smallest value. Step down while more values than
            # that lie below m, up while m's own count does not reach it; whole bins when m sits
            # on a bin edge and the bin fits.
            t = (n - 1) // 2
            while lt > t:
                if m & mask == 0 and lt - coarse[(m >> shift) - 1] > t:
                    m -= width
                    lt -= coarse[m >> shift]
                else:
                    m -= 1
                    lt -= fine[m]
            while lt + fine[m] <= t:
                if m & mask == 0 and lt + coarse[m >> shift] <= t:
                    lt += coarse[m >> shift]
                    m += width
                else:
                    lt += fine[m]
                    m += 1
            out[r, c] = m
        # Empty the histograms: remove the row's last window.
        for dr in range(-h, h + 1):
            rr = min(max(r + dr, 0), rows - 1)
            for dc in range(c_hi - 1 - h, c_hi + h):
                v = img[rr, min(max(dc, 0), cols - 1)]
                if use_nodata and v == nodata:
                    continue
                fine[v] -= 1
                coarse[v >> shift] -= 1


@pjit
def median_tiled_ranks(img, bits, sign, k, tile, shift, use_nodata, nodata, out):  # pragma: no cover - numba
    """Median of any number of distinct values: each tile filtered as uint16 ranks of its own values.

    ``bits`` is ``img`` viewed as unsigned integers of its width and ``sign`` their top bit: values
    are ordered by their keys (the bits with the sign bit set for positive values, all bits flipped
    for negative ones). A ``tile`` x ``tile`` block of output needs the block grown by ``k // 2``
    on every side (edges replicated), at most 65 535 values; their distinct keys, sorted, give each
    value its rank, :func:`_hist_u16_rect` filters the ranks and the medians map back to values.
    With ``use_nodata``, values equal to ``nodata`` and NaN are invalid (rank 65 535): the median of
    the valid values, lower middle for even counts, and ``nodata`` at an invalid centre.
    """
    rows, cols = img.shape
    h = k // 2
    n_tc = (cols + tile - 1) // tile
    n_tiles = ((rows + tile - 1) // tile) * n_tc
    for t in prange(n_tiles):
        r0 = (t // n_tc) * tile
        c0 = (t % n_tc) * tile
        ph = min(tile, rows - r0) + 2 * h
        pw = min(tile, cols - c0) + 2 * h
        ranks = np.empty((ph, pw), dtype=np.uint16)
        flat = ranks.reshape(-1)
        found = np.empty(ph * pw, dtype=bits.dtype)
        where = np.empty(ph * pw, dtype=np.int64)
        n = 0
        for i in range(ph):
            rr = min(max(r0 - h + i, 0), rows - 1)
            for j in range(pw):
                cc = min(max(c0 - h + j, 0), cols - 1)
                v = img[rr, cc]
                if use_nodata and (v == nodata or v != v):
                    flat[i * pw + j] = 65535
                else:
                    b = bits[rr, cc]
                    found[n] = ~b if b & sign else b | sign
                    where[n] = i * pw + j
                    n += 1
        sort_keys(found, where, n)
        values = np.empty(max(n, 1), dtype=img.dtype)
        rank = -1
        for p in range(n):
            if p == 0 or found[p] != found[p - 1]:
                rank += 1
                at = where[p]
                values[rank] = img[min(max(r0 - h + at // pw, 0), rows - 1), min(max(c0 - h + at % pw, 0), cols - 1)]
            flat[where[p]] = rank
        fine = np.zeros(max(rank + 1, 1), dtype=np.int32)
        coarse = np.zeros((max(rank, 0) >> shift) + 1, dtype=np.int32)
        medians = np.empty((ph, pw), dtype=np.uint16)
        if use_nodata:  # constant flags: see median_hist_u16
            _hist_u16_rect(ranks, k, h, ph - h, h, pw - h, True, np.uint16(65535), shift, fine, coarse, medians)
        else:
            _hist_u16_rect(ranks, k, h, ph - h, h, pw - h, False, np.uint16(65535), shift, fine, coarse, medians)
        for i in range(h, ph - h):
            for j in range(h, pw - h):
                m = medians[i, j]
                out[r0 + i - h, c0 + j - h] = nodata if use_nodata and m == 65535 else values[m]


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
