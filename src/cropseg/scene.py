"""Planet scenes: the :class:`Scene` container and reading Planet GeoTIFFs with rasterio."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

logger = logging.getLogger(__name__)

__all__ = ["Scene"]


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
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))
