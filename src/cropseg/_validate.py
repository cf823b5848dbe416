"""Small shared guards used by the public functions before any work starts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError as _RioCRSError

from cropseg.errors import CRSError, InvalidInputError


def check_option(name: str, value: Any, options: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``options``, else raise one clear error."""
    options = tuple(options)
    if value not in options:
        raise InvalidInputError(
            f"{value!r} is not a valid option for {name!r}, must be one of "
            + ", ".join(repr(o) for o in options)
        )
    return value


def as_transform(transform: Any, name: str = "transform") -> Affine:
    """Return ``transform`` as an :class:`affine.Affine` (also from a 6- or 9-tuple) or raise."""
    if isinstance(transform, Affine):
        out = transform
    elif isinstance(transform, (tuple, list)) and len(transform) in (6, 9):
        out = Affine(*transform[:6])
    else:
        raise InvalidInputError(
            f"{name} must be an affine.Affine (e.g. rasterio's dataset.transform), "
            f"got {type(transform).__name__}: {transform!r}"
        )
    if out.is_degenerate:
        raise InvalidInputError(f"{name} {out!r} is degenerate (zero pixel size); pass a valid Affine")
    return out


def as_crs(crs: Any, name: str = "crs") -> CRS:
    """Return ``crs`` as a :class:`rasterio.crs.CRS` from anything ``CRS.from_user_input`` takes."""
    if crs is None:
        raise CRSError(f"{name} is missing; pass a CRS such as 'EPSG:32610'")
    try:
        return CRS.from_user_input(crs)
    except (_RioCRSError, TypeError, ValueError) as exc:
        raise CRSError(f"{name} {crs!r} is not a valid CRS ({exc}); pass e.g. 'EPSG:32610'") from exc


def as_shape(shape: Any, name: str = "shape") -> tuple[int, int]:
    """Return a ``(rows, cols)`` tuple of positive ints or raise."""
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be (rows, cols), got {shape!r}") from exc
    if rows <= 0 or cols <= 0:
        raise InvalidInputError(f"{name} must be positive (rows, cols), got {shape!r}")
    return rows, cols


def check_ndim(array: np.ndarray, ndims: tuple[int, ...], name: str) -> None:
    """Raise unless ``array.ndim`` is one of ``ndims``."""
    if array.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise InvalidInputError(f"{name} must be {want}, got a {array.ndim}-D array of shape {array.shape}")
