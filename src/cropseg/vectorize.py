"""Class maps to field boundaries: exact pixel-edge polygons with holes, and GeoJSON output.

OpenCV's ``cv2.findContours`` is the tracing engine. It follows the centres of boundary pixels,
which on its own loses half a pixel all round (the original notebook's fields came out one pixel
short on their right and bottom edges). cropseg traces the complement of the mask inside a
one-pixel frame (``RETR_CCOMP``, ``CHAIN_APPROX_NONE``) and turns each chain of complement pixels
into the crack boundary between them and the region: OpenCV's border follower finds the next chain
pixel by turning counter-clockwise from the previous one, so the neighbours it steps over are
region pixels, and the pixel sides facing them, walked in order, are the region's boundary
(:mod:`cropseg._core.vectorize`). Only the corners where that boundary turns are kept. Polygons
therefore trace pixel edges: a polygon's area is its pixel count times the pixel area, and
:func:`cropseg.labels.rasterize_labels` of the result gives back the mask. Isolated pixels (no
neighbour of their own kind, even diagonally: the salt-and-pepper of an unfiltered class map) are
set aside while framing the mask and become unit squares, one-pixel fields or one-pixel holes; left
in, they would make most of the contours, and OpenCV's hierarchy bookkeeping grows faster than
linearly with the number of contours.

Connectivity has the meaning of ``rasterio.features.shapes``. OpenCV treats the complement as
8-connected, so its holes are exactly the 4-connected regions of the mask, and its outer borders
nested inside them are their holes. A hole ring finds its region through the nearest region edge to
its left on its first row. A 4-connected region always has a connected interior, so its polygon is
valid once the rare ring that touches itself at a corner is split into simple loops (a shell loop,
and holes touching it at a corner). With ``connectivity=8`` the 4-connected polygons of one
8-connected region (those whose rings meet at a corner where the mask is diagonal) are joined into
a MultiPolygon whose parts touch at corners; that is the only valid OGC form of such a region (a
single polygon through a corner pinch is invalid, as 1-2 % of ``rasterio.features.shapes``'
polygons are). Rings come out with counter-clockwise exteriors and clockwise holes in map
coordinates (reversed when the transform flips orientation), so nothing needs re-orienting.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import cv2
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from affine import Affine

from cropseg._core.vectorize import (
    crack_rings,
    frame_complement,
    gather_runs,
    isolated_in_rows,
    link_rings,
    split_pinched,
    union_groups,
    write_rings,
)
from cropseg._io import atomic_path
from cropseg._validate import as_crs, as_transform, check_ndim, check_option
from cropseg.errors import InvalidInputError
from cropseg.types import CROP, NODATA, PathLike

logger = logging.getLogger(__name__)

__all__ = ["vectorize", "write_geojson", "FIELD_COLUMNS"]

#: Columns of the fields table, besides ``geometry``.
FIELD_COLUMNS = ("field_id", "area_m2", "perimeter_m", "n_holes")


#: Isolated pixels recorded per row in the framing pass; rows with more are scanned again.
_ISOLATED_PER_ROW = 16


def _representable(value: int, dtype: np.dtype) -> bool:
    """Whether an array of ``dtype`` can hold ``value`` at all."""
    if dtype == np.bool_:
        return value in (0, 1)
    info = np.iinfo(dtype)
    return bool(info.min <= value <= info.max)


def _framed_complement(array: np.ndarray, value: int) -> tuple[npt.NDArray[np.uint8], np.ndarray, np.ndarray]:
    """Frame the complement of ``array == value`` with ``1``, setting isolated pixels aside.

    Returns the framed image to trace, the ``(row, col)`` of the one-pixel regions (pixels of
    ``value`` without a neighbour of ``value``, even diagonally) and of the one-pixel holes (the
    other way round). Neither is traced: the image holds them with their neighbours' value.
    """
    array = np.ascontiguousarray(array)
    rows, cols = array.shape
    framed = np.ones((rows + 2, cols + 2), dtype=np.uint8)  # touched here: first touch is slow in threads
    n_isolated = np.empty(rows, dtype=np.int64)
    isolated = np.empty((rows, _ISOLATED_PER_ROW), dtype=np.int64)
    frame_complement(array, value, framed, n_isolated, isolated)
    counts = np.minimum(n_isolated, _ISOLATED_PER_ROW)
    crowded = np.flatnonzero(n_isolated > _ISOLATED_PER_ROW)
    counts[crowded] = 0
    code = isolated[np.arange(_ISOLATED_PER_ROW) < counts[:, None]]
    row = np.repeat(np.arange(rows), counts)
    if len(crowded):
        extra = isolated_in_rows(array, value, crowded)
        row = np.concatenate([row, extra[:, 0]])
        code = np.concatenate([code, extra[:, 1]])
    is_region = code >= 0
    regions = np.column_stack([row[is_region], code[is_region]])
    holes = np.column_stack([row[~is_region], -1 - code[~is_region]])
    return framed, regions, holes


class _Rings:
    """Crack rings of every border of a framed complement, with their regions.

    ``corners`` holds ring ``i`` at ``corner_at[i]:corner_at[i] + n_corners[i]`` (``(x, y)`` pixel
    corners of the mask, not closed, region on the left in pixel coordinates: exteriors turn
    counter-clockwise with ``y`` up, holes clockwise). ``region[i]`` is the index of the exterior
    ring of ring ``i``'s region (``-1`` for the frame), ``key[i]`` the raster index of the region's
    first pixel for exteriors. ``pairs`` lists the two rings through each corner where the mask is
    diagonal: the same ring twice where a ring touches itself. ``hole_region`` is the region of
    each one-pixel hole ``(row, col)`` given.
    """

    def __init__(self, framed: npt.NDArray[np.uint8], holes: np.ndarray) -> None:
        rows, cols = framed.shape[0] - 2, framed.shape[1] - 2
        contours, hierarchy = cv2.findContours(framed, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        n = len(contours)
        # The complement's holes are the regions' exteriors; its outer borders are their holes,
        # except the frame's own border (the only one starting at the corner pixel).
        self.is_exterior = hierarchy[0][:, 3] >= 0
        lengths = np.fromiter(map(len, contours), dtype=np.int64, count=n)
        points = np.concatenate(contours).reshape(-1, 2)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        start = points[offsets[:-1]].astype(np.int64)
        frame = int(np.flatnonzero(~self.is_exterior & (start[:, 0] == 0) & (start[:, 1] == 0))[0])
        # Room for 4 corners, an east side and a diagonal corner per chain pixel, touched here: the
        # threads of the kernel would fault the fresh pages in far more slowly.
        self.corners = np.full((4 * len(points), 2), 0, dtype=np.int32)
        self.corner_at = np.empty(n, dtype=np.int64)
        counts = np.empty((n, 3), dtype=np.int64)
        east_buf = np.full((len(points), 2), 0, dtype=np.int32)
        diag_buf = np.full(len(points), 0, dtype=np.int64)
        crack_rings(points, offsets, framed, frame, self.corners, self.corner_at, counts, east_buf, diag_buf)
        self.n_corners = counts[:, 0]
        at = np.zeros((n + 1, 2), dtype=np.int64)
        np.cumsum(counts[:, 1:], axis=0, out=at[1:])
        east = np.empty((at[-1, 0], 2), dtype=np.int32)
        gather_runs(east_buf, offsets[:-1], counts[:, 1], at[:-1, 0], east)
        diag = np.empty(at[-1, 1], dtype=np.int64)
        gather_runs(diag_buf, offsets[:-1], counts[:, 2], at[:-1, 1], diag)
        # Exteriors start left of their region's first pixel (x + 1, y), holes right of a region pixel.
        self.key = (start[:, 1] - 1) * cols + start[:, 0]
        self.region = np.where(self.is_exterior, np.arange(n), -1)
        hole_pixel = np.column_stack([start[:, 1] - 1, start[:, 0] - 2])
        hole_pixel[frame] = -1
        east_ring = np.repeat(np.arange(n), counts[:, 1])
        queries = np.column_stack([holes[:, 0], holes[:, 1] - 1])
        self.hole_region = link_rings(east, east_ring, rows, self.is_exterior, hole_pixel, self.region, queries)
        ring_of = np.repeat(np.arange(n), counts[:, 2])
        self.pairs = ring_of[np.argsort(diag, kind="stable")].reshape(-1, 2)
        self.frame = frame


def _build(
    array: np.ndarray, value: int, transform: Affine, holes: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One polygon per 4-connected region of ``value``, in raster order; its holes; diagonal joins.

    Returns ``None`` when ``value`` does not occur. The joins are pairs of polygon indices whose
    regions touch at a corner.
    """
    framed, lone_regions, lone_holes = _framed_complement(array, value)
    cols = array.shape[1]
    rings = _Rings(framed, lone_holes)
    exteriors = np.flatnonzero(rings.is_exterior)
    n_fields = len(exteriors) + len(lone_regions)
    if not n_fields:
        return None
    n = len(rings.is_exterior)
    # Regions are numbered by their exterior ring, one-pixel regions after all rings.
    rank = np.full(n + len(lone_regions), -1, dtype=np.int64)
    first_pixel = np.concatenate([rings.key[exteriors], lone_regions[:, 0] * cols + lone_regions[:, 1]])
    rank[np.concatenate([exteriors, n + np.arange(len(lone_regions))])[np.argsort(first_pixel)]] = np.arange(n_fields)
    det = transform.a * transform.e - transform.b * transform.d
    # Rings that touch themselves at a corner are rebuilt from simple loops: an exterior splits
    # into its shell (the loop turning its way) and holes touching it at corners; a hole into holes.
    same = rings.pairs[:, 0] == rings.pairs[:, 1]
    pinched = np.unique(rings.pairs[same, 0])
    keep = np.ones(n, dtype=np.bool_)
    keep[rings.frame] = False
    keep[pinched] = False
    if not holes:
        keep &= rings.is_exterior
    idx = np.flatnonzero(keep)
    src = [rings.corner_at[idx]]
    length = [rings.n_corners[idx]]
    role = [(~rings.is_exterior[idx]).astype(np.int64)]
    flip = [np.full(len(idx), det < 0)]
    order_key = [rings.key[idx]]
    poly = [rank[rings.region[idx]]]
    extra = np.empty((0, 2), dtype=np.int32)
    if len(pinched):
        loop_idx, loop_at, loop_ring, loop_area2 = split_pinched(
            rings.corners, rings.corner_at, rings.n_corners, pinched, framed
        )
        shell = rings.is_exterior[loop_ring] & (loop_area2 > 0)
        # One shell per exterior (the first loop turning its way); every other loop is a hole.
        shells = np.flatnonzero(shell)
        is_shell = np.zeros(len(loop_ring), dtype=np.bool_)
        is_shell[shells[np.unique(loop_ring[shells], return_index=True)[1]]] = True
        take = (is_shell | holes) & ~(shell & ~is_shell)
        extra = rings.corners[loop_idx]
        src.append(len(rings.corners) + loop_at[:-1][take])
        length.append(np.diff(loop_at)[take])
        role.append((~is_shell[take]).astype(np.int64))
        flip.append((loop_area2[take] > 0) != (is_shell[take] == (det > 0)))
        order_key.append(rings.key[loop_ring[take]])
        poly.append(rank[rings.region[loop_ring[take]]])
    # One-pixel regions and holes are squares; written counter-clockwise with y up, as exteriors.
    squares = np.concatenate([lone_regions, lone_holes]) if holes else lone_regions
    n_lone = len(lone_regions)
    is_hole = np.arange(len(squares)) >= n_lone
    src.append(-1 - np.arange(len(squares)))
    length.append(np.full(len(squares), 4))
    role.append(is_hole.astype(np.int64))
    flip.append(np.where(is_hole, det > 0, det < 0))
    order_key.append(squares[:, 0] * cols + squares[:, 1])
    poly.append(rank[np.concatenate([n + np.arange(n_lone), rings.hole_region[: len(squares) - n_lone]])])
    src_, length_, role_, flip_, key_, poly_ = (np.concatenate(v) for v in (src, length, role, flip, order_key, poly))
    order = np.lexsort((key_, role_, poly_))
    src_, length_, flip_, poly_ = src_[order], length_[order], flip_[order], poly_[order]
    ring_offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(length_ + 1, out=ring_offsets[1:])
    coords = np.empty((ring_offsets[-1], 2), dtype=np.float64)
    t = transform
    write_rings(rings.corners, extra, squares, src_, length_, flip_, t.a, t.b, t.c, t.d, t.e, t.f, ring_offsets, coords)
    rings_per_poly = np.bincount(poly_, minlength=n_fields)
    poly_offsets = np.zeros(n_fields + 1, dtype=np.int64)
    np.cumsum(rings_per_poly, out=poly_offsets[1:])
    geoms = shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords, (ring_offsets, poly_offsets))
    joins = rank[rings.region[rings.pairs[~same]]]
    return geoms, rings_per_poly - 1, joins


def _join_corners(geoms: np.ndarray, n_holes: np.ndarray, joins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group 4-connected polygons into 8-connected fields (MultiPolygons whose parts touch at corners)."""
    if not len(joins):
        return geoms, n_holes
    group = union_groups(joins, len(geoms))
    _, first, inverse, counts = np.unique(group, return_index=True, return_inverse=True, return_counts=True)
    several = np.flatnonzero(counts > 1)
    joined = np.flatnonzero(counts[inverse] > 1)
    joined = joined[np.argsort(inverse[joined], kind="stable")]
    out = geoms[first].copy()
    out[several] = shapely.multipolygons(geoms[joined], indices=np.searchsorted(several, inverse[joined]))
    holes = np.bincount(inverse, weights=n_holes, minlength=len(first)).astype(np.int64)
    # Keep raster order: a field sits where its first part does.
    order = np.argsort(first, kind="stable")
    return out[order], holes[order]


def _fill_joined(geoms: np.ndarray) -> np.ndarray:
    """Fill the holes of MultiPolygon fields (parts touching at corners), holes=False with connectivity 8.

    The parts' exteriors, noded where they touch, bound every face of the filled field: the parts,
    the areas they enclose together (a ring of parts touching at corners) and the islands in them.
    The union of those faces is the field without holes.
    """
    out = geoms.copy()
    multi = np.flatnonzero(shapely.get_type_id(geoms) == shapely.GeometryType.MULTIPOLYGON)
    for i in multi:
        lines = shapely.union_all(shapely.get_exterior_ring(shapely.get_parts(geoms[i])))
        out[i] = shapely.union_all(shapely.get_parts(shapely.polygonize([lines])))
    # Only the unions need orienting; every other field already has a counter-clockwise exterior.
    out[multi] = shapely.orient_polygons(out[multi], exterior_cw=False)
    return out


def _measure(geoms: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Area and perimeter: planar in projected CRS units, geodesic (metres) for geographic CRSs."""
    if crs.is_geographic:
        geod = pyproj.CRS.from_user_input(crs.to_wkt()).get_geod()
        if geod is None:  # pragma: no cover - every geographic CRS has an ellipsoid
            geod = pyproj.Geod(ellps="WGS84")
        pairs = [geod.geometry_area_perimeter(g) for g in geoms]
        area = np.abs(np.array([p[0] for p in pairs], dtype=np.float64))
        perimeter = np.array([p[1] for p in pairs], dtype=np.float64)
        return area, perimeter
    factor = crs.linear_units_factor[1] if crs.is_projected else 1.0
    return shapely.area(geoms) * factor**2, shapely.length(geoms) * factor


def vectorize(
    class_map: npt.ArrayLike,
    transform: Any,
    crs: Any,
    *,
    value: int = CROP,
    connectivity: int = 8,
    min_area: float = 0.0,
    holes: bool = True,
    simplify: float | None = None,
    nodata: int | None = NODATA,
) -> gpd.GeoDataFrame:
    """Turn the regions of ``value`` in a class map into field polygons that trace pixel edges.

    Parameters
    ----------
    class_map : array_like of integers, shape (rows, cols)
        A class map such as :func:`cropseg.classify.predict_scene` returns (uint8, ``CROP = 1``).
    transform : affine.Affine
        Pixel-to-map transform of ``class_map``.
    crs : CRS or str
        Its coordinate reference system (anything ``rasterio.crs.CRS.from_user_input`` takes).
    value : int, default CROP
        The class whose regions become fields.
    connectivity : {8, 4}, default 8
        As in ``rasterio.features.shapes``: 8 joins pixels that touch at a corner, 4 does not.
    min_area : float, default 0
        Drop fields smaller than this, in square metres (square CRS units for unprojected units).
    holes : bool, default True
        Keep holes; ``False`` fills them (islands inside holes stay separate fields).
    simplify : float or None
        Simplify the whole coverage with ``shapely.coverage_simplify`` at this tolerance (map units),
        so neighbouring fields keep their shared edges: no gaps or overlaps open between them.
    nodata : int or None, default NODATA
        Pixels with this value never belong to a field.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per connected region: ``field_id`` (1, 2, ... in raster order), ``area_m2``,
        ``perimeter_m`` (geodesic when ``crs`` is geographic), ``n_holes`` and a valid Polygon or
        MultiPolygon (parts touching at a corner) ``geometry`` with counter-clockwise exteriors,
        in ``crs``.

    Notes
    -----
    Memory: the framed mask (1 byte per pixel of ``class_map``) plus the contours and their rings.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> m = np.zeros((4, 5), dtype=np.uint8)
    >>> m[1:4, 1:4] = 1
    >>> m[2, 2] = 0                       # a one-pixel hole
    >>> fields = vectorize(m, Affine(3, 0, 600000, 0, -3, 4200000), "EPSG:32610")
    >>> fields[["field_id", "area_m2", "n_holes"]].to_dict("records")
    [{'field_id': 1, 'area_m2': 72.0, 'n_holes': 1}]
    """
    array = np.asarray(class_map)
    check_ndim(array, (2,), "class_map")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise InvalidInputError(
            f"class_map must hold integer class codes, got dtype {array.dtype}; "
            "pass a class map (e.g. uint8 from predict_scene), not reflectance"
        )
    affine = as_transform(transform)
    ref_crs = as_crs(crs)
    check_option("connectivity", connectivity, (4, 8))
    if not isinstance(min_area, (int, float)) or not math.isfinite(min_area) or min_area < 0:
        raise InvalidInputError(f"min_area must be a finite number >= 0, got {min_area!r}")
    if simplify is not None and (not isinstance(simplify, (int, float)) or not simplify >= 0):
        raise InvalidInputError(f"simplify must be None or a tolerance >= 0 in map units, got {simplify!r}")
    if nodata is not None and value == nodata:
        raise InvalidInputError(f"value {value!r} equals nodata; choose a class value such as {CROP}")

    # value != nodata, so the pixels equal to value are never nodata.
    built = _build(array, int(value), affine, holes) if _representable(value, array.dtype) else None
    if built is None:
        raise InvalidInputError(
            f"value {value!r} does not occur in class_map (values present: "
            f"{np.unique(array)[:10].tolist()}); pass the class code of the fields"
        )
    geoms, n_holes, joins = built
    if connectivity == 8:
        geoms, n_holes = _join_corners(geoms, n_holes, joins)
        if not holes:
            geoms = _fill_joined(geoms)
    if simplify:
        geoms = np.asarray(shapely.coverage_simplify(geoms, simplify, simplify_boundary=True))
        geoms = shapely.orient_polygons(geoms, exterior_cw=False)
        parts, part_of = shapely.get_parts(geoms, return_index=True)
        n_holes = np.bincount(part_of, weights=shapely.get_num_interior_rings(parts), minlength=len(geoms))
    area, perimeter = _measure(geoms, ref_crs)
    keep = area >= min_area
    frame = gpd.GeoDataFrame(
        {
            "field_id": np.arange(1, int(keep.sum()) + 1, dtype=np.int64),
            "area_m2": area[keep],
            "perimeter_m": perimeter[keep],
            "n_holes": n_holes[keep].astype(np.int64),
        },
        geometry=geoms[keep],
        crs=ref_crs.to_wkt(),
    )
    return frame


def write_geojson(fields: gpd.GeoDataFrame, path: PathLike, *, precision: int = 7) -> None:
    """Write fields as RFC 7946 GeoJSON, atomically.

    Geometries are reprojected to EPSG:4326 (longitude, latitude), exteriors made counter-clockwise
    and holes clockwise (the right-hand rule), and coordinates rounded to ``precision`` decimals
    (7 decimals is about 1 cm).

    Parameters
    ----------
    fields : geopandas.GeoDataFrame
        Output of :func:`vectorize`, or any GeoDataFrame with a CRS.
    path : str or os.PathLike
        The ``.geojson`` file to write; written to a temporary file beside it, then renamed.
    precision : int, default 7
        Decimal places kept in coordinates.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> import numpy as np
    >>> from affine import Affine
    >>> m = np.ones((2, 2), dtype=np.uint8)
    >>> fields = vectorize(m, Affine(3, 0, 600000, 0, -3, 4200000), "EPSG:32610")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "fields.geojson"
    >>> write_geojson(fields, out)
    >>> json.loads(out.read_text())["features"][0]["properties"]["field_id"]
    1
    """
    if not isinstance(fields, gpd.GeoDataFrame):
        raise InvalidInputError(f"fields must be a geopandas.GeoDataFrame, got {type(fields).__name__}")
    if fields.crs is None:
        raise InvalidInputError("fields has no CRS; set one with fields.set_crs(...) before writing GeoJSON")
    if not isinstance(precision, int) or not 0 <= precision <= 15:
        raise InvalidInputError(f"precision must be an int between 0 and 15, got {precision!r}")
    wgs84 = fields.to_crs("EPSG:4326")
    geoms = shapely.set_precision(wgs84.geometry.values, 10.0**-precision)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, precision))
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    props = wgs84.drop(columns=wgs84.geometry.name)
    features = []
    for geom, row in zip(geoms, props.to_dict("records"), strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {k: _json_value(v) for k, v in row.items()},
                "geometry": json.loads(shapely.to_geojson(geom)) if geom is not None else None,
            }
        )
    text = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
