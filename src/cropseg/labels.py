"""Ground-truth polygons to pixel labels, through contours in pixel space.

Every ring of the ground truth goes through the inverse affine transform into pixel space as a contour
with sub-pixel coordinates (:func:`label_contours` returns them, OpenCV-style, with a hierarchy for
plotting). :func:`rasterize_labels` fills the same contours with a numba scanline kernel
(``cropseg._core.rasterize``) that applies GDAL's pixel-centre rule, so the labels equal
``rasterio.features.rasterize`` on every pixel, holes, ties and ``all_touched`` included. OpenCV's
``fillPoly`` is not used for the fill: it also paints boundary pixels whose centres lie outside the
polygon (about 1.3 % of the pixels differ on the Sacramento ground truth).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from affine import Affine
from rasterio.crs import CRS

from cropseg._core._jit import prefaulted
from cropseg._core.rasterize import fill_parts, pixel_rings
from cropseg._validate import as_crs, as_shape, as_transform
from cropseg.errors import CropsegIOError, CRSError, GeometryError, GeometryWarning, InvalidInputError
from cropseg.scene import Scene
from cropseg.types import CROP, NODATA, NON_CROP

logger = logging.getLogger(__name__)

__all__ = ["read_ground_truth", "rasterize_labels", "label_contours"]

#: RFC 7946: GeoJSON coordinates are WGS 84 longitude / latitude unless a (legacy) ``crs`` member says so.
GEOJSON_CRS = "EPSG:4326"

_GEOJSON_SUFFIXES = (".geojson", ".json")
_GEOJSON_TYPES = frozenset(
    {"Feature", "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
     "GeometryCollection"}
)


# ----------------------------------------------------------------------------------------------------
# Reading ground truth
# ----------------------------------------------------------------------------------------------------


def _legacy_crs_member(obj: Mapping[str, Any]) -> str | None:
    """Return the CRS named by a GeoJSON 2008 ``crs`` member, if any."""
    member = obj.get("crs")
    if isinstance(member, Mapping):
        props = member.get("properties")
        if isinstance(props, Mapping) and props.get("name"):
            return str(props["name"])
    return None


def _features_from_geojson(obj: Any, name: str) -> list[Mapping[str, Any]]:
    """Return the list of Feature mappings in a FeatureCollection, Feature, geometry or list of those."""
    if isinstance(obj, Mapping):
        kind = obj.get("type")
        if kind == "FeatureCollection":
            return list(obj.get("features") or [])
        if kind == "Feature":
            return [obj]
        if kind in _GEOJSON_TYPES:
            return [{"type": "Feature", "properties": {}, "geometry": obj}]
        raise GeometryError(
            f"{name} is a mapping with type {kind!r}; expected a GeoJSON FeatureCollection, Feature "
            "or geometry"
        )
    features = []
    for i, item in enumerate(obj):
        feature = item if isinstance(item, Mapping) else getattr(item, "__geo_interface__", None)
        if not isinstance(feature, Mapping) or feature.get("type") not in _GEOJSON_TYPES:
            raise GeometryError(
                f"{name}[{i}] is not a GeoJSON Feature (got {type(item).__name__}); a JSON list must hold "
                "Features like the Sacramento ground-truth files"
            )
        if feature["type"] != "Feature":
            feature = {"type": "Feature", "properties": {}, "geometry": feature}
        features.append(feature)
    return features


def _frame_from_features(features: list[Mapping[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    """Build a GeoDataFrame from GeoJSON Features, keeping null geometries as None."""
    geoms = [shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None for f in features]
    props = pd.DataFrame.from_records([dict(f.get("properties") or {}) for f in features])
    if "geometry" in props.columns:
        props = props.drop(columns="geometry")
    return gpd.GeoDataFrame(props, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def _read_path(path: Path, crs: Any) -> gpd.GeoDataFrame:
    """Read a vector file: GeoJSON (also a bare list of Features) with json, anything else with OGR."""
    if not path.exists():
        raise CropsegIOError(f"ground truth file {str(path)!r} does not exist; check the path")
    if path.suffix.lower() in _GEOJSON_SUFFIXES:
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CropsegIOError(f"ground truth file {str(path)!r} is not readable JSON: {exc}") from exc
        return _from_geojson(obj, crs, f"ground truth file {str(path)!r}")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise CropsegIOError(f"ground truth file {str(path)!r} cannot be read by OGR: {exc}") from exc
    return _set_source_crs(frame, crs, f"ground truth file {str(path)!r}")


def _from_geojson(obj: Any, crs: Any, name: str) -> gpd.GeoDataFrame:
    """GeoJSON in memory: the legacy ``crs`` member, else ``crs``, else EPSG:4326 (RFC 7946)."""
    declared = _legacy_crs_member(obj) if isinstance(obj, Mapping) else None
    if declared is not None and crs is not None and as_crs(declared) != as_crs(crs, "crs"):
        raise CRSError(
            f"{name} declares CRS {declared!r} but crs={crs!r} was passed; drop crs= or fix the file"
        )
    source_crs = declared or crs or GEOJSON_CRS
    return _frame_from_features(_features_from_geojson(obj, name), as_crs(source_crs, "crs"))


def _set_source_crs(frame: gpd.GeoDataFrame, crs: Any, name: str) -> gpd.GeoDataFrame:
    """Give ``frame`` ``crs`` when it has none; refuse a conflicting one."""
    if crs is None:
        if frame.crs is None:
            raise CRSError(
                f"{name} has no CRS; pass crs= with the CRS of its coordinates, e.g. crs='EPSG:32610'"
            )
        return frame
    wanted = as_crs(crs, "crs")
    if frame.crs is None:
        return frame.set_crs(wanted)
    if CRS.from_user_input(frame.crs) != wanted:
        raise CRSError(
            f"{name} is in {frame.crs.to_string()} but crs={crs!r} was passed; drop crs= (the data is "
            "reprojected for you) or call .to_crs() yourself"
        )
    return frame


def read_ground_truth(source: Any, *, crs: Any = None) -> gpd.GeoDataFrame:
    """Read ground-truth polygons from any of the forms cropseg accepts, with a CRS.

    Parameters
    ----------
    source : GeoDataFrame, path, mapping, list or iterable
        One of

        * a :class:`geopandas.GeoDataFrame` or :class:`geopandas.GeoSeries` (must have a CRS, or pass
          ``crs``);
        * a path to any vector file OGR reads (Shapefile, GeoPackage, ...); ``.geojson`` / ``.json``
          files are parsed as GeoJSON, which also accepts a bare JSON list of Features (the form of
          the Sacramento ground-truth files, which OGR does not read);
        * a GeoJSON FeatureCollection, Feature or geometry mapping, or a list of Feature mappings
          (or objects whose ``__geo_interface__`` is a Feature);
        * an iterable of shapely geometries or other ``__geo_interface__`` geometries, which carry
          no CRS: pass ``crs``.
    crs : CRS-like, optional
        The CRS of the coordinates when the source does not declare one. GeoJSON without a (legacy)
        ``crs`` member is EPSG:4326 (RFC 7946) unless ``crs`` is given. A ``crs`` that contradicts a
        declared one is refused.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature, attributes as columns, null geometries kept as ``None``, with ``crs``
        set. Geometries are not repaired here (:func:`rasterize_labels` does that). A GeoDataFrame
        that already has its CRS is returned as is, not copied.

    Raises
    ------
    CRSError
        If the CRS is missing on a non-GeoJSON source, invalid, or contradicts the declared one.
    GeometryError
        If the input is not one of the accepted forms.
    CropsegIOError
        If a file is missing or unreadable.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> gt = read_ground_truth([box(0, 0, 30, 30), box(60, 0, 90, 30)], crs="EPSG:32610")
    >>> len(gt), gt.crs.to_epsg()
    (2, 32610)
    >>> fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"CLASS1": "F"},
    ...       "geometry": {"type": "Point", "coordinates": [-121.5, 38.3]}}]}
    >>> read_ground_truth(fc).crs.to_epsg()  # GeoJSON without a crs member is EPSG:4326
    4326
    """
    if isinstance(source, gpd.GeoSeries):
        source = gpd.GeoDataFrame(geometry=source, crs=source.crs)
    if isinstance(source, gpd.GeoDataFrame):
        return _set_source_crs(source, crs, "ground truth GeoDataFrame")
    if isinstance(source, (str, os.PathLike)):
        return _read_path(Path(os.fspath(source)), crs)
    if isinstance(source, Mapping):
        return _from_geojson(source, crs, "ground truth")
    if isinstance(source, shapely.Geometry) or hasattr(source, "__geo_interface__"):
        source = [source]
    if not isinstance(source, Iterable):
        raise GeometryError(
            f"ground truth of type {type(source).__name__} is not understood; pass a GeoDataFrame, a vector "
            "file path, GeoJSON, or an iterable of shapely geometries"
        )
    items = list(source)
    if any(isinstance(i, Mapping) for i in items):
        return _from_geojson(items, crs, "ground truth")
    if items and all(
        not isinstance(i, (Mapping, shapely.Geometry))
        and isinstance(getattr(i, "__geo_interface__", None), Mapping)
        and i.__geo_interface__.get("type") == "Feature"
        for i in items
    ):
        return _from_geojson(items, crs, "ground truth")
    geoms = []
    for i, item in enumerate(items):
        if item is None or isinstance(item, shapely.Geometry):
            geoms.append(item)
        elif hasattr(item, "__geo_interface__"):
            geoms.append(shapely.geometry.shape(item))
        else:
            raise GeometryError(
                f"ground truth item {i} is a {type(item).__name__}, not a geometry; pass shapely geometries "
                "or objects with __geo_interface__"
            )
    if crs is None:
        raise CRSError(
            "ground truth geometries carry no CRS; pass crs= with the CRS of their coordinates "
            "(e.g. crs='EPSG:32610'), or pass a GeoDataFrame with a CRS"
        )
    wanted = as_crs(crs, "crs")
    return gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=wanted), crs=wanted)


# ----------------------------------------------------------------------------------------------------
# Grid, classes and contours
# ----------------------------------------------------------------------------------------------------


def _grid(
    like: Any, transform: Any, shape: Any, crs: Any
) -> tuple[Affine, tuple[int, int], CRS, npt.NDArray[np.bool_] | None]:
    """Resolve the target pixel grid from ``like`` or ``transform``/``shape``/``crs``."""
    if like is not None:
        if not isinstance(like, Scene):
            raise InvalidInputError(f"like must be a cropseg Scene, got {type(like).__name__}")
        if transform is not None or shape is not None or crs is not None:
            raise InvalidInputError("pass either like= or transform=/shape=/crs=, not both")
        return as_transform(like.transform, "like.transform"), like.shape, as_crs(like.crs), like.valid
    if transform is None or shape is None:
        raise InvalidInputError(
            "the pixel grid is missing: pass like=scene, or transform=, shape=(rows, cols) and crs="
        )
    return as_transform(transform), as_shape(shape), as_crs(crs, "crs"), None


def _gdal_inverse(transform: Affine) -> tuple[float, float, float, float, float, float]:
    """Map-to-pixel coefficients computed exactly as GDAL's ``GDALInvGeoTransform``.

    rasterio burns through GDAL's geotransform-based transformer; using the same inverse with the same
    floating-point operations keeps vertices lying on pixel centres or edges on the same side.
    """
    gt0, gt1, gt2, gt3, gt4, gt5 = transform.to_gdal()
    if gt2 == 0.0 and gt4 == 0.0 and gt1 != 0.0 and gt5 != 0.0:
        return (-gt0 / gt1, 1.0 / gt1, 0.0, -gt3 / gt5, 0.0, 1.0 / gt5)
    inv_det = 1.0 / (gt1 * gt5 - gt2 * gt4)
    return (
        (gt2 * gt3 - gt0 * gt5) * inv_det,
        gt5 * inv_det,
        -gt2 * inv_det,
        (-gt1 * gt3 + gt0 * gt4) * inv_det,
        -gt4 * inv_det,
        gt1 * inv_det,
    )


def _feature_values(
    frame: gpd.GeoDataFrame, column: str | None, classes: Mapping[Hashable, int] | Iterable[Hashable] | None
) -> npt.NDArray[np.int16]:
    """Class code per feature; -1 for features that are not burned."""
    n = len(frame)
    if column is None:
        if classes is not None:
            raise InvalidInputError("classes= needs column= (the attribute holding the class, e.g. 'CLASS1')")
        return np.full(n, CROP, dtype=np.int16)
    if column not in frame.columns or column == frame.geometry.name:
        attrs = [c for c in frame.columns if c != frame.geometry.name]
        raise InvalidInputError(f"column {column!r} is not in the ground truth; its columns are {attrs}")
    values = frame[column]
    if classes is None:
        codes = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isin(codes, np.arange(256))
        if bad.any():
            raise InvalidInputError(
                f"column {column!r} holds {values[bad].iloc[0]!r}, not a class code 0..255; pass classes= "
                f"to map its values, e.g. classes={{'F': {CROP}, 'U': {NON_CROP}}}"
            )
        return codes.astype(np.int16)
    if isinstance(classes, Mapping):
        mapping = dict(classes)
        for key, code in mapping.items():
            if isinstance(code, bool) or not isinstance(code, (int, np.integer)) or not 0 <= code <= 255:
                raise InvalidInputError(
                    f"classes[{key!r}] = {code!r} is not a class code; use CROP={CROP}, NON_CROP={NON_CROP} "
                    f"or NODATA={NODATA}"
                )
        codes = np.array([mapping.get(v, -1) if _hashable(v) else -1 for v in values], dtype=np.int16)
        unmapped = codes < 0
        if unmapped.all():
            raise InvalidInputError(
                f"classes {sorted(map(str, mapping))} match no value of column {column!r}; it holds "
                f"{_some_values(values)}"
            )
        if unmapped.any():
            warnings.warn(
                f"{int(unmapped.sum())} ground-truth features have a {column!r} value not in classes "
                f"({_some_values(values[unmapped])}); they are not burned",
                GeometryWarning,
                stacklevel=4,
            )
        return codes
    crop_values = {classes} if isinstance(classes, str) else set(classes)
    is_crop = np.array([_hashable(v) and v in crop_values for v in values], dtype=bool)
    if not is_crop.any():
        raise InvalidInputError(
            f"classes {sorted(map(str, crop_values))} match no value of column {column!r}; it holds "
            f"{_some_values(values)}"
        )
    return np.where(is_crop, CROP, NON_CROP).astype(np.int16)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _some_values(values: pd.Series, limit: int = 10) -> str:
    uniques = pd.unique(values.astype(str))
    shown = ", ".join(repr(v) for v in sorted(uniques)[:limit])
    return f"[{shown}{', ...' if len(uniques) > limit else ''}]"


def _ring_arrays(
    polygons: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Coordinates of all rings (closed, exterior first), ring offsets and per-polygon ring offsets.

    Like ``shapely.to_ragged_array`` but only polygons with holes pay for ring objects.
    """
    n_holes = shapely.get_num_interior_rings(polygons)
    polygon_offsets = np.zeros(len(polygons) + 1, dtype=np.int64)
    np.cumsum(n_holes + 1, out=polygon_offsets[1:])
    ring_sizes = np.empty(polygon_offsets[-1], dtype=np.int64)
    simple = n_holes == 0
    ring_sizes[polygon_offsets[:-1][simple]] = shapely.get_num_coordinates(polygons[simple])
    holed = np.flatnonzero(~simple)
    if holed.size:
        rings, which = shapely.get_rings(polygons[holed], return_index=True)
        rank = np.arange(len(rings)) - np.searchsorted(which, which)
        ring_sizes[polygon_offsets[holed[which]] + rank] = shapely.get_num_coordinates(rings)
    ring_offsets = np.zeros(len(ring_sizes) + 1, dtype=np.int64)
    np.cumsum(ring_sizes, out=ring_offsets[1:])
    coords = shapely.get_coordinates(polygons).reshape(-1, 2)
    return np.ascontiguousarray(coords, dtype=np.float64), ring_offsets, polygon_offsets


class _PixelParts:
    """Polygon parts as closed rings in pixel space, in GDAL's ring order, ready for the kernel."""

    def __init__(
        self, geoms: npt.NDArray[np.object_], values: npt.NDArray[np.int16], transform: Affine
    ) -> None:
        burn = values >= 0
        geoms, values = geoms[burn], values[burn]

        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if missing.any():
            warnings.warn(
                f"{int(missing.sum())} ground-truth features have a null or empty geometry; skipped",
                GeometryWarning,
                stacklevel=4,
            )
            geoms, values = geoms[~missing], values[~missing]
        invalid = ~shapely.is_valid(geoms)
        if invalid.any():
            reasons = shapely.is_valid_reason(geoms[invalid])
            warnings.warn(
                f"{int(invalid.sum())} ground-truth geometries were invalid and were repaired with "
                f"shapely.make_valid (first: {reasons[0]})",
                GeometryWarning,
                stacklevel=4,
            )
            geoms = geoms.copy()
            geoms[invalid] = shapely.make_valid(geoms[invalid])

        # Explode multi-part geometries and collections (make_valid may nest them) into polygons.
        parts, owner = geoms, np.arange(len(geoms))
        while True:
            multi = shapely.get_type_id(parts) >= 4
            if not multi.any():
                break
            sub, idx = shapely.get_parts(parts, return_index=True)
            parts, owner = sub, owner[idx]
        empty = shapely.is_empty(parts)
        polygonal = (shapely.get_type_id(parts) == 3) & ~empty
        other = ~polygonal & ~empty
        dropped = np.setdiff1d(owner[other], owner[polygonal]) if other.any() else ()
        if len(dropped):
            warnings.warn(
                f"{len(dropped)} ground-truth features have no polygon (points or lines); skipped",
                GeometryWarning,
                stacklevel=4,
            )
        parts, owner = parts[polygonal], owner[polygonal]

        coords, ring_offsets, polygon_offsets = _ring_arrays(parts)
        if coords.size and not np.isfinite(coords).all():
            raise GeometryError(
                "ground-truth coordinates are not finite after reprojection; check the source CRS"
            )
        self.ring_offsets = ring_offsets
        self.part_rings = polygon_offsets
        self.values = values[owner].astype(np.uint8)
        self.n_features = len(geoms)
        self.xs = np.empty(len(coords))
        self.ys = np.empty(len(coords))
        bounds = np.empty((len(parts), 4))
        pixel_rings(
            coords,
            self.ring_offsets,
            self.part_rings,
            np.array(_gdal_inverse(transform)),
            self.xs,
            self.ys,
            bounds,
        )
        self.part_xmin, self.part_xmax, self.part_ymin, self.part_ymax = (
            np.ascontiguousarray(b) for b in bounds.T
        )

    def touches(self, shape: tuple[int, int]) -> bool:
        """Whether any part's pixel bounding box overlaps the raster."""
        rows, cols = shape
        inside_x = (self.part_xmax > 0) & (self.part_xmin < cols)
        return bool(np.any(inside_x & (self.part_ymax > 0) & (self.part_ymin < rows)))


def _prepare(
    ground_truth: Any,
    like: Any,
    transform: Any,
    shape: Any,
    crs: Any,
    source_crs: Any,
    column: str | None,
    classes: Any,
) -> tuple[_PixelParts, Affine, tuple[int, int], npt.NDArray[np.bool_] | None]:
    """Validate, read, reproject and convert the ground truth to pixel-space parts."""
    grid_transform, grid_shape, grid_crs, valid = _grid(like, transform, shape, crs)
    frame = read_ground_truth(ground_truth, crs=source_crs)
    if len(frame) == 0:
        raise GeometryError("the ground truth has no features; nothing to rasterize")
    values = _feature_values(frame, column, classes)
    geoms = frame.geometry
    if CRS.from_user_input(geoms.crs) != grid_crs:
        geoms = geoms.to_crs(grid_crs)
    geoms = np.asarray(geoms.values, dtype=object)
    parts = _PixelParts(geoms, values, grid_transform)
    if not parts.touches(grid_shape):
        left, bottom, right, top = shapely.total_bounds(geoms)
        raise GeometryError(
            f"no ground-truth polygon overlaps the raster: polygons span ({left:.6g}, {bottom:.6g}, "
            f"{right:.6g}, {top:.6g}) in {grid_crs.to_string()}, the raster is {grid_shape} pixels from "
            f"{grid_transform @ (0, 0)}; check the ground truth's CRS and area"
        )
    return parts, grid_transform, grid_shape, valid


# ----------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------


def rasterize_labels(
    ground_truth: Any,
    *,
    like: Scene | None = None,
    transform: Any = None,
    shape: tuple[int, int] | None = None,
    crs: Any = None,
    source_crs: Any = None,
    column: str | None = None,
    classes: Mapping[Hashable, int] | Iterable[Hashable] | None = None,
    all_touched: bool = False,
) -> npt.NDArray[np.uint8]:
    """Burn ground-truth polygons into a crop / non-crop label raster on a pixel grid.

    A pixel is labelled by a polygon when its centre is inside the polygon (holes excluded), exactly as
    ``rasterio.features.rasterize`` decides, ties on edges and vertices included; with
    ``all_touched=True`` every pixel a polygon's boundary touches is labelled too, again as rasterio does.
    Later features overwrite earlier ones where they overlap. Pixels outside every polygon are
    ``NON_CROP``; with ``like=scene``, pixels where ``scene.valid`` is False are ``NODATA``.

    The rings are taken into pixel space through GDAL's inverse affine (see :func:`label_contours`) and
    filled by a parallel numba scanline kernel. Memory: the output raster plus the ring coordinates.

    Parameters
    ----------
    ground_truth : GeoDataFrame, path, GeoJSON mapping or list, or iterable of geometries
        Polygons or MultiPolygons (GeometryCollections are searched for polygons), in any form
        :func:`read_ground_truth` reads. They are reprojected to the raster CRS. Invalid geometries are
        repaired with ``shapely.make_valid`` and null or empty ones skipped, each with one
        :class:`~cropseg.errors.GeometryWarning` giving the count.
    like : Scene, optional
        Take the grid (transform, shape, crs) and the valid mask from this scene.
    transform : affine.Affine, optional
        Pixel-to-map transform of the grid, when ``like`` is not given. Rotated or sheared transforms
        work too (the fill happens in pixel space).
    shape : tuple of int, optional
        ``(rows, cols)`` of the grid, when ``like`` is not given.
    crs : CRS-like, optional
        CRS of the grid, when ``like`` is not given.
    source_crs : CRS-like, optional
        CRS of the ground-truth coordinates when the source has none (bare geometries, a GeoDataFrame
        without CRS, a Shapefile without ``.prj``). GeoJSON without a ``crs`` member is EPSG:4326.
    column : str, optional
        Attribute that decides each feature's class. Without ``classes`` it must hold class codes.
        Without ``column`` every polygon is ``CROP``.
    classes : mapping or iterable, optional
        With ``column``: either the values that count as crop (e.g. DWR ``CLASS1`` codes
        ``{"F", "G", "P"}``; every other polygon is ``NON_CROP``), or a mapping from value to class
        code, e.g. ``{"F": CROP, "U": NON_CROP, "X": NODATA}`` (features whose value is not mapped are
        not burned, with a warning).
    all_touched : bool, default False
        Also label every pixel touched by a polygon's boundary.

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        ``CROP = 1``, ``NON_CROP = 0``, ``NODATA = 255``.

    Raises
    ------
    InvalidInputError
        If the grid is missing or given twice, ``column`` does not exist, or ``classes`` match nothing.
    CRSError
        If the ground truth has no CRS (and ``source_crs`` is not given) or a CRS is invalid.
    GeometryError
        If the ground truth is empty or no polygon overlaps the raster (usually a wrong CRS).

    Examples
    --------
    >>> from affine import Affine
    >>> from shapely.geometry import Polygon
    >>> field = Polygon([(0, 0), (12, 0), (12, -9), (0, -9)], [[(3, -3), (6, -3), (6, -6), (3, -6)]])
    >>> rasterize_labels([field], transform=Affine(3, 0, 0, 0, -3, 0), shape=(4, 5),
    ...                  crs="EPSG:32610", source_crs="EPSG:32610")
    array([[1, 1, 1, 1, 0],
           [1, 0, 1, 1, 0],
           [1, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    if not isinstance(all_touched, (bool, np.bool_)):
        raise InvalidInputError(f"all_touched must be True or False, got {all_touched!r}")
    parts, _, grid_shape, valid = _prepare(
        ground_truth, like, transform, shape, crs, source_crs, column, classes
    )
    out = prefaulted(grid_shape, np.uint8)  # the kernel writes the background band by band
    band_rows = max(16, -(-grid_shape[0] // (4 * numba.get_num_threads())))
    fill_parts(
        parts.xs,
        parts.ys,
        parts.ring_offsets,
        parts.part_rings,
        parts.part_ymin,
        parts.part_ymax,
        parts.values,
        bool(all_touched),
        NON_CROP,
        band_rows,
        out,
    )
    if valid is not None:
        out[~valid] = NODATA
    logger.debug(
        "rasterize_labels: %d features, %d polygon parts on %s grid", parts.n_features, len(parts.values),
        grid_shape,
    )
    return out


def label_contours(
    ground_truth: Any,
    *,
    like: Scene | None = None,
    transform: Any = None,
    shape: tuple[int, int] | None = None,
    crs: Any = None,
    source_crs: Any = None,
    shift: int | None = None,
) -> tuple[list[npt.NDArray[Any]], npt.NDArray[np.int32]]:
    """Return the ground-truth rings as OpenCV-style contours in pixel space, with their hierarchy.

    These are the contours :func:`rasterize_labels` fills: every ring of every polygon (MultiPolygons
    exploded, invalid geometries repaired) through the inverse affine transform, sub-pixel coordinates
    kept, ring order as GDAL fills it (clockwise in map coordinates).

    Parameters
    ----------
    ground_truth : GeoDataFrame, path, GeoJSON mapping or list, or iterable of geometries
        As for :func:`rasterize_labels`.
    like, transform, shape, crs, source_crs
        The pixel grid and the source CRS, as for :func:`rasterize_labels`.
    shift : int, optional
        Return int32 contours for OpenCV drawing instead: OpenCV puts pixel centres at integers, so the
        points become ``round((p - 0.5) * 2**shift)``, ready for ``cv2.polylines`` / ``cv2.fillPoly``
        with the same ``shift`` (``shift=0`` also suits ``cv2.drawContours``). 0 to 16.

    Returns
    -------
    contours : list of ndarray, shape (n_points, 1, 2)
        Closed rings in feature order, each exterior ring followed by its holes. By default float64
        ``(x, y)`` = ``(col, row)`` pixel coordinates with the origin at the top-left corner of the
        top-left pixel (pixel centres at ``i + 0.5``, as in GDAL); int32 in OpenCV's convention when
        ``shift`` is given.
    hierarchy : ndarray of int32, shape (1, n_contours, 4)
        OpenCV's ``[next, previous, first_child, parent]`` per contour (-1 for none): exteriors are
        top-level siblings, holes are children of their exterior.

    Raises
    ------
    InvalidInputError, CRSError, GeometryError
        As for :func:`rasterize_labels`.

    Examples
    --------
    >>> from affine import Affine
    >>> from shapely.geometry import Polygon
    >>> field = Polygon([(0, 0), (12, 0), (12, -9), (0, -9)], [[(3, -3), (6, -3), (6, -6), (3, -6)]])
    >>> contours, hierarchy = label_contours([field], transform=Affine(3, 0, 0, 0, -3, 0), shape=(4, 5),
    ...                                      crs="EPSG:32610", source_crs="EPSG:32610")
    >>> contours[0][:, 0].tolist()
    [[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0], [0.0, 0.0]]
    >>> hierarchy.tolist()
    [[[-1, -1, 1, -1], [-1, -1, -1, 0]]]
    >>> cv_contours, _ = label_contours([field], transform=Affine(3, 0, 0, 0, -3, 0), shape=(4, 5),
    ...                                 crs="EPSG:32610", source_crs="EPSG:32610", shift=2)
    >>> cv_contours[0][:2, 0].tolist()  # (4 * (0 - 0.5), ...): ready for cv2.fillPoly(..., shift=2)
    [[-2, -2], [14, -2]]
    """
    if shift is not None and (
        isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or not 0 <= shift <= 16
    ):
        raise InvalidInputError(f"shift must be an int from 0 to 16 (OpenCV's limit) or None, got {shift!r}")
    parts, _, _, _ = _prepare(ground_truth, like, transform, shape, crs, source_crs, None, None)
    xy = np.stack([parts.xs, parts.ys], axis=1)
    if shift is not None:
        xy = np.round((xy - 0.5) * float(2**shift)).astype(np.int32)
    offsets = parts.ring_offsets
    contours = [xy[offsets[r] : offsets[r + 1], None, :] for r in range(len(offsets) - 1)]

    hierarchy = np.full((1, len(contours), 4), -1, dtype=np.int32)
    exteriors = parts.part_rings[:-1]
    # Exteriors: siblings in order.
    hierarchy[0, exteriors[1:], 1] = exteriors[:-1]
    hierarchy[0, exteriors[:-1], 0] = exteriors[1:]
    for lo, hi in zip(parts.part_rings[:-1], parts.part_rings[1:], strict=True):
        if hi - lo > 1:
            holes = np.arange(lo + 1, hi)
            hierarchy[0, lo, 2] = lo + 1
            hierarchy[0, holes, 3] = lo
            hierarchy[0, holes[:-1], 0] = holes[1:]
            hierarchy[0, holes[1:], 1] = holes[:-1]
    return contours, hierarchy
