"""Evaluation: classification_report for crop / non-crop, confusion matrix, IoU, kappa, field agreement.

``Report.text`` is exactly scikit-learn's
``classification_report(truth, predicted, labels=[CROP, NON_CROP], target_names=["crop", "non-crop"])``
over the pixels that are labelled in both maps, so numbers read like the original study's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import rasterio.features
from sklearn.metrics import classification_report, cohen_kappa_score, confusion_matrix

from cropseg._io import atomic_path
from cropseg._validate import as_crs, as_shape, as_transform
from cropseg.errors import GridMismatchError, InvalidInputError
from cropseg.scene import Scene
from cropseg.types import CROP, NODATA, NON_CROP, PathLike

logger = logging.getLogger(__name__)

__all__ = [
    "Report",
    "evaluate",
    "field_agreement",
    "disagreement_map",
    "AGREE",
    "FALSE_CROP",
    "MISSED_CROP",
]

#: Codes of :func:`disagreement_map`.
AGREE, FALSE_CROP, MISSED_CROP = 0, 1, 2

_LABELS = [CROP, NON_CROP]
_NAMES = ["crop", "non-crop"]


def _pair(truth: npt.ArrayLike, predicted: npt.ArrayLike, nodata: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth)
    p = np.asarray(predicted)
    if t.shape != p.shape:
        raise GridMismatchError(f"truth has shape {t.shape} but predicted has {p.shape}; use maps on one grid")
    for name, a in (("truth", t), ("predicted", p)):
        if not np.issubdtype(a.dtype, np.integer):
            raise InvalidInputError(f"{name} must hold integer class codes, got dtype {a.dtype}")
    keep = (t != nodata) & (p != nodata)
    if not keep.any():
        raise InvalidInputError("no pixel is labelled in both truth and predicted (all NODATA); nothing to evaluate")
    extra = np.setdiff1d(np.unique(np.r_[t[keep], p[keep]]), _LABELS)
    if len(extra):
        raise InvalidInputError(
            f"class codes {extra.tolist()} are neither CROP ({CROP}) nor NON_CROP ({NON_CROP}); "
            f"map them first or mark them NODATA ({nodata})"
        )
    return t[keep], p[keep]


@dataclass(frozen=True)
class Report:
    """Crop / non-crop accuracy of a class map.

    Attributes
    ----------
    text : str
        ``sklearn.metrics.classification_report`` text (crop first).
    report : dict
        The same as a dict (``output_dict=True``).
    confusion : ndarray of int64, shape (2, 2)
        Rows truth, columns prediction, both in the order crop, non-crop.
    iou : dict
        Intersection over union per class name.
    accuracy, kappa : float
        Overall accuracy and Cohen's kappa.
    n_pixels : int
        Pixels evaluated (labelled in both maps).
    """

    text: str
    report: dict[str, Any]
    confusion: np.ndarray
    iou: dict[str, float]
    accuracy: float
    kappa: float
    n_pixels: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the report."""
        return {
            "classification_report": self.report,
            "confusion_matrix": {"labels": _NAMES, "rows": "truth", "columns": "predicted",
                                 "values": self.confusion.tolist()},
            "iou": self.iou,
            "accuracy": self.accuracy,
            "kappa": self.kappa,
            "n_pixels": self.n_pixels,
        }

    def to_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return Path(path)

    def plot_confusion(self, path: PathLike) -> Path:
        """Save the confusion matrix (counts and row shares) as a PNG."""
        from matplotlib.figure import Figure

        from cropseg.plot import save_figure

        fig = Figure(figsize=(4.5, 4))
        ax = fig.add_subplot()
        share = self.confusion / np.maximum(self.confusion.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Greens", vmin=0, vmax=1)
        for (r, c), n in np.ndenumerate(self.confusion):
            ax.text(c, r, f"{n:,}\n{share[r, c]:.1%}", ha="center", va="center",
                    color="white" if share[r, c] > 0.5 else "black")
        ax.set_xticks([0, 1], _NAMES)
        ax.set_yticks([0, 1], _NAMES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("truth")
        ax.set_title(f"accuracy {self.accuracy:.3f}, kappa {self.kappa:.3f}")
        return save_figure(fig, path)

    def __str__(self) -> str:
        return self.text


def evaluate(truth: npt.ArrayLike, predicted: npt.ArrayLike, *, nodata: int = NODATA, digits: int = 2) -> Report:
    """Score a predicted class map against ground-truth labels, ignoring NODATA pixels.

    Parameters
    ----------
    truth, predicted : array_like of int
        Class maps of the same shape (``CROP = 1``, ``NON_CROP = 0``, ``nodata`` ignored).
    nodata : int, default NODATA
        Code of unlabelled or invalid pixels in either map.
    digits : int, default 2
        Digits in ``Report.text``, as ``classification_report`` (the original study used 2).

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[1, 1, 0, 0, 255]], dtype=np.uint8)
    >>> predicted = np.array([[1, 0, 0, 0, 1]], dtype=np.uint8)
    >>> report = evaluate(truth, predicted)
    >>> report.accuracy, report.confusion.tolist()
    (0.75, [[1, 1], [0, 2]])
    """
    t, p = _pair(truth, predicted, nodata)
    text = classification_report(t, p, labels=_LABELS, target_names=_NAMES, digits=digits, zero_division=0)
    report = classification_report(t, p, labels=_LABELS, target_names=_NAMES, output_dict=True, zero_division=0)
    cm = confusion_matrix(t, p, labels=_LABELS)
    iou = {}
    for i, name in enumerate(_NAMES):
        union = cm[i, :].sum() + cm[:, i].sum() - cm[i, i]
        iou[name] = float(cm[i, i] / union) if union else 0.0
    kappa = float(cohen_kappa_score(t, p, labels=_LABELS)) if len(np.unique(np.r_[t, p])) > 1 else 1.0
    return Report(text, report, cm.astype(np.int64), iou, float(np.mean(t == p)), kappa, int(t.size))


def disagreement_map(truth: npt.ArrayLike, predicted: npt.ArrayLike, *, nodata: int = NODATA) -> np.ndarray:
    """Map where a prediction agrees with the truth (``AGREE``), adds crop (``FALSE_CROP``) or misses it.

    Returns uint8 ``(rows, cols)``: ``AGREE = 0``, ``FALSE_CROP = 1`` (predicted crop, truth non-crop),
    ``MISSED_CROP = 2`` (truth crop, predicted non-crop), ``nodata`` where either map is nodata.

    Examples
    --------
    >>> import numpy as np
    >>> disagreement_map(np.array([[1, 0, 1, 255]]), np.array([[1, 1, 0, 0]])).tolist()
    [[0, 1, 2, 255]]
    """
    t = np.asarray(truth)
    p = np.asarray(predicted)
    if t.shape != p.shape:
        raise GridMismatchError(f"truth has shape {t.shape} but predicted has {p.shape}; use maps on one grid")
    out = np.full(t.shape, nodata, dtype=np.uint8)
    both = (t != nodata) & (p != nodata)
    out[both & (t == p)] = AGREE
    out[both & (p == CROP) & (t != CROP)] = FALSE_CROP
    out[both & (t == CROP) & (p != CROP)] = MISSED_CROP
    return out


def field_agreement(
    ground_truth: Any,
    predicted: npt.ArrayLike,
    *,
    like: Scene | None = None,
    transform: Any = None,
    crs: Any = None,
    nodata: int = NODATA,
) -> gpd.GeoDataFrame:
    """For each ground-truth polygon, the share of its valid pixels predicted crop.

    Fields the imagery contradicts (e.g. crop land fallowed since the survey) stand out with a low
    ``crop_share``. Pixels are assigned to polygons by their centres, as in
    :func:`cropseg.labels.rasterize_labels`; where polygons overlap the later one wins.

    Returns
    -------
    geopandas.GeoDataFrame
        The ground truth (in its own CRS) plus ``n_pixels`` (valid pixels inside), ``crop_share``
        (``nan`` when no valid pixel) and ``agrees`` (``crop_share >= 0.5``).
    """
    from cropseg.labels import read_ground_truth

    pred = np.asarray(predicted)
    if pred.ndim != 2:
        raise InvalidInputError(f"predicted must be a 2-D class map, got shape {pred.shape}")
    if like is not None:
        if like.shape != pred.shape:
            raise GridMismatchError(f"predicted has shape {pred.shape} but the scene {like.shape}")
        affine, ref_crs = like.transform, like.crs
    else:
        affine, ref_crs = as_transform(transform), as_crs(crs)
    shape = as_shape(pred.shape)
    frame = read_ground_truth(ground_truth)
    projected = frame.to_crs(ref_crs.to_wkt()) if frame.crs is not None else frame
    ids = rasterio.features.rasterize(
        ((g, i + 1) for i, g in enumerate(projected.geometry) if g is not None and not g.is_empty),
        out_shape=shape,
        transform=affine,
        dtype="int32",
    )
    valid = (ids > 0) & (pred != nodata)
    n = np.bincount(ids[valid], minlength=len(frame) + 1)[1:]
    crop = np.bincount(ids[valid], weights=(pred[valid] == CROP), minlength=len(frame) + 1)[1:]
    out = frame.copy()
    out["n_pixels"] = n
    with np.errstate(invalid="ignore", divide="ignore"):
        out["crop_share"] = np.where(n > 0, crop / np.maximum(n, 1), np.nan)
    out["agrees"] = out["crop_share"] >= 0.5
    return out
