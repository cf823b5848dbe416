"""The cropseg exception and warning tree.

Every error cropseg raises on purpose is a :class:`CropsegError`. Value problems also
subclass :class:`ValueError` and I/O problems :class:`OSError`, so callers can catch
either the cropseg class or the builtin they already expect. Messages name the argument,
the bad value and the fix.
"""

from __future__ import annotations

__all__ = [
    "CropsegError",
    "InvalidInputError",
    "MetadataError",
    "ProductError",
    "GridMismatchError",
    "CRSError",
    "GeometryError",
    "ModelError",
    "CropsegIOError",
    "SceneReadError",
    "OutputError",
    "PlanetError",
    "PlanetAuthError",
    "PlanetAPIError",
    "OrderFailedError",
    "ChecksumError",
    "CropsegWarning",
    "GeometryWarning",
    "ModelWarning",
]


class CropsegError(Exception):
    """Root of every error cropseg raises on purpose."""


class InvalidInputError(CropsegError, ValueError):
    """An argument has the wrong type, shape, dtype or value."""


class MetadataError(CropsegError, ValueError):
    """A Planet metadata file (XML or item JSON) is missing values or is not what it claims."""


class ProductError(CropsegError, ValueError):
    """The Planet product is unknown, or an operation does not fit it (e.g. coefficients on SR)."""


class GridMismatchError(CropsegError, ValueError):
    """Two rasters that must share a pixel grid (shape, transform, CRS) do not."""


class CRSError(CropsegError, ValueError):
    """A coordinate reference system is missing or cannot be understood."""


class GeometryError(CropsegError, ValueError):
    """Vector input cannot be read as geometries, or does not meet the raster."""


class ModelError(CropsegError, ValueError):
    """A model file is not a cropseg model, or does not fit the data it is applied to."""


class CropsegIOError(CropsegError, OSError):
    """Reading or writing a file failed."""


class SceneReadError(CropsegIOError):
    """A scene raster (GeoTIFF) is missing, unreadable or corrupt."""


class OutputError(CropsegIOError):
    """An output cannot be written (folder missing or not writable)."""


class PlanetError(CropsegError):
    """A Planet API call failed; the server's text is kept in the message."""


class PlanetAuthError(PlanetError):
    """No Planet credentials were found, or the server refused them."""


class PlanetAPIError(PlanetError):
    """The Planet API answered with an error status.

    Attributes
    ----------
    status : int or None
        The HTTP status code when known.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OrderFailedError(PlanetError):
    """A Planet order ended ``failed`` or ``cancelled``, or did not finish in time."""


class ChecksumError(PlanetError, OSError):
    """A downloaded file does not match the digest in the order's manifest."""


class CropsegWarning(UserWarning):
    """Root of the warnings cropseg emits."""


class GeometryWarning(CropsegWarning):
    """Geometries were repaired, skipped, or fell outside the raster."""


class ModelWarning(CropsegWarning):
    """A model is applied in a setting that differs from its training (e.g. library versions)."""
