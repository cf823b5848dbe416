"""Class maps to field boundaries: exact pixel-edge polygons with holes, and GeoJSON output.

OpenCV's ``cv2.findContours`` is the tracing engine. It follows the centres of boundary pixels,
which on its own loses half a pixel all round (the original notebook's fields came out one pixel
short on their right and bottom edges). cropseg traces a copy of the mask upsampled by two with
nearest-neighbour: there every boundary pixel centre sits a quarter pixel inside a pixel edge, so
the vertex ``p`` of a traced contour maps to the pixel corner ``(p + 1) // 2`` exactly, for outer
rings and for holes alike. Polygons therefore trace pixel edges: a polygon's area is its pixel count
times the pixel area, and :func:`cropseg.labels.rasterize_labels` of the result gives back the mask.

Connectivity has the meaning of ``rasterio.features.shapes``. The complement of the mask is traced
(``RETR_CCOMP``): OpenCV treats the complement as 8-connected and so its holes are exactly the
4-connected regions of the mask, and its outer borders nested inside them are their holes. A
4-connected region always has a connected interior, so its polygon is valid once the rare ring that
touches itself at a corner is split into simple loops (a shell loop, and holes touching it at a
corner). With ``connectivity=8`` the 4-connected polygons of one 8-connected region are joined into a
MultiPolygon whose parts touch at corners; that is the only valid OGC form of such a region (a single
polygon through a corner pinch is invalid, as 1-2 % of ``rasterio.features.shapes``' polygons are).
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

from cropseg._core.vectorize import corner_rings, split_loops
from cropseg._io import atomic_path
from cropseg._validate import as_crs, as_transform, check_ndim, check_option
from cropseg.errors import InvalidInputError
from cropseg.types import CROP, NODATA, PathLike

logger = logging.getLogger(__name__)

__all__ = ["vectorize", "write_geojson", "FIELD_COLUMNS"]

#: Columns of the fields table, besides ``geometry``.
FIELD_COLUMNS = ("field_id", "area_m2", "perimeter_m", "n_holes")


def _trace(
    mask: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Trace the 4-connected regions of ``mask`` (0/1 uint8) into rings of pixel corners.

    The complement of the mask, framed by one pixel of complement, is upsampled by two and traced
    with ``RETR_CCOMP``. Its holes are the regions' exteriors; its outer borders (except the frame's)
    are the regions' holes. Each border is tied to its region by the pixel beside its starting point
    (Suzuki's rule: a hole border starts left of its first region pixel, an outer border right of
    one), looked up in a 4-connected labelling of the mask.

    Returns ring corners ``(n, 2)`` int64 ``(col, row)`` (rings not closed) and ring offsets into
    them, and per ring: whether it is an exterior, its region's 4-connected label and whether it may
    touch itself; plus the label image.
    """
    _, labels4 = cv2.connectedComponents(mask, connectivity=4, ltype=cv2.CV_32S)
    framed = cv2.copyMakeBorder(1 - mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    doubled = cv2.resize(framed, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(doubled, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    parent = hierarchy[0][:, 3]
    lengths = np.fromiter((len(c) for c in contours), dtype=np.int64, count=len(contours))
    points = np.concatenate(contours).reshape(-1, 2).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    start = points[offsets[:-1]]  # each border's starting point, (x, y) in the doubled image
    is_exterior = parent >= 0
    col = (start[:, 0] + np.where(is_exterior, 1, -1)) // 2 - 1
    row = start[:, 1] // 2 - 1
    inside = (col >= 0) & (row >= 0) & (col < mask.shape[1]) & (row < mask.shape[0])
    region = np.zeros(len(contours), dtype=np.int64)
    region[inside] = labels4[row[inside], col[inside]]
    # A ring can only touch itself at a corner where the mask is diagonal (1 0 / 0 1 or 0 1 / 1 0).
    padded = np.pad(mask, 1)
    diagonal = (padded[:-1, :-1] == padded[1:, 1:]) & (padded[:-1, 1:] == padded[1:, :-1]) & (
        padded[:-1, :-1] != padded[:-1, 1:]
    )
    corners = np.empty_like(points)
    n_kept = np.empty(len(contours), dtype=np.int64)
    pinch = np.empty(len(contours), dtype=np.bool_)
    corner_rings(points, offsets, diagonal, corners, n_kept, pinch)
    keep = region > 0  # drops the frame's own border
    return corners, offsets, n_kept, keep, is_exterior, region, pinch, labels4


def _split_loops(ring: np.ndarray) -> list[np.ndarray]:
    """Split a ring (not closed) that touches itself at vertices into simple loops (not closed)."""
    width = int(ring[:, 0].max()) + 2
    order, offsets = split_loops(np.ascontiguousarray(ring, dtype=np.int64), width)
    return [ring[order[offsets[k] : offsets[k + 1]]] for k in range(len(offsets) - 1)]


def _signed_area2(ring: np.ndarray) -> int:
    """Twice the signed area of a ring of integer vertices (exact)."""
    x, y = ring[:, 0], ring[:, 1]
    return int(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _to_map(xy: np.ndarray, transform: Affine) -> np.ndarray:
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    xy = xy.astype(np.float64)
    return np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f])


def _build(
    mask: npt.NDArray[np.uint8], transform: Affine, holes: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One polygon per 4-connected region of ``mask``, in raster order, with its label."""
    corners, offsets, n_kept, keep, is_exterior, region, pinch, labels4 = _trace(mask)
    if not holes:
        keep &= is_exterior
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((~is_exterior[idx], region[idx]))]  # by region, exterior first
    # Gather the kept rings and close each one by repeating its first corner.
    n = n_kept[idx]
    ring_offsets = np.concatenate([[0], np.cumsum(n + 1)])
    pos = np.arange(ring_offsets[-1]) - np.repeat(ring_offsets[:-1], n + 1)
    pos = np.where(pos == np.repeat(n, n + 1), 0, pos)
    xy = corners[np.repeat(offsets[idx], n + 1) + pos]
    poly_region, first_ring, rings_per_poly = np.unique(region[idx], return_index=True, return_counts=True)
    poly_offsets = np.concatenate([[0], np.cumsum(rings_per_poly)])
    geoms = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, _to_map(xy, transform), (ring_offsets, poly_offsets)
    )
    # Rebuild the few polygons with a self-touching ring from simple loops: an exterior splits
    # into the shell (the loop turning its way) and holes touching it at corners; a hole into holes.
    ring_poly = np.repeat(np.arange(len(poly_region)), rings_per_poly)
    fix = np.unique(ring_poly[pinch[idx]])
    if len(fix):
        loops_all: list[np.ndarray] = []
        counts: list[int] = []
        for p in fix:
            shells: list[np.ndarray] = []
            others: list[np.ndarray] = []
            for r in range(poly_offsets[p], poly_offsets[p + 1]):
                ring = xy[ring_offsets[r] : ring_offsets[r + 1] - 1]
                if not pinch[idx[r]]:
                    (shells if is_exterior[idx[r]] else others).append(ring)
                    continue
                loops = _split_loops(ring)
                if is_exterior[idx[r]]:
                    sign = np.sign(_signed_area2(ring))
                    for loop in loops:
                        (shells if np.sign(_signed_area2(loop)) == sign else others).append(loop)
                else:
                    others.extend(loops)
            members = shells[:1] + (others if holes else [])
            loops_all.extend(np.vstack([m, m[:1]]) for m in members)
            counts.append(len(members))
        lens = np.fromiter((len(m) for m in loops_all), dtype=np.int64, count=len(loops_all))
        geoms[fix] = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON,
            _to_map(np.concatenate(loops_all), transform),
            (np.concatenate([[0], np.cumsum(lens)]), np.concatenate([[0], np.cumsum(counts)])),
        )
    return geoms, poly_region, labels4


def _join_corners(
    geoms: np.ndarray, poly_region: np.ndarray, labels4: np.ndarray, mask: npt.NDArray[np.uint8]
) -> np.ndarray:
    """Group 4-connected polygons into 8-connected fields (MultiPolygons whose parts touch at corners)."""
    _, labels8 = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    n4 = int(labels4.max()) + 1
    to8 = np.zeros(n4, dtype=np.int64)
    to8[labels4.ravel()] = labels8.ravel()
    group = to8[poly_region]
    _, first, inverse, counts = np.unique(group, return_index=True, return_inverse=True, return_counts=True)
    if len(first) == len(group):
        return geoms
    several = np.flatnonzero(counts > 1)
    joined = np.flatnonzero(counts[inverse] > 1)
    joined = joined[np.argsort(inverse[joined], kind="stable")]
    out = geoms[first].copy()
    out[several] = shapely.multipolygons(geoms[joined], indices=np.searchsorted(several, inverse[joined]))
    # Keep raster order: a field sits where its first part does.
    return out[np.argsort(first, kind="stable")]


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
    Memory: the mask upsampled by two (4 bytes per pixel of ``class_map``) plus the contours.

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

    mask = array == value
    if nodata is not None:
        mask &= array != nodata
    if not mask.any():
        raise InvalidInputError(
            f"value {value!r} does not occur in class_map (values present: "
            f"{np.unique(array)[:10].tolist()}); pass the class code of the fields"
        )
    mask8 = np.ascontiguousarray(mask, dtype=np.uint8)
    geoms, poly_region, labels4 = _build(mask8, affine, holes)
    if connectivity == 8:
        geoms = _join_corners(geoms, poly_region, labels4, mask8)
    if simplify:
        geoms = np.asarray(shapely.coverage_simplify(geoms, simplify, simplify_boundary=True))
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    area, perimeter = _measure(geoms, ref_crs)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    n_holes = np.bincount(part_of, weights=shapely.get_num_interior_rings(parts), minlength=len(geoms))
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
