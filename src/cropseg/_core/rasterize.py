"""Scanline polygon fill with GDAL's pixel-centre rule, and GDAL's all-touched ring walk.

The rules follow GDAL's ``llrasterize.cpp`` (``GDALdllImageFilledPolygon`` and
``GDALdllImageLineAllTouched`` with ``bIntersectOnly``), which ``rasterio.features.rasterize`` runs, so
the result agrees with rasterio on every pixel, ties included:

* a scanline runs through pixel centres (``y + 0.5``); an edge counts when ``y1 <= y + 0.5 < y2`` with
  ``y1 < y2`` (its end nearer row 0 is included, the other not), its crossing is rounded with
  ``floor(x + 0.5)`` and pixels ``[x_left, x_right)`` between pairs of sorted crossings are filled;
* a horizontal edge lying exactly on a scanline is filled on its own when it runs right to left in the
  ring order GDAL uses (every ring, holes too, turned clockwise in map coordinates);
* ``all_touched`` adds every pixel the ring edges pass through, with GDAL's floating-point stepping and
  its ``1e-4`` tolerance for edges lying on pixel borders.

Polygons are "parts": a set of closed rings (exterior first, then holes) in pixel coordinates, filled
together with the even-odd rule. Parts are burned in order (later parts overwrite earlier ones), each
with its own value. Rows are split into bands processed in parallel; every band walks the parts in order,
so the overwrite order is kept.

The algorithms are GDAL's (MIT licence, copyright Frank Warmerdam and Even Rouault), re-expressed here
so that the floating-point decisions are the same.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cropseg._core._jit import ngjit, pjit

#: GDAL's tolerance for ring edges lying on pixel borders in the all-touched walk.
_EPSILON_INTERSECT_ONLY = 1e-4


@ngjit
def _burn_row(out, row, x_start, x_end, value):
    """Burn ``out[row, x_start:x_end + 1]`` after clipping to the raster (GDAL's ``gvBurnScanline``)."""
    if x_start > x_end:
        return
    if x_start < 0:
        x_start = 0
    if x_end >= out.shape[1]:
        x_end = out.shape[1] - 1
    out[row, x_start : x_end + 1] = value


@ngjit
def _sort_small(a, n):
    """Sort ``a[:n]`` in place (insertion sort: a scanline crosses few edges)."""
    if n > 32:
        a[:n] = np.sort(a[:n])
        return
    for i in range(1, n):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@ngjit
def _fill_part(xs, ys, ring_offsets, ring_lo, ring_hi, first, last, value, buf, active, crossings, out):
    """Fill rows ``first..last`` of one part with the pixel-centre rule.

    Same decisions and arithmetic as GDAL's ``GDALdllImageFilledPolygon`` (which tests every edge on
    every row), organised as an active-edge table: edges sorted by their top, so each row only looks at
    the edges it crosses.
    """
    n_cols = out.shape[1]
    # buf rows: 0 y_top, 1 y_bottom, 2 x at y_top, 3 x at y_bottom for sloped edges; 4 y, 5 x_left,
    # 6 x_right for horizontal edges that run right to left (GDAL fills those on their own).
    n_edges = 0
    n_flat = 0
    for ring in range(ring_lo, ring_hi):
        start = ring_offsets[ring]
        end = ring_offsets[ring + 1]
        # Rings are stored closed: the closing edge (end - 1 -> start) has zero length and GDAL skips it.
        for k in range(start + 1, end):
            y1 = ys[k - 1]
            y2 = ys[k]
            if y1 < y2:
                buf[0, n_edges] = y1
                buf[1, n_edges] = y2
                buf[2, n_edges] = xs[k - 1]
                buf[3, n_edges] = xs[k]
                n_edges += 1
            elif y1 > y2:
                buf[0, n_edges] = y2
                buf[1, n_edges] = y1
                buf[2, n_edges] = xs[k]
                buf[3, n_edges] = xs[k - 1]
                n_edges += 1
            elif xs[k - 1] > xs[k]:
                buf[4, n_flat] = y1
                buf[5, n_flat] = math.floor(xs[k] + 0.5)
                buf[6, n_flat] = math.floor(xs[k - 1] + 0.5)
                n_flat += 1
    order = np.argsort(buf[0, :n_edges])
    flat_order = np.argsort(buf[4, :n_flat])
    next_edge = 0
    next_flat = 0
    n_active = 0
    for row in range(first, last + 1):
        dy = row + 0.5
        while next_edge < n_edges and buf[0, order[next_edge]] <= dy:
            active[n_active] = order[next_edge]
            n_active += 1
            next_edge += 1
        n = 0
        kept = 0
        for a in range(n_active):
            e = active[a]
            y2 = buf[1, e]
            if dy < y2:  # and y_top <= dy, as the edge is active
                active[kept] = e
                kept += 1
                y1 = buf[0, e]
                x1 = buf[2, e]
                intersect = (dy - y1) * (buf[3, e] - x1) / (y2 - y1) + x1
                crossings[n] = int(math.floor(intersect + 0.5))
                n += 1
        n_active = kept
        while next_flat < n_flat and buf[4, flat_order[next_flat]] < dy:
            next_flat += 1
        f = next_flat
        while f < n_flat and buf[4, flat_order[f]] == dy:
            h1 = int(buf[5, flat_order[f]])
            h2 = int(buf[6, flat_order[f]])
            if h1 <= n_cols - 1 and h2 > 0:
                _burn_row(out, row, h1, h2 - 1, value)
            f += 1
        _sort_small(crossings, n)
        for i in range(0, n - 1, 2):
            if crossings[i] <= n_cols - 1 and crossings[i + 1] > 0:
                _burn_row(out, row, crossings[i], crossings[i + 1] - 1, value)


@ngjit
def _touch_ring(xs, ys, start, end, row0, row1, value, out):
    """Burn every pixel the ring's edges touch, restricted to rows ``[row0, row1)``.

    Follows GDAL's ``GDALdllImageLineAllTouched`` step for step, with ``bIntersectOnly=true`` (polygon
    rings) and no burn-value variant, so floating-point steps and ties are the same.
    """
    n_rows, n_cols = out.shape
    eps = _EPSILON_INTERSECT_ONLY
    for k in range(start + 1, end):
        x = xs[k - 1]
        y = ys[k - 1]
        x_end = xs[k]
        y_end = ys[k]
        # Edges wholly above or below the row band cannot burn in it (one row of margin for the
        # walk's small steps).
        if math.floor(max(y, y_end)) + 1 < row0 or math.floor(min(y, y_end)) - 1 >= row1:
            continue
        if (
            (y < 0.0 and y_end < 0.0)
            or (y > n_rows and y_end > n_rows)
            or (x < 0.0 and x_end < 0.0)
            or (x > n_cols and x_end > n_cols)
        ):
            continue
        if x > x_end:
            x, x_end = x_end, x
            y, y_end = y_end, y

        # Vertical edge.
        if math.floor(x) == math.floor(x_end) or abs(x - x_end) < 0.01:
            if abs(x - _round_half_away(x)) < eps and abs(x_end - _round_half_away(x_end)) < eps:
                continue
            if y_end < y:
                y, y_end = y_end, y
            ix = int(math.floor(x_end))
            iy = int(math.floor(y))
            iy_end = int(math.floor(y_end - eps))
            if ix < 0 or ix >= n_cols:
                continue
            iy = max(iy, 0, row0)
            iy_end = min(iy_end, n_rows - 1, row1 - 1)
            for r in range(iy, iy_end + 1):
                out[r, ix] = value
            continue

        # Horizontal edge.
        if math.floor(y) == math.floor(y_end) or abs(y - y_end) < 0.01:
            if abs(y - _round_half_away(y)) < eps and abs(y_end - _round_half_away(y_end)) < eps:
                continue
            ix = int(math.floor(x))
            iy = int(math.floor(y))
            ix_end = int(math.floor(x_end - eps))
            if iy < 0 or iy >= n_rows or iy < row0 or iy >= row1:
                continue
            ix = max(ix, 0)
            ix_end = min(ix_end, n_cols - 1)
            for c in range(ix, ix_end + 1):
                out[iy, c] = value
            continue

        # General case, left to right, clipped to the raster as GDAL does.
        slope = (y_end - y) / (x_end - x)
        if x_end > n_cols:
            y_end -= (x_end - n_cols) * slope
            x_end = float(n_cols)
        if x < 0.0:
            y += (0.0 - x) * slope
            x = 0.0
        if y_end > y:
            if y < 0.0:
                x += (0.0 - y) / slope
                y = 0.0
            if y_end >= n_rows:
                # Same arithmetic as GDAL (including its sign here), so the walk ends where GDAL's does.
                x_end += (y_end - n_rows) / slope
                if x_end > n_cols:
                    x_end = float(n_cols)
        else:
            if y >= n_rows:
                x += (n_rows - y) / slope
                y = float(n_rows)
            if y_end < 0.0:
                x_end -= (y_end - 0) / slope

        while x >= 0.0 and x < x_end:
            ix = int(math.floor(x))
            iy = int(math.floor(y))
            if iy >= 0 and iy < n_rows and iy >= row0 and iy < row1:
                out[iy, ix] = value
            step_x = math.floor(x + 1.0) - x
            step_y = step_x * slope
            if int(math.floor(y + step_y)) == iy:
                x += step_x
                y += step_y
            elif slope < 0:
                step_y = iy - y
                if step_y > -0.000000001:
                    step_y = -0.000000001
                step_x = step_y / slope
                x += step_x
                y += step_y
            else:
                step_y = (iy + 1) - y
                if step_y < 0.000000001:
                    step_y = 0.000000001
                step_x = step_y / slope
                x += step_x
                y += step_y


@ngjit
def _round_half_away(v):
    """``std::round``: nearest integer, halves away from zero."""
    if v >= 0.0:
        return math.floor(v + 0.5)
    return -math.floor(-v + 0.5)


@ngjit
def pixel_rings(coords, ring_offsets, part_rings, inv, xs, ys, part_bounds):
    """Take closed rings into pixel space in GDAL's ring order, and bound each part.

    Every ring is turned clockwise in map coordinates (as GDAL's ``GDALCollectRingsFromGeometry``
    does; the sign comes from the shoelace sum relative to the ring's first point), then mapped with
    the inverse geotransform ``inv`` using GDAL's operation order
    ``inv[0] + inv[1] * x + inv[2] * y``, so ties fall on the same side as in GDAL.

    Parameters
    ----------
    coords : float64 (n_points, 2)
        Closed rings in map coordinates.
    ring_offsets, part_rings : int64
        As for :func:`fill_parts`.
    inv : float64 (6,)
        GDAL-ordered inverse geotransform.
    xs, ys : float64 (n_points,)
        Written: pixel coordinates.
    part_bounds : float64 (n_parts, 4)
        Written: ``xmin, xmax, ymin, ymax`` of each part in pixel space.
    """
    for p in range(part_rings.shape[0] - 1):
        xmin = np.inf
        xmax = -np.inf
        ymin = np.inf
        ymax = -np.inf
        for ring in range(part_rings[p], part_rings[p + 1]):
            start = ring_offsets[ring]
            end = ring_offsets[ring + 1]
            x0 = coords[start, 0]
            y0 = coords[start, 1]
            area2 = 0.0
            for k in range(start, end - 1):
                area2 += (coords[k, 0] - x0) * (coords[k + 1, 1] - y0) - (coords[k + 1, 0] - x0) * (
                    coords[k, 1] - y0
                )
            for k in range(start, end):
                src = start + end - 1 - k if area2 > 0.0 else k
                mx = coords[src, 0]
                my = coords[src, 1]
                px = inv[0] + inv[1] * mx + inv[2] * my
                py = inv[3] + inv[4] * mx + inv[5] * my
                xs[k] = px
                ys[k] = py
                xmin = min(xmin, px)
                xmax = max(xmax, px)
                ymin = min(ymin, py)
                ymax = max(ymax, py)
        part_bounds[p, 0] = xmin
        part_bounds[p, 1] = xmax
        part_bounds[p, 2] = ymin
        part_bounds[p, 3] = ymax


@pjit
def fill_parts(
    xs, ys, ring_offsets, part_rings, part_ymin, part_ymax, values, all_touched, background, band_rows, out
):
    """Write ``background`` into ``out``, then burn polygon parts in order (GDAL's rules).

    Each parallel band of rows writes its own background first, so the pages of a fresh ``np.empty``
    output are first touched by the thread that fills them.

    Parameters
    ----------
    xs, ys : float64 (n_points,)
        Closed rings in pixel coordinates (``x`` = column, ``y`` = row, origin at the top-left corner),
        each ring in GDAL's order (clockwise in map coordinates).
    ring_offsets : int64 (n_rings + 1,)
        Ring ``r`` is ``xs[ring_offsets[r]:ring_offsets[r + 1]]``.
    part_rings : int64 (n_parts + 1,)
        Part ``p`` is rings ``part_rings[p]:part_rings[p + 1]``, exterior first.
    part_ymin, part_ymax : float64 (n_parts,)
        Smallest and largest ``y`` of each part.
    values : uint8 (n_parts,)
        Value burned for each part.
    all_touched : bool
        Also burn every pixel the ring edges touch.
    background : int
        Value of pixels no part burns.
    band_rows : int
        Rows per parallel band.
    out : uint8 (rows, cols)
        Overwritten in place.
    """
    n_rows = out.shape[0]
    n_parts = values.shape[0]
    max_points = 1
    for p in range(n_parts):
        max_points = max(max_points, ring_offsets[part_rings[p + 1]] - ring_offsets[part_rings[p]])
    n_bands = (n_rows + band_rows - 1) // band_rows
    for band in numba.prange(n_bands):
        row0 = band * band_rows
        row1 = min(row0 + band_rows, n_rows)
        out[row0:row1, :] = background
        crossings = np.empty(max_points, dtype=np.int64)
        active = np.empty(max_points, dtype=np.int64)
        buf = np.empty((7, max_points), dtype=np.float64)
        for p in range(n_parts):
            ymin = part_ymin[p]
            ymax = part_ymax[p]
            if math.floor(ymax) + 1 < row0 or math.floor(ymin) - 1 >= row1:
                continue
            ring_lo = part_rings[p]
            ring_hi = part_rings[p + 1]
            value = values[p]
            if all_touched:
                for ring in range(ring_lo, ring_hi):
                    _touch_ring(xs, ys, ring_offsets[ring], ring_offsets[ring + 1], row0, row1, value, out)
            first = max(row0, int(math.floor(ymin)), 0)
            last = min(row1 - 1, int(math.floor(ymax)))
            if first <= last:
                _fill_part(
                    xs, ys, ring_offsets, ring_lo, ring_hi, first, last, value, buf, active, crossings, out
                )
