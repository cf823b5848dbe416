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
"""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit

__all__ = ["crack_counts", "crack_fill", "link_rings", "split_loops", "split_pinched", "union_groups", "write_rings"]

# Freeman code of the step (dx, dy), indexed by (dy + 1) * 3 + dx + 1.
_CODE = np.array([3, 2, 1, 4, -1, 0, 5, 6, 7], dtype=np.int64)
_SIDE_X = np.array([1, 1, 0, 0], dtype=np.int64)
_SIDE_Y = np.array([1, 0, 0, 1], dtype=np.int64)


@ngjit
def _walk(points, start, stop, image, drop_first, corners, east, diag):  # pragma: no cover - numba
    """Walk one chain's region-facing pixel sides; count, or write when ``corners`` is not empty.

    Writes the turning corners (``(x, y)`` in mask corner coordinates), the east sides as
    ``(row, x)`` of the mask pixel east of them, and the keys ``y * width + x`` (framed image) of the
    turning corners where the mask is diagonal. Returns the three counts and whether the first
    corner is collinear (the last side runs on into the first).
    """
    fill = len(corners) > 0
    n = stop - start
    width = image.shape[1]
    n_corners = 0
    n_east = 0
    n_diag = 0
    first_side = -1
    side = -1
    skip = drop_first
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
        for d in range(a + 1, a + 1 + count):
            if d & 1:
                continue
            s = (d & 7) >> 1
            if s != side:
                cx = x + _SIDE_X[s]
                cy = y + _SIDE_Y[s]
                if first_side < 0:
                    first_side = s
                if skip:
                    skip = False
                else:
                    if fill:
                        corners[n_corners, 0] = cx - 1
                        corners[n_corners, 1] = cy - 1
                    n_corners += 1
                    tl = image[cy - 1, cx - 1]
                    if tl == image[cy, cx] and image[cy - 1, cx] == image[cy, cx - 1] and tl != image[cy, cx - 1]:
                        if fill:
                            diag[n_diag] = cy * width + cx
                        n_diag += 1
                side = s
            if s == 0:
                if fill:
                    east[n_east, 0] = y - 1
                    east[n_east, 1] = x
                n_east += 1
    collinear = side == first_side
    return n_corners, n_east, n_diag, collinear


@pjit
def crack_counts(points, offsets, image, skip, out):  # pragma: no cover - numba
    """Per chain ``i``: turning corners, east sides, diagonal corners, first corner collinear (0/1).

    ``points`` are the ``(x, y)`` chain pixels of ``image`` (the framed complement), chain ``i``
    spanning ``points[offsets[i]:offsets[i + 1]]``; chain ``skip`` (the frame's own border) is left
    out (all zeros). Writes ``out[i, 0:4]``.
    """
    none2 = np.empty((0, 2), dtype=np.int64)
    none1 = np.empty(0, dtype=np.int64)
    for i in prange(len(offsets) - 1):
        if i == skip:
            out[i, 0] = 0
            out[i, 1] = 0
            out[i, 2] = 0
            out[i, 3] = 0
            continue
        n_corners, n_east, n_diag, collinear = _walk(
            points, offsets[i], offsets[i + 1], image, False, none2, none2, none1
        )
        out[i, 0] = n_corners - 1 if collinear else n_corners
        out[i, 1] = n_east
        out[i, 2] = n_diag
        out[i, 3] = 1 if collinear else 0


@pjit
def crack_fill(
    points, offsets, image, skip, counts, corner_at, east_at, diag_at, corners, east, diag
):  # pragma: no cover
    """Write what :func:`crack_counts` counted, chain ``i`` from ``corner_at[i]``, ``east_at[i]``, ``diag_at[i]``.

    ``corners`` (n, 2) and ``east`` (n, 2) are int64; ``diag`` holds corner keys.
    """
    for i in prange(len(offsets) - 1):
        if i == skip:
            continue
        c0 = corner_at[i]
        e0 = east_at[i]
        d0 = diag_at[i]
        _walk(
            points,
            offsets[i],
            offsets[i + 1],
            image,
            counts[i, 3] == 1,
            corners[c0 : c0 + counts[i, 0]],
            east[e0 : e0 + counts[i, 1]],
            diag[d0 : d0 + counts[i, 2]],
        )


@ngjit
def link_rings(east, east_ring, n_rows, is_exterior, hole_pixel, region):  # pragma: no cover - numba
    """Give every ring its region: an exterior ring is its own region, a hole ring its enclosing one.

    From the mask pixel ``hole_pixel[i] = (row, col)`` just left of a hole ring's start, the nearest
    east side to its left on that row (``east`` rows ``(row, x)``, owned by ``east_ring``) belongs to a
    ring of the same region: its exterior or another of its holes, resolved in turn. Writes
    ``region`` (ring index of the region's exterior); exterior rings must already hold their own index.
    """
    n_rings = len(is_exterior)
    first = np.zeros(n_rows + 1, dtype=np.int64)
    for e in range(len(east)):
        first[east[e, 0] + 1] += 1
    for r in range(n_rows):
        first[r + 1] += first[r]
    fill = first[:-1].copy()
    xs = np.empty(len(east), dtype=np.int64)
    owner = np.empty(len(east), dtype=np.int64)
    for e in range(len(east)):
        r = east[e, 0]
        xs[fill[r]] = east[e, 1]
        owner[fill[r]] = east_ring[e]
        fill[r] += 1
    link = np.arange(n_rings)
    for i in range(n_rings):
        if is_exterior[i] or hole_pixel[i, 0] < 0:
            continue
        r = hole_pixel[i, 0]
        c = hole_pixel[i, 1]
        best = -1
        for j in range(first[r], first[r + 1]):
            if xs[j] <= c and (best < 0 or xs[j] > xs[best]):
                best = j
        link[i] = owner[best]
    for i in range(n_rings):
        if is_exterior[i] or hole_pixel[i, 0] < 0:
            continue
        j = i
        while not is_exterior[j]:
            j = link[j]
        region[i] = region[j]


@pjit
def write_rings(corners, src, length, flip, a, b, c, d, e, f, offsets, out):  # pragma: no cover - numba
    """Write ring ``i`` (``length[i]`` corners from ``corners[src[i]]``) closed, in map coordinates.

    Ring ``i`` goes to ``out[offsets[i]:offsets[i] + length[i] + 1]``, reversed when ``flip[i]``; the
    affine ``(a, b, c, d, e, f)`` maps corner ``(x, y)`` to ``(a x + b y + c, d x + e y + f)``.
    """
    for i in prange(len(src)):
        n = length[i]
        o = offsets[i]
        for k in range(n + 1):
            j = k % n
            if flip[i]:
                j = (n - j) % n
            x = np.float64(corners[src[i] + j, 0])
            y = np.float64(corners[src[i] + j, 1])
            out[o + k, 0] = a * x + b * y + c
            out[o + k, 1] = d * x + e * y + f


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


@ngjit
def split_pinched(corners, corner_at, n_corners, rings, width):  # pragma: no cover - numba
    """Split each ring of ``rings`` into simple loops with :func:`split_loops`.

    Returns the corner indices of all loops (into ``corners``), concatenated; the loop offsets into
    them; each loop's ring; and twice each loop's signed area in pixel coordinates (exact).
    """
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
        ring = corners[c0 : c0 + n_corners[r]]
        order, offsets = split_loops(ring, width)
        for k in range(len(offsets) - 1):
            s = 0
            m = offsets[k + 1] - offsets[k]
            for j in range(m):
                p = ring[order[offsets[k] + j]]
                q = ring[order[offsets[k] + (j + 1) % m]]
                s += p[0] * q[1] - q[0] * p[1]
                idx[w] = c0 + order[offsets[k] + j]
                w += 1
            ring_of[n_loops] = r
            area2[n_loops] = s
            n_loops += 1
            at[n_loops] = w
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
