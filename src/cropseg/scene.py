"""Planet scenes: the :class:`Scene` container and reading Planet GeoTIFFs with rasterio."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from cropseg._core.reflectance import apply_valid
from cropseg.errors import GridMismatchError, InvalidInputError, ProductError, SceneReadError
from cropseg.reflectance import (
    Product,
    SceneMetadata,
    detect_product,
    normalize_product,
    read_metadata,
    to_reflectance,
    udm2_mask,
)
from cropseg.types import PathLike

logger = logging.getLogger(__name__)

__all__ = ["Scene", "read_scene", "find_siblings", "iter_windows", "as_window"]


@dataclass(frozen=True, eq=False)
class Scene:
    """A Planet scene (or a window of one) as reflectance on its pixel grid.

    Attributes
    ----------
    reflectance : ndarray of float32, shape (bands, rows, cols)
        Top-of-atmosphere or surface reflectance, already converted (never convert twice).
        Invalid pixels hold ``nan``.
    valid : ndarray of bool, shape (rows, cols)
        True where the pixel is usable (DN not nodata and, when a UDM2 was given, clear).
    transform : affine.Affine
        Pixel-to-map transform of this array (of the window when read with ``window=``).
    crs : rasterio.crs.CRS
        The scene's coordinate reference system.
    band_names : tuple of str
        Names of the bands in ``reflectance`` order, e.g. ``("blue", "green", "red", "nir")``.
    product : str
        The Planet product the pixels came from, e.g. ``"analytic"`` or ``"analytic_sr"``.
    item_id : str or None
        The Planet item id, e.g. ``"20160831_180231_0e0e"``.
    metadata : object or None
        The parsed :class:`cropseg.reflectance.SceneMetadata` when one was read.
    """

    reflectance: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    transform: Affine
    crs: CRS
    band_names: tuple[str, ...]
    product: str
    item_id: str | None = None
    metadata: object | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the pixel grid."""
        return (int(self.reflectance.shape[1]), int(self.reflectance.shape[2]))

    @property
    def count(self) -> int:
        """Number of bands."""
        return int(self.reflectance.shape[0])

    @property
    def height(self) -> int:
        """Number of rows."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.shape[1]

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units, both positive."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units (north-up grids)."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))


_ANALYTIC = ("_AnalyticMS_SR", "_AnalyticMS_8b_SR", "_AnalyticMS_8b", "_AnalyticMS", "_Analytic")


def find_siblings(path: PathLike) -> tuple[Path | None, Path | None]:
    """Find a Planet analytic GeoTIFF's metadata XML and UDM2 beside it, by Planet's naming.

    ``<item>_3B_AnalyticMS[_SR][_8b][_harmonized][_clip].tif`` has
    ``<item>_3B_AnalyticMS[_8b]_metadata[_clip].xml`` and ``<item>_3B_udm2[_clip].tif`` beside it.
    Returns ``(metadata, udm2)``, each None when absent.
    """
    p = Path(os.fspath(path))
    stem = p.stem
    clip = "_clip" if stem.endswith("_clip") else ""
    for marker in _ANALYTIC:
        at = stem.find(marker)
        if at < 0:
            continue
        prefix = stem[:at]
        eight = "_8b" if "_8b" in stem[at:] else ""
        xml_names = [f"{prefix}_AnalyticMS{eight}_metadata{clip}.xml", f"{prefix}_AnalyticMS{eight}_metadata.xml"]
        udm_names = [f"{prefix}_udm2{clip}.tif", f"{prefix}_udm2.tif"]
        xml = next((p.parent / n for n in xml_names if (p.parent / n).is_file()), None)
        udm = next((p.parent / n for n in udm_names if (p.parent / n).is_file()), None)
        return xml, udm
    return None, None


def as_window(window: Any, shape: tuple[int, int] | None = None) -> Window:
    """Return a rasterio Window from a Window or ``((row_start, row_stop), (col_start, col_stop))``."""
    if isinstance(window, Window):
        win = window
    else:
        try:
            (r0, r1), (c0, c1) = window
            win = Window.from_slices((int(r0), int(r1)), (int(c0), int(c1)))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"window must be a rasterio Window or ((row_start, row_stop), (col_start, col_stop)), "
                f"got {window!r}"
            ) from exc
    if win.width <= 0 or win.height <= 0 or win.col_off < 0 or win.row_off < 0:
        raise InvalidInputError(f"window {window!r} is empty or starts before the image")
    if shape is not None and (win.row_off + win.height > shape[0] or win.col_off + win.width > shape[1]):
        raise InvalidInputError(f"window {window!r} reaches past the image of shape {shape}")
    return win.round_offsets().round_lengths()


def _band_numbers(bands: Sequence[int | str] | None, product: Product) -> tuple[int, ...]:
    if bands is None:
        return tuple(range(1, len(product.band_names) + 1))
    out = []
    for band in bands:
        if isinstance(band, str):
            if band not in product.band_names:
                raise InvalidInputError(
                    f"band {band!r} is not in {product.name} ({', '.join(product.band_names)})"
                )
            out.append(product.band_names.index(band) + 1)
        elif isinstance(band, (int, np.integer)) and 1 <= band <= len(product.band_names):
            out.append(int(band))
        else:
            raise InvalidInputError(
                f"band {band!r} must be a 1-based band number up to {len(product.band_names)} or a name"
            )
    if len(set(out)) != len(out):
        raise InvalidInputError(f"bands {list(bands)!r} repeats a band")
    return tuple(out)


def read_scene(
    path: PathLike,
    *,
    metadata: PathLike | SceneMetadata | None = None,
    udm: PathLike | None = None,
    window: Any = None,
    bands: Sequence[int | str] | None = None,
    product: str | None = None,
    min_confidence: int | None = None,
) -> Scene:
    """Read a Planet analytic GeoTIFF (or a window of it) as reflectance.

    Parameters
    ----------
    path : str or os.PathLike
        ``*_AnalyticMS[_SR][_8b][_clip].tif``.
    metadata : path or SceneMetadata, optional
        The scene's metadata XML; found beside ``path`` by Planet naming when not given. Required for
        radiance products, ignored (never applied) for surface reflectance.
    udm : path, optional
        The scene's UDM2; found beside ``path`` when not given. Without one, only DN 0 is invalid.
    window : rasterio Window or ((row_start, row_stop), (col_start, col_stop)), optional
        Read only this window. The result equals the same slice of a whole read.
    bands : sequence of int or str, optional
        1-based band numbers or names (e.g. ``("red", "nir")``); default all.
    product : str, optional
        Planet product name; detected from the file when not given.
    min_confidence : int, optional
        Minimum UDM2 confidence for a valid pixel.

    Returns
    -------
    Scene
        Reflectance float32 ``(bands, rows, cols)`` with ``nan`` where invalid, and the valid mask.

    Notes
    -----
    Memory: the DNs of the window plus 4 bytes per band and pixel for reflectance.

    Examples
    --------
    >>> from cropseg.datasets import sacramento
    >>> scene = read_scene(sacramento("train").scene, window=((0, 64), (0, 128)))
    >>> scene.reflectance.shape, scene.band_names
    ((4, 64, 128), ('blue', 'green', 'red', 'nir'))
    """
    p = Path(os.fspath(path))
    if not p.is_file():
        raise SceneReadError(f"scene {str(p)!r} does not exist; pass the path of a Planet analytic GeoTIFF")
    prod = normalize_product(product) if product is not None else detect_product(p)
    found_xml, found_udm = find_siblings(p)
    meta: SceneMetadata | None
    if isinstance(metadata, SceneMetadata):
        meta = metadata
    elif metadata is not None:
        meta = read_metadata(metadata)
    elif found_xml is not None and not prod.surface_reflectance:
        meta = read_metadata(found_xml)
    else:
        meta = None
    if not prod.surface_reflectance and meta is None:
        raise ProductError(
            f"{p.name} is a radiance product ({prod.name}) and no *_metadata.xml was found beside it; "
            "pass metadata= with the scene's metadata XML"
        )
    udm_path = Path(os.fspath(udm)) if udm is not None else found_udm
    band_numbers = _band_numbers(bands, prod)
    try:
        with rasterio.open(p) as ds:
            if ds.count != len(prod.band_names):
                raise ProductError(
                    f"{p.name} has {ds.count} bands but product {prod.name} has {len(prod.band_names)}"
                )
            if ds.crs is None:
                raise SceneReadError(f"{p}: the GeoTIFF has no CRS; it is not a Planet ortho product")
            win = as_window(window, (ds.height, ds.width)) if window is not None else None
            dn = ds.read(list(band_numbers), window=win)
            transform = ds.window_transform(win) if win is not None else ds.transform
            crs = ds.crs
            grid = (ds.height, ds.width, ds.transform, ds.crs)
    except rasterio.RasterioIOError as exc:
        raise SceneReadError(f"scene {str(p)!r} cannot be read ({exc}); is it a complete GeoTIFF?") from exc
    reflectance = to_reflectance(
        dn, None if prod.surface_reflectance else meta, product=prod, bands=band_numbers
    )
    valid = np.ones(reflectance.shape[1:], dtype=np.bool_)
    if udm_path is not None:
        try:
            with rasterio.open(udm_path) as uds:
                if (uds.height, uds.width, uds.transform, uds.crs) != grid:
                    raise GridMismatchError(
                        f"UDM2 {udm_path.name} is {uds.height}x{uds.width} at {tuple(uds.transform)[:6]} "
                        f"but the scene is {grid[0]}x{grid[1]} at {tuple(grid[2])[:6]}; pass the UDM2 "
                        "delivered with this scene"
                    )
        except rasterio.RasterioIOError as exc:
            raise SceneReadError(f"UDM2 {str(udm_path)!r} cannot be read ({exc})") from exc
        valid = udm2_mask(udm_path, min_confidence=min_confidence, window=win)
    apply_valid(reflectance, valid)  # invalid where any band is nan or the UDM2 says so; nan in every band
    names = tuple(prod.band_names[b - 1] for b in band_numbers)
    item_id = meta.item_id if meta is not None else p.stem.split("_3B_")[0]
    logger.debug("read %s window=%s bands=%s", p.name, win, names)
    return Scene(reflectance, valid, transform, crs, names, prod.name, item_id, meta)


def iter_windows(
    shape: tuple[int, int], *, tile_size: int, overlap: int = 0
) -> Iterator[tuple[Window, Window]]:
    """Tile a ``(rows, cols)`` grid: yield ``(core, padded)`` windows in raster order.

    The core windows cover the grid exactly once; each padded window extends its core by ``overlap``
    pixels on every side, clipped to the grid (a halo for filters).

    Examples
    --------
    >>> [(c.row_off, c.col_off, p.height, p.width) for c, p in iter_windows((5, 4), tile_size=3, overlap=1)]
    [(0, 0, 4, 4), (0, 3, 4, 2), (3, 0, 3, 4), (3, 3, 3, 2)]
    """
    rows, cols = (int(v) for v in shape)
    if not isinstance(tile_size, (int, np.integer)) or tile_size < 1:
        raise InvalidInputError(f"tile_size must be a positive int, got {tile_size!r}")
    if not isinstance(overlap, (int, np.integer)) or overlap < 0:
        raise InvalidInputError(f"overlap must be an int >= 0, got {overlap!r}")
    for r0 in range(0, rows, tile_size):
        for c0 in range(0, cols, tile_size):
            r1, c1 = min(r0 + tile_size, rows), min(c0 + tile_size, cols)
            pr0, pc0 = max(r0 - overlap, 0), max(c0 - overlap, 0)
            pr1, pc1 = min(r1 + overlap, rows), min(c1 + overlap, cols)
            yield (
                Window(c0, r0, c1 - c0, r1 - r0),
                Window(pc0, pr0, pc1 - pc0, pr1 - pr0),
            )
