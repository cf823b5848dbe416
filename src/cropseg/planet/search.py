"""Search the Planet Data API for scenes over an AOI, one GeoDataFrame row per scene.

A thin layer over ``planet.Planet().data.search``: the filter is built with
``planet.data_filter``, every page is fetched (the SDK stops at 100 items unless told
otherwise), and each scene gets ``aoi_coverage``, the fraction of the AOI it covers, which
the Planet API cannot filter on.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import planet
import pyproj
import shapely
from planet import data_filter
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cropseg.errors import GeometryError, InvalidInputError
from cropseg.planet._client import check_item_type, client_scope, planet_errors

__all__ = ["search", "as_aoi", "SEARCH_COLUMNS"]

logger = logging.getLogger(__name__)

#: Columns of the table :func:`search` returns, in order.
SEARCH_COLUMNS = ("id", "acquired", "item_type", "instrument", "cloud_cover", "clear_percent",
                  "aoi_coverage", "geometry")


_DENSIFY_DEGREES = 0.002
_BATCH = 250


def as_aoi(aoi: Any, name: str = "aoi") -> shapely.Polygon | shapely.MultiPolygon:
    """Return an area of interest as one valid (Multi)Polygon in EPSG:4326 lon/lat.

    Parameters
    ----------
    aoi : dict, shapely geometry, GeoDataFrame, GeoSeries, str or path
        A GeoJSON geometry, Feature or FeatureCollection (lon/lat, RFC 7946), a shapely
        geometry in lon/lat, a GeoDataFrame / GeoSeries with a CRS (reprojected), or a path
        to any vector file GDAL reads. Several features are merged.
    name : str
        Argument name used in error messages.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon

    Raises
    ------
    GeometryError
        When the AOI is not a polygon, is empty or invalid, or is not in lon/lat.

    Examples
    --------
    >>> as_aoi({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}).area
    0.5
    """
    if isinstance(aoi, (str, os.PathLike)):
        path = Path(aoi)
        if not path.is_file():
            raise GeometryError(f"{name} file {str(path)!r} does not exist; pass a GeoJSON / GPKG path")
        try:
            aoi = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several unrelated types
            raise GeometryError(f"{name} file {str(path)!r} cannot be read as vector data: {exc}") from exc
    if isinstance(aoi, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if aoi.crs is None:
            raise GeometryError(f"{name} has no CRS; set one with .set_crs('EPSG:4326') first")
        geoms = list(aoi.to_crs(4326).geometry)
    elif isinstance(aoi, BaseGeometry):
        geoms = [aoi]
    elif isinstance(aoi, dict):
        geoms = _geojson_geometries(aoi, name)
    elif hasattr(aoi, "__geo_interface__"):
        geoms = _geojson_geometries(aoi.__geo_interface__, name)
    else:
        raise GeometryError(
            f"{name} must be a GeoJSON dict, a shapely geometry, a GeoDataFrame or a file path, "
            f"got {type(aoi).__name__}"
        )
    if not geoms or any(g is None or g.is_empty for g in geoms):
        raise GeometryError(f"{name} is empty; pass the polygon of the area to search")
    bad = sorted({g.geom_type for g in geoms} - {"Polygon", "MultiPolygon"})
    if bad:
        raise GeometryError(f"{name} must be a Polygon or MultiPolygon, got {', '.join(bad)}; "
                            "buffer points or lines first, e.g. geom.buffer(0.001)")
    for g in geoms:
        if not g.is_valid:
            raise GeometryError(f"{name} is not a valid polygon ({shapely.is_valid_reason(g)}); "
                                "repair it, e.g. with shapely.make_valid")
    merged = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
    minx, miny, maxx, maxy = merged.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(
            f"{name} bounds {merged.bounds} are not lon/lat degrees; pass a GeoDataFrame with its CRS "
            "or reproject to EPSG:4326"
        )
    return merged


def _geojson_geometries(obj: dict, name: str) -> list[BaseGeometry]:
    kind = obj.get("type")
    try:
        if kind == "FeatureCollection":
            return [shape(f["geometry"]) for f in obj["features"]]
        if kind == "Feature":
            return [shape(obj["geometry"])]
        return [shape(obj)]
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise GeometryError(f"{name} is not valid GeoJSON ({type(exc).__name__}: {exc})") from exc


def _as_utc(value: Any, name: str, *, end: bool) -> tuple[datetime, bool]:
    """Return (naive UTC datetime, whether it came from a plain date)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(
                text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInputError(
                f"{name} {value!r} is not an ISO date; use 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SSZ'"
            ) from exc
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value, False
    if isinstance(value, date):
        day = datetime.combine(value, time())
        return (day + timedelta(days=1) if end else day), True
    raise InvalidInputError(f"{name} must be a date, datetime or ISO string, got {type(value).__name__}")


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be a fraction between 0 and 1 (0.1 = 10 %), got {value!r}")
    return float(value)


def _str_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    value = list(value)
    if not value or not all(isinstance(v, str) and v for v in value):
        raise InvalidInputError(f"{name} must be a non-empty list of strings, got {value!r}")
    return value


def search(
    aoi: Any,
    start: date | datetime | str,
    end: date | datetime | str,
    *,
    max_cloud: float = 0.1,
    item_types: Sequence[str] = ("PSScene",),
    min_aoi_coverage: float = 0.0,
    instruments: Sequence[str] | None = None,
    asset_types: Sequence[str] | None = None,
    limit: int | None = None,
    client: planet.Planet | None = None,
    api_key: str | planet.Auth | None = None,
) -> gpd.GeoDataFrame:
    """Find Planet scenes over an AOI between two dates.

    The request is ``POST /data/v1/quick-search`` with an ``AndFilter`` of the AOI geometry,
    ``acquired`` in ``[start, end]``, ``cloud_cover <= max_cloud``, standard quality and
    download permission (plus instrument and asset filters when given), sorted by acquisition
    time. Every result page is read.

    Parameters
    ----------
    aoi : dict, shapely geometry, GeoDataFrame, GeoSeries or path
        The area of interest; see :func:`as_aoi`.
    start, end : date, datetime or str
        Acquisition window, inclusive. A plain date as ``end`` includes that whole day.
        Naive datetimes are UTC.
    max_cloud : float
        Highest ``cloud_cover`` (a 0-1 fraction) to accept.
    item_types : sequence of str
        Planet item types, checked against the SDK's product-bundle spec.
    min_aoi_coverage : float
        Drop scenes covering less than this fraction (0-1) of the AOI.
    instruments : sequence of str, optional
        Keep only these instruments, e.g. ``["PSB.SD"]`` for 8-band SuperDove.
    asset_types : sequence of str, optional
        Keep only items that have all of these assets.
    limit : int, optional
        Stop after this many scenes (after coverage filtering). ``None`` returns all.
    client : planet.Planet, optional
        A client from :func:`connect` (or your own ``planet.Planet``).
    api_key : str or planet.Auth, optional
        Credentials when no ``client`` is given; else the SDK's lookup (``PL_API_KEY``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per scene with the columns of :data:`SEARCH_COLUMNS`: ``id``, ``acquired``
        (UTC timestamps), ``item_type``, ``instrument``, ``cloud_cover``, ``clear_percent``,
        ``aoi_coverage`` and the footprint ``geometry`` (EPSG:4326), sorted by ``acquired``.

    Raises
    ------
    GeometryError, InvalidInputError, ProductError
        Bad AOI, dates, fractions, item types or limit, before any request.
    PlanetAuthError, PlanetAPIError
        Missing or refused credentials, or an API failure (with the server's text).

    Examples
    --------
    >>> scenes = search(aoi, "2023-05-01", "2023-09-30", max_cloud=0.05)  # doctest: +SKIP
    >>> scenes[["id", "acquired", "aoi_coverage"]].head()  # doctest: +SKIP
    """
    geometry = as_aoi(aoi)
    start_dt, _ = _as_utc(start, "start", end=False)
    end_dt, end_is_day = _as_utc(end, "end", end=True)
    if end_dt < start_dt or (end_is_day and end_dt == start_dt):
        raise InvalidInputError(f"start {start!r} is after end {end!r}; swap them")
    max_cloud = _check_fraction(max_cloud, "max_cloud")
    min_aoi_coverage = _check_fraction(min_aoi_coverage, "min_aoi_coverage")
    types = _str_list(item_types, "item_types")
    if types is None:
        raise InvalidInputError("item_types must be a non-empty list of strings such as ['PSScene']")
    instruments = _str_list(instruments, "instruments")
    asset_types = _str_list(asset_types, "asset_types")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise InvalidInputError(f"limit must be a positive int or None (no limit), got {limit!r}")

    acquired = (data_filter.date_range_filter("acquired", gte=start_dt, lt=end_dt) if end_is_day
                else data_filter.date_range_filter("acquired", gte=start_dt, lte=end_dt))
    filters = [
        data_filter.geometry_filter(shapely.geometry.mapping(geometry)),
        acquired,
        data_filter.range_filter("cloud_cover", lte=max_cloud),
        data_filter.std_quality_filter(),
        data_filter.permission_filter(),
    ]
    if instruments:
        filters.append(data_filter.string_in_filter("instrument", instruments))
    if asset_types:
        filters.append(data_filter.asset_filter(asset_types))

    with client_scope(client, api_key) as pl:
        # checked once credentials are known: the SDK may fetch its bundle spec over the network
        types = [check_item_type(t, for_orders=False) for t in types]
        rows = _search_rows(pl, types, filters, geometry, min_aoi_coverage, limit)
    logger.info("search found %d scenes over the AOI", len(rows))
    frame = gpd.GeoDataFrame(
        {c: [r[c] for r in rows] for c in SEARCH_COLUMNS if c != "geometry"},
        geometry=[r["geometry"] for r in rows],
        crs=4326,
    )
    frame["acquired"] = pd.to_datetime(frame["acquired"], utc=True, format="ISO8601")
    frame["cloud_cover"] = frame["cloud_cover"].astype(float)
    frame["clear_percent"] = frame["clear_percent"].astype(float)
    frame["aoi_coverage"] = frame["aoi_coverage"].astype(float)
    return frame.sort_values(["acquired", "id"], kind="stable").reset_index(drop=True)


def _search_rows(pl: planet.Planet, types: list[str], filters: list[dict], geometry: BaseGeometry,
                 min_aoi_coverage: float, limit: int | None) -> list[dict[str, Any]]:
    """Run the search and return one row per scene covering enough of the AOI."""
    # Areas in a Lambert azimuthal equal-area projection centred on the AOI give exact area
    # ratios; edges are densified first because GeoJSON edges are straight in lon/lat.
    centre = geometry.centroid
    to_local = pyproj.Transformer.from_crs(
        "EPSG:4326", f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m +no_defs",
        always_xy=True,
    )
    aoi_local = _to_local(np.array([geometry]), to_local)[0]
    rows: list[dict[str, Any]] = []
    with planet_errors("searching Planet scenes"):
        items = pl.data.search(types, search_filter=data_filter.and_filter(filters),
                               sort="acquired asc", limit=0)
        while limit is None or len(rows) < limit:
            # never pull more items (pages) than a limit can still use
            batch = list(itertools.islice(items, _BATCH if limit is None else min(_BATCH, limit - len(rows))))
            if not batch:
                break
            footprints = np.array([shape(item["geometry"]) for item in batch])
            covered = shapely.area(shapely.intersection(_to_local(footprints, to_local), aoi_local))
            coverage = np.minimum(covered / aoi_local.area, 1.0)
            rows += [_row(item, footprint, float(cov))
                     for item, footprint, cov in zip(batch, footprints, coverage, strict=True)
                     if cov >= min_aoi_coverage]
        if limit is not None:
            del rows[limit:]
    return rows


def _to_local(geometries: np.ndarray, transformer: pyproj.Transformer) -> np.ndarray:
    dense = shapely.segmentize(geometries, _DENSIFY_DEGREES)
    return shapely.transform(dense, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _row(item: dict, footprint: BaseGeometry, coverage: float) -> dict[str, Any]:
    props = item.get("properties", {})
    return {
        "id": item["id"],
        "acquired": props.get("acquired"),
        "item_type": props.get("item_type"),
        "instrument": props.get("instrument"),
        "cloud_cover": props.get("cloud_cover"),
        "clear_percent": props.get("clear_percent"),
        "aoi_coverage": coverage,
        "geometry": footprint,
    }
