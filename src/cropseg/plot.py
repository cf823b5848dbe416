"""Pictures for checking data by eye: RGB composites, ground-truth contour overlays, saved atomically.

Everything draws on a :class:`matplotlib.figure.Figure` with the Agg canvas, never through ``pyplot``,
so no global figure state is created or leaked (safe in scripts, servers and dask workers). Other
modules that draw pictures save them with :func:`save_figure`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from cropseg._io import atomic_path, check_output_path
from cropseg.errors import InvalidInputError
from cropseg.labels import label_contours
from cropseg.scene import Scene
from cropseg.types import PathLike

logger = logging.getLogger(__name__)

__all__ = ["rgb_composite", "plot_overlay", "plot_class_map", "save_figure"]

_RGB_NAMES = ("red", "green", "blue")


def save_figure(fig: Figure, path: PathLike, *, dpi: float | None = None) -> Path:
    """Save a matplotlib figure atomically, in the format named by the file's suffix.

    The figure is written to a temporary file beside ``path`` and moved into place, so an interrupted
    save never leaves a half-written picture under the final name.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (made with ``Figure(...)``, not ``pyplot``).
    path : str or os.PathLike
        Target file; its suffix picks the format (``.png``, ``.pdf``, ``.svg``, ...).
    dpi : float, optional
        Resolution; the figure's own when not given.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InvalidInputError
        If ``fig`` is not a Figure or the suffix is not a format matplotlib writes.
    OutputError
        If the folder does not exist or is not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(1, 1))
    >>> _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> out = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line.png")
    >>> out.read_bytes()[1:4]
    b'PNG'
    """
    if not isinstance(fig, Figure):
        raise InvalidInputError(f"fig must be a matplotlib.figure.Figure, got {type(fig).__name__}")
    out = check_output_path(path)
    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) else fig.canvas
    fmt = out.suffix.lower().lstrip(".")
    supported = canvas.get_supported_filetypes()
    if fmt not in supported:
        raise InvalidInputError(
            f"path {str(out)!r} has suffix {out.suffix!r}; use one of "
            + ", ".join(f".{k}" for k in sorted(supported))
        )
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi="figure" if dpi is None else dpi)
    logger.debug("saved figure to %s", out)
    return out


def _band_indices(scene: Scene, bands: Sequence[str | int] | None) -> list[int]:
    """Resolve the three bands to show as red, green, blue."""
    names = [str(n).lower() for n in scene.band_names]
    wanted: Sequence[str | int] = _RGB_NAMES if bands is None else bands
    if isinstance(wanted, str) or len(wanted) != 3:
        raise InvalidInputError(
            f"bands must be three band names or indices (red, green, blue), got {bands!r}"
        )
    out = []
    for band in wanted:
        if isinstance(band, (int, np.integer)) and not isinstance(band, bool):
            if not 0 <= band < scene.count:
                raise InvalidInputError(f"band index {band} is out of range for a {scene.count}-band scene")
            out.append(int(band))
        elif isinstance(band, str) and band.lower() in names:
            out.append(names.index(band.lower()))
        else:
            raise InvalidInputError(
                f"band {band!r} is not in the scene's bands {list(scene.band_names)}; pass bands= with three "
                "of those names or indices"
            )
    return out


def rgb_composite(
    scene: Scene,
    *,
    bands: Sequence[str | int] | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> npt.NDArray[np.float32]:
    """Make a display RGB image from a scene with a per-band percentile stretch.

    Each band is mapped linearly so that its ``percentiles[0]`` value (over valid pixels) becomes 0 and
    its ``percentiles[1]`` value becomes 1, then clipped to [0, 1]. Invalid pixels are black.

    Parameters
    ----------
    scene : Scene
        The scene to show.
    bands : sequence of three str or int, optional
        Bands shown as red, green and blue, by name (case-insensitive) or index. Default
        ``("red", "green", "blue")``; for false colour use e.g. ``("nir", "red", "green")``.
    percentiles : tuple of float, default (2, 98)
        Low and high percentiles of the stretch, ``0 <= low < high <= 100``.

    Returns
    -------
    ndarray of float32, shape (rows, cols, 3)
        RGB values in [0, 1], ready for ``Axes.imshow``.

    Raises
    ------
    InvalidInputError
        If ``scene`` is not a Scene, the bands are not found, or the percentiles are out of order.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from rasterio.crs import CRS
    >>> from cropseg.scene import Scene
    >>> refl = np.stack([np.full((2, 2), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)])
    >>> refl[:, 0, 0] = 0.0
    >>> scene = Scene(reflectance=refl, valid=np.ones((2, 2), bool), transform=Affine(3, 0, 0, 0, -3, 0),
    ...               crs=CRS.from_epsg(32610), band_names=("blue", "green", "red", "nir"),
    ...               product="analytic")
    >>> rgb_composite(scene, percentiles=(0, 100))[:, :, 0]  # red: 0.0 -> 0, 0.3 -> 1
    array([[0., 1.],
           [1., 1.]], dtype=float32)
    """
    if not isinstance(scene, Scene):
        raise InvalidInputError(f"scene must be a cropseg Scene, got {type(scene).__name__}")
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"percentiles must be two numbers (low, high), got {percentiles!r}") from exc
    if not 0.0 <= low < high <= 100.0:
        raise InvalidInputError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    index = _band_indices(scene, bands)
    rgb = np.zeros((*scene.shape, 3), dtype=np.float32)
    for channel, band in enumerate(index):
        data = scene.reflectance[band]
        usable = scene.valid & np.isfinite(data)
        if not usable.any():
            continue
        lo, hi = np.percentile(data[usable], [low, high])
        scale = 1.0 / (hi - lo) if hi > lo else 0.0
        rgb[..., channel] = np.where(usable, np.clip((data - lo) * scale, 0.0, 1.0), 0.0)
    return rgb


def _is_contours(obj: Any) -> bool:
    """Whether ``obj`` is a ``(contours, hierarchy)`` pair as :func:`label_contours` returns."""
    return (
        isinstance(obj, tuple)
        and len(obj) == 2
        and isinstance(obj[1], np.ndarray)
        and obj[1].ndim == 3
        and obj[1].shape[-1] == 4
        and isinstance(obj[0], (list, tuple))
    )


def plot_overlay(
    scene: Scene,
    contours_or_gt: Any,
    path: PathLike,
    *,
    bands: Sequence[str | int] | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    color: Any = "yellow",
    hole_color: Any = "cyan",
    linewidth: float = 1.0,
    title: str | None = None,
    scale: float = 1.0,
    dpi: float = 100.0,
) -> Path:
    """Draw ground-truth contours over an RGB composite of a scene and save it as a PNG.

    The notebook's visual check: do the field outlines sit on the fields in the imagery?

    Parameters
    ----------
    scene : Scene
        The imagery.
    contours_or_gt : tuple or ground truth
        Either the ``(contours, hierarchy)`` pair from :func:`cropseg.labels.label_contours` on this
        scene's grid, or ground truth in any form :func:`cropseg.labels.read_ground_truth` reads (its
        contours are computed with ``like=scene``).
    path : str or os.PathLike
        Output picture, written atomically (the suffix picks the format; ``.png`` is usual).
    bands, percentiles
        As for :func:`rgb_composite`.
    color, hole_color : matplotlib colour
        Colours of exterior rings and of holes.
    linewidth : float, default 1.0
        Line width in points.
    title : str, optional
        Title above the image.
    scale : float, default 1.0
        Picture pixels per scene pixel (at ``dpi``).
    dpi : float, default 100
        Resolution of the saved picture.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InvalidInputError
        If the scene, bands, percentiles, contours or sizes are not valid.
    OutputError
        If the folder does not exist or is not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from affine import Affine
    >>> from rasterio.crs import CRS
    >>> from shapely.geometry import box
    >>> from cropseg.labels import read_ground_truth
    >>> from cropseg.scene import Scene
    >>> refl = np.random.default_rng(0).random((4, 20, 30), dtype=np.float32)
    >>> scene = Scene(reflectance=refl, valid=np.ones((20, 30), bool), transform=Affine(3, 0, 0, 0, -3, 60),
    ...               crs=CRS.from_epsg(32610), band_names=("blue", "green", "red", "nir"),
    ...               product="analytic")
    >>> gt = read_ground_truth([box(9, 15, 45, 45)], crs="EPSG:32610")
    >>> out = plot_overlay(scene, gt, pathlib.Path(tempfile.mkdtemp()) / "overlay.png")
    >>> out.suffix
    '.png'
    """
    rgb = rgb_composite(scene, bands=bands, percentiles=percentiles)
    if _is_contours(contours_or_gt):
        contours, hierarchy = contours_or_gt
        if hierarchy.shape != (1, len(contours), 4):
            raise InvalidInputError(
                f"hierarchy has shape {hierarchy.shape} for {len(contours)} contours; pass the pair that "
                "label_contours returned"
            )
    else:
        contours, hierarchy = label_contours(contours_or_gt, like=scene)
    for name, value in (("linewidth", linewidth), ("scale", scale), ("dpi", dpi)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
    try:
        edge_rgba, hole_rgba = to_rgba(color), to_rgba(hole_color)
    except ValueError as exc:
        raise InvalidInputError(f"color / hole_color is not a matplotlib colour: {exc}") from exc

    rows, cols = scene.shape
    header = 0.4 if title else 0.0
    fig = Figure(figsize=(cols * scale / dpi, rows * scale / dpi + header), dpi=dpi)
    FigureCanvasAgg(fig)
    height = rows * scale / dpi
    ax = fig.add_axes((0.0, 0.0, 1.0, height / (height + header)))
    ax.imshow(rgb, extent=(0, cols, rows, 0), interpolation="nearest")
    is_hole = hierarchy[0, :, 3] >= 0 if len(contours) else np.zeros(0, bool)
    segments = [np.asarray(c, dtype=float).reshape(-1, 2) for c in contours]
    colors = [hole_rgba if h else edge_rgba for h in is_hole]
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=linewidth))
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_axis_off()
    if title:
        fig.suptitle(title, y=1.0 - 0.05 * header / (height + header), va="top")
    return save_figure(fig, path)



_CLASS_STYLES = {
    "prediction": ({0: ("#d9c89e", "non-crop"), 1: ("#2e7d32", "crop")}, "Predicted crop / non-crop"),
    "disagreement": (
        {0: ("#e0e0e0", "agreement"), 1: ("#e65100", "false crop"), 2: ("#1565c0", "missed crop")},
        "Prediction against ground truth",
    ),
}


def plot_class_map(
    class_map: npt.ArrayLike,
    path: PathLike,
    *,
    kind: str = "prediction",
    nodata: int = 255,
    title: str | None = None,
    dpi: float = 100.0,
) -> Path:
    """Save a class map (``kind="prediction"``) or a disagreement map (``kind="disagreement"``) as a PNG.

    Nodata pixels are drawn white; a legend names each class.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "classes.png"
    >>> plot_class_map(np.array([[0, 1], [1, 255]], dtype=np.uint8), out).name
    'classes.png'
    """
    from matplotlib.patches import Patch

    if kind not in _CLASS_STYLES:
        raise InvalidInputError(f"{kind!r} is not a valid option for 'kind', must be one of {list(_CLASS_STYLES)}")
    array = np.asarray(class_map)
    if array.ndim != 2:
        raise InvalidInputError(f"class_map must be 2-D, got shape {array.shape}")
    styles, default_title = _CLASS_STYLES[kind]
    rgb = np.ones((*array.shape, 3), dtype=np.float32)
    for value, (colour, _) in styles.items():
        rgb[array == value] = to_rgba(colour)[:3]
    rgb[array == nodata] = 1.0
    height, width = array.shape
    fig = Figure(figsize=(max(4.0, width / dpi), max(3.0, height / dpi) + 0.6), dpi=dpi)
    ax = fig.add_subplot()
    ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or default_title)
    handles = [Patch(color=c, label=f"{name} ({np.count_nonzero(array == v):,} px)") for v, (c, name) in styles.items()]
    ax.legend(
        handles=handles,
        loc="lower right",
        fontsize="small",
    )
    return save_figure(fig, path)
