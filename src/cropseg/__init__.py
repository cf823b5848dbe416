"""cropseg: crop / non-crop segmentation of Planet scenes into class maps and field boundaries."""

from __future__ import annotations

import logging

from cropseg.errors import (
    ChecksumError,
    CropsegError,
    CropsegIOError,
    CropsegWarning,
    CRSError,
    GeometryError,
    GeometryWarning,
    GridMismatchError,
    InvalidInputError,
    MetadataError,
    ModelError,
    ModelWarning,
    OrderFailedError,
    OutputError,
    PlanetAPIError,
    PlanetAuthError,
    PlanetError,
    ProductError,
    SceneReadError,
)
from cropseg.scene import Scene
from cropseg.types import CROP, NODATA, NON_CROP

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "CROP",
    "NON_CROP",
    "NODATA",
    "Scene",
    "ChecksumError",
    "CropsegError",
    "CropsegIOError",
    "CropsegWarning",
    "CRSError",
    "GeometryError",
    "GeometryWarning",
    "GridMismatchError",
    "InvalidInputError",
    "MetadataError",
    "ModelError",
    "ModelWarning",
    "OrderFailedError",
    "OutputError",
    "PlanetAPIError",
    "PlanetAuthError",
    "PlanetError",
    "ProductError",
    "SceneReadError",
]
