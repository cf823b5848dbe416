"""Rasters to training tables and back: the only place pixels become rows of ``X``.

``to_samples`` turns a :class:`~cropseg.scene.Scene` and a label raster into ``(X, y)`` for
scikit-learn, keeping only valid, labelled pixels (optionally a stratified random subset);
``from_predictions`` puts a prediction vector back on the pixel grid; ``spatial_blocks`` gives a
block id per pixel for spatially grouped cross-validation (``GroupKFold``), so that neighbouring,
strongly correlated pixels never sit on both sides of a split.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.utils import check_random_state

from cropseg._validate import as_shape, check_ndim
from cropseg.errors import GridMismatchError, InvalidInputError
from cropseg.scene import Scene
from cropseg.types import NODATA

logger = logging.getLogger(__name__)

__all__ = ["to_samples", "from_predictions", "spatial_blocks"]


def _check_class_values(values: np.ndarray, name: str) -> npt.NDArray[np.uint8]:
    """Return integer class values as uint8, refusing floats, bools and values outside 0..255."""
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise InvalidInputError(
            f"{name} must hold integer class codes (CROP=1, NON_CROP=0, NODATA=255), got dtype {values.dtype}"
        )
    if values.size and (values.min() < 0 or values.max() > 255):
        raise InvalidInputError(
            f"{name} holds values outside 0..255 (min {values.min()}, max {values.max()}); "
            "class maps are uint8 with CROP=1, NON_CROP=0, NODATA=255"
        )
    return values.astype(np.uint8, copy=False)


def _stratified_take(
    y: npt.NDArray[np.uint8], n_take: int, rng: np.random.RandomState
) -> npt.NDArray[np.intp]:
    """Pick ``n_take`` indices of ``y`` so each class keeps its share (largest-remainder rounding)."""
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * (n_take / y.size)
    take = np.floor(quota).astype(np.int64)
    short = n_take - int(take.sum())
    if short:
        # Give the leftover samples to the classes with the largest fractional parts (ties: larger class).
        order = np.lexsort((-counts, -(quota - take)))
        take[order[:short]] += 1
    picked = [
        rng.choice(np.flatnonzero(y == cls), size=int(k), replace=False)
        for cls, k in zip(classes, take, strict=True)
        if k
    ]
    return np.concatenate(picked)


def to_samples(
    scene: Scene,
    labels: npt.ArrayLike,
    *,
    max_samples: int | None = None,
    stratify: bool = True,
    random_state: int | np.random.RandomState | None = None,
    return_index: bool = False,
) -> tuple[Any, ...]:
    """Turn a scene and its label raster into a scikit-learn sample matrix.

    Only pixels that are valid in the scene (``scene.valid`` and finite in every band) and labelled
    (``labels != NODATA``) become samples. Samples come in raster (row-major) order; a random subset,
    when ``max_samples`` asks for one, is also returned in raster order.

    Parameters
    ----------
    scene : Scene
        The reflectance to sample, shape ``(bands, rows, cols)``.
    labels : array_like of int, shape (rows, cols)
        Class codes on the scene's grid, e.g. from :func:`cropseg.labels.rasterize_labels`
        (``CROP = 1``, ``NON_CROP = 0``, ``NODATA = 255`` for unlabelled).
    max_samples : int, optional
        Keep at most this many samples, drawn at random without replacement. ``None`` keeps all.
    stratify : bool, default True
        When subsampling, keep each class's share of the samples (largest-remainder rounding), so a
        rare class is not lost by chance. ``False`` draws uniformly over all samples.
    random_state : int, numpy.random.RandomState or None
        Seed for the subsampling, as in scikit-learn.
    return_index : bool, default False
        Also return the ``(rows, cols)`` pixel position of every sample, e.g. to look up
        :func:`spatial_blocks` groups.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, bands)
        Reflectance per sample, C-contiguous.
    y : ndarray of uint8, shape (n_samples,)
        Class code per sample.
    index : tuple of two ndarray of intp, shape (n_samples,)
        ``(rows, cols)`` of each sample; only when ``return_index=True``.

    Raises
    ------
    InvalidInputError
        If ``scene`` is not a Scene, ``labels`` is not an integer 2-D array, ``max_samples`` is not a
        positive int, or no pixel is both valid and labelled.
    GridMismatchError
        If ``labels`` does not have the scene's ``(rows, cols)`` shape.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from rasterio.crs import CRS
    >>> from cropseg.scene import Scene
    >>> refl = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    >>> valid = np.array([[True, True, False], [True, True, True]])
    >>> scene = Scene(reflectance=refl, valid=valid, transform=Affine(3, 0, 0, 0, -3, 0),
    ...               crs=CRS.from_epsg(32610), band_names=("red", "nir"), product="analytic")
    >>> labels = np.array([[1, 0, 1], [255, 1, 0]], dtype=np.uint8)
    >>> X, y = to_samples(scene, labels)
    >>> X
    array([[ 0.,  6.],
           [ 1.,  7.],
           [ 4., 10.],
           [ 5., 11.]], dtype=float32)
    >>> y
    array([1, 0, 1, 0], dtype=uint8)
    >>> X, y, (rows, cols) = to_samples(scene, labels, max_samples=2, random_state=0, return_index=True)
    >>> sorted(y.tolist())  # one of each class: the 50/50 split is kept
    [0, 1]
    """
    if not isinstance(scene, Scene):
        raise InvalidInputError(
            f"scene must be a cropseg.scene.Scene (e.g. from read_scene), got {type(scene).__name__}"
        )
    labels = np.asarray(labels)
    check_ndim(labels, (2,), "labels")
    if labels.shape != scene.shape:
        raise GridMismatchError(
            f"labels has shape {labels.shape} but the scene is {scene.shape} (rows, cols); "
            "rasterize the labels on the scene's grid, e.g. rasterize_labels(gt, like=scene)"
        )
    labels = _check_class_values(labels, "labels")
    if max_samples is not None:
        if isinstance(max_samples, bool) or not isinstance(max_samples, (int, np.integer)) or max_samples < 1:
            raise InvalidInputError(f"max_samples must be a positive int or None, got {max_samples!r}")
    rng = check_random_state(random_state)

    mask = scene.valid & (labels != NODATA)
    mask &= np.isfinite(scene.reflectance).all(axis=0)
    rows, cols = np.nonzero(mask)
    y = labels[rows, cols]
    if y.size == 0:
        raise InvalidInputError(
            "no pixel is both valid in the scene and labelled (labels != NODATA); check that the ground "
            "truth overlaps the scene and that scene.valid is not all False"
        )
    if max_samples is not None and max_samples < y.size:
        if stratify:
            keep = _stratified_take(y, int(max_samples), rng)
        else:
            keep = rng.choice(y.size, size=int(max_samples), replace=False)
        keep.sort()
        rows, cols, y = rows[keep], cols[keep], y[keep]
    X = np.ascontiguousarray(scene.reflectance[:, rows, cols].T, dtype=np.float32)
    logger.debug("to_samples: %d samples x %d bands", X.shape[0], X.shape[1])
    if return_index:
        return X, y, (rows, cols)
    return X, y


def from_predictions(y: npt.ArrayLike, valid_mask: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Put a prediction vector back on the pixel grid.

    ``y`` holds one class code per True pixel of ``valid_mask``, in raster (row-major) order, which
    is the order :func:`to_samples` (without subsampling) and ``reflectance[:, mask].T`` produce.

    Parameters
    ----------
    y : array_like of int, shape (n,)
        Predicted class codes (``CROP = 1``, ``NON_CROP = 0``), ``n == valid_mask.sum()``.
    valid_mask : array_like of bool, shape (rows, cols)
        Where the predictions go.

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        The class map, ``NODATA = 255`` where ``valid_mask`` is False.

    Raises
    ------
    InvalidInputError
        If ``valid_mask`` is not a 2-D bool array, ``y`` is not a 1-D integer vector of codes in
        0..255, or its length differs from the number of True pixels.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[True, False], [True, True]])
    >>> from_predictions(np.array([1, 0, 1]), mask)
    array([[  1, 255],
           [  0,   1]], dtype=uint8)
    """
    valid_mask = np.asarray(valid_mask)
    check_ndim(valid_mask, (2,), "valid_mask")
    if valid_mask.dtype != np.bool_:
        raise InvalidInputError(
            f"valid_mask must be a bool array (True where predicted), got dtype {valid_mask.dtype}; "
            "pass e.g. scene.valid"
        )
    y = np.asarray(y)
    check_ndim(y, (1,), "y")
    n_valid = int(np.count_nonzero(valid_mask))
    if y.size != n_valid:
        raise InvalidInputError(
            f"y has {y.size} predictions but valid_mask has {n_valid} True pixels; predict exactly the "
            "pixels of valid_mask, in row-major order"
        )
    y = _check_class_values(y, "y")
    out = np.full(valid_mask.shape, NODATA, dtype=np.uint8)
    out[valid_mask] = y
    return out


def spatial_blocks(shape: tuple[int, int], block_size: int | tuple[int, int]) -> npt.NDArray[np.int32]:
    """Give every pixel the id of the square (or rectangular) block it falls in.

    Blocks tile the grid from the top-left corner, row by row; edge blocks may be smaller. Use the ids
    as ``groups`` in scikit-learn's ``GroupKFold`` for spatially blocked cross-validation.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the grid, e.g. ``scene.shape``.
    block_size : int or tuple of int
        Block side in pixels, or ``(block_rows, block_cols)``.

    Returns
    -------
    ndarray of int32, shape (rows, cols)
        Block id ``(row // block_rows) * n_block_cols + col // block_cols``.

    Raises
    ------
    InvalidInputError
        If ``shape`` or ``block_size`` is not positive.

    Examples
    --------
    >>> spatial_blocks((3, 5), 2)
    array([[0, 0, 1, 1, 2],
           [0, 0, 1, 1, 2],
           [3, 3, 4, 4, 5]], dtype=int32)
    """
    rows, cols = as_shape(shape, "shape")
    if isinstance(block_size, (int, np.integer)) and not isinstance(block_size, bool):
        block_size = (int(block_size), int(block_size))
    try:
        block_rows, block_cols = as_shape(block_size, "block_size")
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"block_size must be a positive int or (block_rows, block_cols), got {block_size!r}"
        ) from exc
    n_block_cols = -(-cols // block_cols)
    n_blocks = -(-rows // block_rows) * n_block_cols
    if n_blocks > np.iinfo(np.int32).max:
        raise InvalidInputError(f"block_size {block_size!r} gives {n_blocks} blocks, more than int32 holds")
    row_ids = (np.arange(rows, dtype=np.int32) // block_rows) * np.int32(n_block_cols)
    col_ids = np.arange(cols, dtype=np.int32) // block_cols
    return row_ids[:, None] + col_ids[None, :]
