"""Kernels for :mod:`cropseg.vectorize`: OpenCV border chains to pixel-edge (crack) rings.

``cv2.findContours`` on the framed complement of a mask returns chains of complement pixel centres.
Its border follower (Suzuki and Abe) looks for the next chain pixel by turning counter-clockwise
(on screen) from the previous one; every neighbour it passes over is a mask pixel. So each chain
step tells which sides of the chain pixel face the region: the 4-neighbours strictly between the
directions to the previous and to the next chain pixel. Walking those sides in order, step after
step, gives the region's crack boundary with the region on the right (on screen), without reading
the image. Only the corners where the boundary turns are kept.

Directions are Freeman codes as OpenCV numbers them: 0 east, 1 north-east, 2 north, ... 7 south-east
(``y`` grows downwards). Sides of a pixel are numbered ``code // 2``: 0 east, 1 north, 2 west,
3 south; a side walked counter-clockwise around its pixel starts at corner ``(x + _SIDE_X[s],
y + _SIDE_Y[s])``.

Before tracing, :func:`frame_complement` sets isolated pixels aside (one-pixel regions and holes
become squares without OpenCV); :func:`link_rings` ties hole rings to their regions,
:func:`split_pinched` splits the rare rings that touch themselves and :func:`write_rings` writes
the closed rings in map coordinates for ``shapely.from_ragged_array``.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit

__all__ = [
    "crack_rings",
    "gather_runs",
    "frame_complement",
    "isolated_in_rows",
    "link_rings",
    "split_pinched",
    "union_groups",
    "write_rings",
]

# Freeman code of the step (dx, dy), indexed by (dy + 1) * 3 + dx + 1.
_CODE = np.array([3, 2, 1, 4, -1, 0, 5, 6, 7], dtype=np.int64)
_SIDE_X = np.array([1, 1, 0, 0], dtype=np.int64)
_SIDE_Y = np.array([1, 0, 0, 1], dtype=np.int64)


@pjit
def crack_rings(points, offsets, image, skip, corners, corner_at, counts, east, diag):  # pragma: no cover - numba
    """Turn every chain but ``skip`` (the frame's own border) into its crack ring.

    ``points`` are the ``(x, y)`` chain pixels of ``image`` (the framed complement), chain ``i``
    spanning ``points[offsets[i]:offsets[i + 1]]``; it may use ``corners[4 * offsets[i]:4 *
    offsets[i + 1]]`` and ``east`` / ``diag`` from ``offsets[i]`` to ``offsets[i + 1]``. Writes

    - the ring's turning corners (``(x, y)`` mask corners) from ``corners[corner_at[i]]``, their
      number in ``counts[i, 0]``;
    - the east sides met (``(row, x)``: the mask pixel east of the side) and their number in
      ``counts[i, 1]``;
    - the keys ``y * width + x`` (framed corners) of the corners where the mask is diagonal, and
      their number in ``counts[i, 2]``.

    A diagonal corner can only start the first side of a chain pixel entered by a diagonal step:
    every other corner has region pixels on three sides.
    """
    width = image.shape[1]
    # Threads take runs of chains with equal numbers of points (OpenCV lists the long ones late).
    n_runs = 64
    bounds = np.searchsorted(offsets, np.linspace(0, offsets[-1], n_runs + 1)[1:-1])
    bounds = np.concatenate((np.zeros(1, dtype=np.int64), bounds, np.full(1, len(offsets) - 1)))
    for run in prange(n_runs):
        for i in range(bounds[run], bounds[run + 1]):
            _crack_ring(points, offsets, image, width, skip, i, corners, corner_at, counts, east, diag)


@ngjit
def _crack_ring(points, offsets, image, width, skip, i, corners, corner_at, counts, east, diag):  # pragma: no cover
    """Chain ``i`` of :func:`crack_rings`."""
    start = offsets[i]
    stop = offsets[i + 1]
    n = stop - start
    c0 = 4 * start
    n_corners = 0
    n_east = 0
    n_diag = 0
    first_side = -1
    side = -1
    if i == skip:
        n = 0
    for k in range(n):
        x = np.int64(points[start + k, 0])
        y = np.int64(points[start + k, 1])
        if n == 1:
            a = 0
            count = 8
        else:
            kp = start + k - 1 if k > 0 else stop - 1
            kn = start + k + 1 if k < n - 1 else start
            a = _CODE[(points[kp, 1] - y + 1) * 3 + points[kp, 0] - x + 1]
            b = _CODE[(points[kn, 1] - y + 1) * 3 + points[kn, 0] - x + 1]
            count = (b - a - 1) & 7  # 7 when the chain turns back (a == b)
        n_sides = ((a + count) >> 1) - (a >> 1)  # even directions in a + 1 .. a + count
        s0 = (((a + 2) & 7) >> 1) if a & 1 == 0 else (((a + 1) & 7) >> 1)
        for t in range(n_sides):
            s = (s0 + t) & 3
            if s != side:
                if first_side < 0:
                    first_side = s
                cx = x + _SIDE_X[s]
                cy = y + _SIDE_Y[s]
                corners[c0 + n_corners, 0] = cx - 1
                corners[c0 + n_corners, 1] = cy - 1
                n_corners += 1
                if t == 0 and a & 1 and n > 1:
                    tl = image[cy - 1, cx - 1]
                    tr = image[cy - 1, cx]
                    if tl == image[cy, cx] and tr == image[cy, cx - 1] and tl != tr:
                        diag[start + n_diag] = cy * width + cx
                        n_diag += 1
                side = s
            if s == 0:
                east[start + n_east, 0] = y - 1
                east[start + n_east, 1] = x
                n_east += 1
    if n > 0 and side == first_side:
        # The last side runs on into the first: the first corner is not a turn.
        c0 += 1
        n_corners -= 1
    corner_at[i] = c0
    counts[i, 0] = n_corners
    counts[i, 1] = n_east
    counts[i, 2] = n_diag


@pjit
def gather_runs(values, at, counts, out_at, out):  # pragma: no cover - numba
    """Copy ``counts[i]`` rows of ``values`` from ``at[i]`` to ``out[out_at[i]:]``, for every ``i``."""
    for i in prange(len(at)):
        for k in range(counts[i]):
            out[out_at[i] + k] = values[at[i] + k]


@ngjit
def link_rings(east, east_ring, n_rows, is_exterior, hole_pixel, region, queries):  # pragma: no cover - numba
    """Give every ring its region: an exterior ring is its own region, a hole ring its enclosing one.

    From the mask pixel ``hole_pixel[i] = (row, col)`` just left of a hole ring's start, the nearest
    east side to its left on that row (``east`` rows ``(row, x)``, owned by ``east_ring``) belongs to a
    ring of the same region: its exterior or another of its holes, resolved in turn. Writes
    ``region`` (ring index of the region's exterior); exterior rings must already hold their own
    index, rings with ``hole_pixel[i, 0] < 0`` are left alone. Returns the region of each region
    pixel ``queries[k] = (row, col)`` the same way.
    """
    n_rings = len(is_exterior)
    first = np.zeros(n_rows + 1, dtype=np.int64)
    for k in range(len(east)):
        first[east[k, 0] + 1] += 1
    for r in range(n_rows):
        first[r + 1] += first[r]
    fill = first[:-1].copy()
    xs = np.empty(len(east), dtype=np.int64)
    owner = np.empty(len(east), dtype=np.int64)
    for k in range(len(east)):
        r = east[k, 0]
        xs[fill[r]] = east[k, 1]
        owner[fill[r]] = east_ring[k]
        fill[r] += 1
    link = np.arange(n_rings)
    for i in range(n_rings):
        if not is_exterior[i] and hole_pixel[i, 0] >= 0:
            link[i] = _nearest_left(xs, owner, first, hole_pixel[i, 0], hole_pixel[i, 1])
    for i in range(n_rings):
        if not is_exterior[i] and hole_pixel[i, 0] >= 0:
            j = i
            while not is_exterior[j]:
                j = link[j]
            region[i] = region[j]
    out = np.empty(len(queries), dtype=np.int64)
    for k in range(len(queries)):
        out[k] = region[_nearest_left(xs, owner, first, queries[k, 0], queries[k, 1])]
    return out


@ngjit
def _nearest_left(xs, owner, first, row, col):  # pragma: no cover - numba
    """Return the ring owning the nearest east side at or left of ``col`` on ``row``."""
    best = -1
    for j in range(first[row], first[row + 1]):
        if xs[j] <= col and (best < 0 or xs[j] > xs[best]):
            best = j
    return owner[best]


@ngjit
def write_rings(corners, extra, squares, src, length, flip, a, b, c, d, e, f, offsets, out):  # pragma: no cover
    """Write ring ``i`` closed, in map coordinates, to ``out[offsets[i]:offsets[i] + length[i] + 1]``.

    Ring ``i`` is ``length[i]`` corners from ``corners[src[i]]``, or from ``extra[src[i] -
    len(corners)]`` past the end of ``corners``; ``src[i] < 0`` is the pixel ``squares[-1 - src[i]]``
    (``(row, col)``, its four corners counter-clockwise with ``y`` up). It is reversed when
    ``flip[i]``; the affine ``(a, b, c, d, e, f)`` maps corner ``(x, y)`` to ``(a x + b y + c, d x + e y + f)``.
    """
    n_corners = len(corners)
    for i in range(len(src)):
        n = length[i]
        o = offsets[i]
        s = src[i]
        for k in range(n + 1):
            j = k % n
            if flip[i]:
                j = (n - j) % n
            if s < 0:
                x = np.float64(squares[-1 - s, 1] + (1 if j == 1 or j == 2 else 0))
                y = np.float64(squares[-1 - s, 0] + (1 if j >= 2 else 0))
            elif s >= n_corners:
                x = np.float64(extra[s - n_corners + j, 0])
                y = np.float64(extra[s - n_corners + j, 1])
            else:
                x = np.float64(corners[s + j, 0])
                y = np.float64(corners[s + j, 1])
            out[o + k, 0] = a * x + b * y + c
            out[o + k, 1] = d * x + e * y + f


@ngjit
def split_pinched(corners, corner_at, n_corners, rings, image):  # pragma: no cover - numba
    """Split each ring of ``rings`` that touches itself into simple loops.

    Walks the ring keeping the open path on a stack; when a vertex repeats, the path since its first
    visit closes a loop and is cut out. Only corners where the mask (``image``, framed) is diagonal
    can repeat, so only those are remembered. Returns the corner indices of all loops (into
    ``corners``), concatenated; the loop offsets into them; each loop's ring; and twice each loop's
    signed area in pixel coordinates (exact).
    """
    width = image.shape[1]
    total = 0
    for r in rings:
        total += n_corners[r]
    idx = np.empty(total, dtype=np.int64)
    at = np.zeros(total + 1, dtype=np.int64)
    ring_of = np.empty(total, dtype=np.int64)
    area2 = np.empty(total, dtype=np.int64)
    w = 0
    n_loops = 0
    for r in rings:
        c0 = corner_at[r]
        m = n_corners[r]
        stack = np.empty(m + 1, dtype=np.int64)
        keys = np.empty(m, dtype=np.int64)
        key_at = np.empty(m, dtype=np.int64)
        sp = 0
        n_keys = 0
        for j in range(m + 1):
            last = j == m
            if not last:
                y = np.int64(corners[c0 + j, 1]) + 1
                x = np.int64(corners[c0 + j, 0]) + 1
                tl = image[y - 1, x - 1]
                tr = image[y - 1, x]
                if not (tl == image[y, x] and tr == image[y, x - 1] and tl != tr):
                    stack[sp] = j
                    sp += 1
                    continue
                key = y * width + x
                found = -1
                for u in range(n_keys):
                    if keys[u] == key:
                        found = u
                        break
                if found < 0:
                    keys[n_keys] = key
                    key_at[n_keys] = sp
                    n_keys += 1
                    stack[sp] = j
                    sp += 1
                    continue
                lo = key_at[found]
                n_keys = found + 1
            else:
                lo = 0
            if sp - lo >= 3:
                s = np.int64(0)
                for t in range(lo, sp):
                    p = c0 + stack[t]
                    q = c0 + stack[t + 1] if t + 1 < sp else c0 + stack[lo]
                    s += np.int64(corners[p, 0]) * corners[q, 1] - np.int64(corners[q, 0]) * corners[p, 1]
                    idx[w] = p
                    w += 1
                ring_of[n_loops] = r
                area2[n_loops] = s
                n_loops += 1
                at[n_loops] = w
            sp = lo + 1
    return idx[:w], at[: n_loops + 1], ring_of[:n_loops], area2[:n_loops]


@ngjit
def union_groups(pairs, n):  # pragma: no cover - numba
    """Label ``n`` items joined by ``pairs`` with their group: the smallest member of each."""
    parent = np.arange(n)
    for k in range(len(pairs)):
        u = pairs[k, 0]
        while parent[u] != u:
            u = parent[u]
        v = pairs[k, 1]
        while parent[v] != v:
            v = parent[v]
        if u < v:
            parent[v] = u
        elif v < u:
            parent[u] = v
    for i in range(n):
        root = i
        while parent[root] != root:
            root = parent[root]
        parent[i] = root
    return parent


@ngjit
def _isolated(array, value, r, c):  # pragma: no cover - numba
    """Whether pixel ``(r, c)`` differs from its 8 neighbours in being ``value`` (outside is not)."""
    rows, cols = array.shape
    v = array[r, c] == value
    for rr in range(r - 1, r + 2):
        for cc in range(c - 1, c + 2):
            if rr == r and cc == c:
                continue
            if 0 <= rr < rows and 0 <= cc < cols:
                if (array[rr, cc] == value) == v:
                    return False
            elif not v:
                return False
    return True


@pjit
def frame_complement(array, value, framed, n_isolated, isolated):  # pragma: no cover - numba
    """Write the complement of ``array == value`` into ``framed[1:-1, 1:-1]``, isolated pixels set aside.

    A pixel whose 8 neighbours all differ from it needs no tracing: it is a one-pixel region (column
    ``c`` recorded) or a one-pixel hole (``-1 - c`` recorded), and it takes its neighbours' value in
    ``framed``. Row ``r`` records its first ``isolated.shape[1]`` such pixels in ``isolated[r]`` and
    their count in ``n_isolated[r]``. The frame itself must already be ``1``.
    """
    rows, cols = array.shape
    cap = isolated.shape[1]
    n_words = (cols + 7) // 8
    for r in prange(rows):
        row = framed[r + 1]
        src = array[r]
        for c in range(cols):
            row[c + 1] = np.uint8(src[c] != value)
        # Only a pixel unlike both its horizontal neighbours can be isolated: flag those (a loop
        # the compiler vectorizes), skip eight unflagged pixels at a time, check the rest in full.
        flags = np.zeros(8 * n_words, dtype=np.uint8)
        for c in range(cols):
            v = row[c + 1]
            flags[c] = (row[c] ^ v) & (row[c + 2] ^ v)
        words = flags.view(np.uint64)
        k = 0
        for w in range(n_words):
            if words[w] == 0:
                continue
            for c in range(8 * w, 8 * w + 8):
                if flags[c] and _isolated(array, value, r, c):
                    # Its neighbours cannot be isolated too, so flipping it now changes no flag.
                    v = row[c + 1]
                    row[c + 1] = 1 - v
                    if k < cap:
                        isolated[r, k] = c if v == 0 else -1 - c
                    k += 1
        n_isolated[r] = k


@ngjit
def isolated_in_rows(array, value, rows):  # pragma: no cover - numba
    """All isolated pixels of the given rows, as :func:`frame_complement` records them: (row, code)."""
    out = []
    for r in rows:
        for c in range(array.shape[1]):
            if _isolated(array, value, r, c):
                out.append((r, c if array[r, c] == value else -1 - c))
    res = np.empty((len(out), 2), dtype=np.int64)
    for k in range(len(out)):
        res[k, 0] = out[k][0]
        res[k, 1] = out[k][1]
    return res
