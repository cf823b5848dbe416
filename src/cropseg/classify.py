"""The KNN crop classifier: a scikit-learn estimator, fast k tuning, scene prediction and model files.

:class:`CropKNN` is a plain tabular scikit-learn classifier (it works in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``). It finds neighbours with cropseg's numba kd-tree
(:mod:`cropseg._core.knn`) on all cores and votes exactly as ``KNeighborsClassifier`` does, so its
predictions equal scikit-learn's for the same training set and parameters, except where neighbours
tie on distance (then either neighbour is a correct answer and the two libraries may pick
differently).

:func:`tune_knn` scores every ``n_neighbors`` with one neighbour query per fold: it queries the
largest k once and votes over prefixes of the sorted neighbour lists, instead of one query per k.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data
from tqdm.auto import tqdm

import cropseg
from cropseg._core import knn
from cropseg._core._jit import prefaulted
from cropseg._io import atomic_path
from cropseg._validate import check_option
from cropseg.errors import InvalidInputError, ModelError, ModelWarning
from cropseg.reflectance import normalize_product
from cropseg.samples import _stratified_take
from cropseg.scene import Scene
from cropseg.types import NODATA, PathLike

logger = logging.getLogger(__name__)

__all__ = ["CropKNN", "TuningResult", "tune_knn", "predict_scene", "save_model", "load_model", "SCORINGS"]


def _f1(cm: np.ndarray, weighted: bool) -> float:
    tp = np.diag(cm).astype(np.float64)
    true, pred = cm.sum(axis=1), cm.sum(axis=0)
    denom = true + pred
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(np.average(f1, weights=true if weighted else None))


def _balanced_accuracy(cm: np.ndarray) -> float:
    true = cm.sum(axis=1)
    return float(np.mean(np.diag(cm)[true > 0] / true[true > 0]))


def _cohen_kappa(cm: np.ndarray) -> float:
    expected = np.outer(cm.sum(axis=0), cm.sum(axis=1)) / cm.sum()
    off = 1 - np.eye(len(cm), dtype=np.int64)
    return float(1 - np.sum(off * cm) / np.sum(off * expected))


#: Scores :func:`tune_knn` can optimise. Each takes the confusion matrix (rows true, columns
#: predicted) over the classes present in either, and equals the scikit-learn function of that name
#: (``f1_score`` with ``average="weighted"`` / ``"macro"``, ``accuracy_score``, ...).
SCORINGS: dict[str, Any] = {
    "f1_weighted": lambda cm: _f1(cm, weighted=True),
    "f1_macro": lambda cm: _f1(cm, weighted=False),
    "accuracy": lambda cm: float(np.trace(cm) / cm.sum()),
    "balanced_accuracy": _balanced_accuracy,
    "cohen_kappa": _cohen_kappa,
}


def _confusion(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix of class indices, restricted to the classes that occur in either."""
    cm = np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return cm[np.ix_(present, present)]


_FORMAT = "cropseg-knn-model"
_FORMAT_VERSION = 1


def _weights(dist: np.ndarray, weights: str) -> np.ndarray:
    """scikit-learn's neighbour weights: ones, or inverse distances where exact matches outvote everything."""
    if weights == "uniform":
        return np.ones(dist.shape, dtype=np.float64)
    with np.errstate(divide="ignore"):
        w = 1.0 / dist
    inf = np.isinf(w)
    rows = inf.any(axis=1)
    w[rows] = inf[rows]
    return w


def _votes(labels: np.ndarray, dist: np.ndarray, n_classes: int, weights: str) -> np.ndarray:
    """Per-row vote of each class among the neighbours, ``(n, n_classes)``, with scikit-learn's weights."""
    w = _weights(dist, weights)
    votes = np.zeros((labels.shape[0], n_classes), dtype=np.float64)
    for c in range(n_classes):
        votes[:, c] = np.where(labels == c, w, 0.0).sum(axis=1)
    return votes


def _prefix_votes(labels: np.ndarray, dist: np.ndarray, n_classes: int, weights: str) -> np.ndarray:
    """Winning class index of every prefix of the neighbour lists, ``(n, kmax)``: column ``k - 1`` is the vote of k.

    Distances are sorted, so exact matches (distance 0) lead each list and the rule that they
    outvote everything holds for every prefix. Ties go to the lowest index, as scikit-learn's argmax.
    """
    w = _weights(dist, weights)
    best = np.cumsum(np.where(labels == 0, w, 0.0), axis=1)
    winner = np.zeros(labels.shape, dtype=np.intp)
    for c in range(1, n_classes):
        votes = np.cumsum(np.where(labels == c, w, 0.0), axis=1)
        better = votes > best
        winner[better] = c
        np.maximum(best, votes, out=best)
    return winner


@contextlib.contextmanager
def _threads(n_jobs: int | None) -> Iterator[None]:
    """Run numba kernels on ``n_jobs`` threads (``None`` or -1: all), as scikit-learn's ``n_jobs``."""
    before = numba.get_num_threads()
    if n_jobs is None or n_jobs == -1:
        n = numba.config.NUMBA_NUM_THREADS
    elif n_jobs < 0:
        n = max(1, numba.config.NUMBA_NUM_THREADS + 1 + n_jobs)
    else:
        n = min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _check_n_jobs(n_jobs: Any) -> None:
    if n_jobs is not None and (not isinstance(n_jobs, (int, np.integer)) or isinstance(n_jobs, bool) or n_jobs == 0):
        raise InvalidInputError(f"n_jobs must be None or a nonzero int (-1 for every core), got {n_jobs!r}")


def _kneighbors(tree: tuple[np.ndarray, ...], X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances and training indices of the ``k`` nearest points of a :func:`knn.build` tree."""
    points, perm, *nodes = tree
    dist = np.empty((len(X), k), dtype=np.float64)
    idx = np.empty((len(X), k), dtype=np.int64)
    knn.kneighbors(np.ascontiguousarray(X), points, *nodes, k, dist, idx)
    return np.sqrt(dist, out=dist), perm[idx]


class CropKNN(ClassifierMixin, BaseEstimator):
    """K-nearest-neighbour pixel classifier with stratified subsampling of large training sets.

    Parameters
    ----------
    n_neighbors : int, default 5
        Number of neighbours that vote.
    weights : {"uniform", "distance"}, default "uniform"
        Equal votes, or votes weighted by inverse distance (as ``KNeighborsClassifier``).
    max_train_samples : int or None, default 100_000
        Fit on at most this many samples, drawn stratified by class (each class keeps its share).
        Labelled pixels of one scene are strongly autocorrelated, so 100 k pixels carry the
        information of millions at a fraction of the prediction cost. ``None`` keeps all.
    algorithm : {"auto", "kd_tree"}, default "auto"
        Neighbour search; both use cropseg's kd-tree (kept for scikit-learn familiarity).
    n_jobs : int or None
        Threads for neighbour queries; ``None`` or -1 uses every core, ``-2`` all but one.
    random_state : int, RandomState or None
        Seed for the subsampling.

    Attributes
    ----------
    classes_ : ndarray
        Class labels seen in ``fit``.
    n_features_in_ : int
        Number of features (bands).
    band_names_ : tuple of str or None
        Band names given to ``fit``; checked by :func:`predict_scene`.
    product_ : str or None
        Planet product the training reflectance came from.
    training_summary_ : dict
        Samples seen and used per class.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.1, 0.4], [0.12, 0.38], [0.2, 0.25], [0.22, 0.24]], dtype=np.float32)
    >>> model = CropKNN(n_neighbors=1).fit(X, [1, 1, 0, 0])
    >>> model.predict([[0.11, 0.41], [0.21, 0.26]]).tolist()
    [1, 0]
    """

    def __init__(
        self,
        n_neighbors: int = 5,
        *,
        weights: str = "uniform",
        max_train_samples: int | None = 100_000,
        algorithm: str = "auto",
        n_jobs: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.max_train_samples = max_train_samples
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise InvalidInputError(f"n_neighbors must be an int >= 1, got {self.n_neighbors!r}")
        check_option("weights", self.weights, ("uniform", "distance"))
        check_option("algorithm", self.algorithm, ("auto", "kd_tree"))
        if self.max_train_samples is not None and (
            not isinstance(self.max_train_samples, (int, np.integer)) or self.max_train_samples < 1
        ):
            raise InvalidInputError(f"max_train_samples must be None or an int >= 1, got {self.max_train_samples!r}")
        _check_n_jobs(self.n_jobs)

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        band_names: Sequence[str] | None = None,
        product: str | None = None,
    ) -> CropKNN:
        """Fit on pixel features ``X (n_samples, n_bands)`` and class labels ``y``.

        ``band_names`` and ``product`` (optional) are stored so a saved model can refuse scenes with
        other bands or another reflectance product.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise InvalidInputError(
                f"y holds only one class ({self.classes_.tolist()}); a classifier needs crop and non-crop samples"
            )
        n = len(encoded)
        take = np.arange(n)
        if self.max_train_samples is not None and n > self.max_train_samples:
            rng = check_random_state(self.random_state)
            take = np.sort(_stratified_take(encoded, int(self.max_train_samples), rng))
        self._fit_X = np.ascontiguousarray(X[take], dtype=np.float64)
        self._fit_y = encoded[take].astype(np.intp)
        points, perm, *nodes = knn.build(self._fit_X)
        self._kd = (points, perm, *nodes)
        self._kd_labels = np.ascontiguousarray(self._fit_y[perm])
        # Two classes: one tree per class for the uniform vote (knn.classify_two), and its
        # certificates per k, computed on first use (see predict).
        self._certificates: dict[int, tuple[tuple[np.ndarray, np.ndarray], ...]] = {}
        self._class_trees = (
            tuple(knn.build(self._fit_X[self._fit_y == c]) for c in (0, 1)) if len(self.classes_) == 2 else None
        )
        if band_names is not None and len(band_names) != self.n_features_in_:
            raise InvalidInputError(
                f"band_names {list(band_names)!r} has {len(band_names)} names for {self.n_features_in_} features"
            )
        self.band_names_ = tuple(band_names) if band_names is not None else None
        self.product_ = normalize_product(product).name if product is not None else None
        self.training_summary_ = {
            "n_samples_seen": int(n),
            "n_samples_used": int(len(take)),
            "class_counts_used": {str(c): int(k) for c, k in zip(self.classes_, np.bincount(self._fit_y), strict=True)},
        }
        return self

    def kneighbors(self, X: npt.ArrayLike, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Distances and training indices of the nearest neighbours, sorted by distance."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], order="C")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if k > len(self._fit_y):
            raise InvalidInputError(f"n_neighbors={k} exceeds the {len(self._fit_y)} training samples; lower it")
        with _threads(self.n_jobs):
            return _kneighbors(self._kd, X, k)

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Predict the class of each sample.

        Runs the numba kd-tree kernel over all cores and votes inside it, as ``KNeighborsClassifier``
        (ties in the vote go to the lower class). A uniform vote between two classes needs no list of
        neighbours: class 1 wins when ``k - ceil(k/2) + 1`` of its points are closer than the
        ``ceil(k/2)``-th nearest class-0 point, which one tree per class answers faster.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], order="C")
        if self.n_neighbors > len(self._fit_y):
            raise InvalidInputError(
                f"n_neighbors={self.n_neighbors} exceeds the {len(self._fit_y)} training samples; lower it"
            )
        winners = prefaulted(len(X), np.int64)
        # float32 pixels go in as they are: the kernel widens each value exactly before subtracting.
        queries = np.ascontiguousarray(X)
        k = int(self.n_neighbors)
        # Each class tree must hold its class's deciding count (ceil(k/2), and k - ceil(k/2) + 1 for class 1).
        trees = self._class_trees
        with _threads(self.n_jobs):
            two = trees is not None and min(len(t[1]) for t in trees) >= k - (k + 1) // 2 + 1
            if self.weights == "uniform" and two:
                # Certificates cost two searches per training point, once per k; they pay off when
                # there are at least as many queries (a scene) and are kept for later calls.
                certify = k in self._certificates or len(queries) >= len(self._fit_y)
                cert0, cert1 = self._certificates_for(k) if certify else (knn.NO_CERTIFICATES,) * 2
                knn.classify_two(queries, *trees, k, cert0, cert1, winners)
            else:
                points, _, *nodes = self._kd
                distance = self.weights == "distance"
                knn.classify(queries, points, self._kd_labels, *nodes, k, len(self.classes_), distance, winners)
        return self.classes_[winners]

    def _certificates_for(self, k: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Per class tree, the radius (squared) around each point within which the vote is settled."""
        if k not in self._certificates:
            tree0, tree1 = self._class_trees
            certs = []
            for tree in (tree0, tree1):
                radius2, winner = np.empty(len(tree[1])), np.empty(len(tree[1]), dtype=np.int64)
                knn.certificates(tree, tree0, tree1, k, radius2, winner)
                certs.append((radius2, winner))
            self._certificates[k] = tuple(certs)
        return self._certificates[k]

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Share of the (weighted) neighbour vote per class, columns in ``classes_`` order."""
        dist, idx = self.kneighbors(X)
        votes = _votes(self._fit_y[idx], dist, len(self.classes_), self.weights)
        return votes / votes.sum(axis=1, keepdims=True)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


@dataclass
class TuningResult:
    """Outcome of :func:`tune_knn`.

    Attributes
    ----------
    best_params : dict
        ``n_neighbors`` and ``weights`` with the best mean score.
    best_score : float
        Its mean cross-validated score.
    best_estimator : CropKNN
        Refitted on all samples with the best parameters.
    results : pandas.DataFrame
        One row per setting: ``n_neighbors``, ``weights``, ``mean_score``, ``std_score``, ``rank``.
    scoring : str
        The score optimised.
    """

    best_params: dict[str, Any]
    best_score: float
    best_estimator: CropKNN
    results: pd.DataFrame
    scoring: str
    cv_kind: str = field(default="stratified")

    def plot(self, path: PathLike) -> Path:
        """Draw mean score (± std) against k, one line per weighting, and save it as a PNG."""
        from matplotlib.figure import Figure

        from cropseg.plot import save_figure

        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        for weights, rows in self.results.groupby("weights"):
            ax.errorbar(rows.n_neighbors, rows.mean_score, yerr=rows.std_score, marker="o", capsize=3, label=weights)
        ax.axvline(self.best_params["n_neighbors"], color="grey", linestyle=":", label="best k")
        ax.set_xlabel("n_neighbors (k)")
        ax.set_ylabel(f"{self.scoring} ({self.cv_kind} CV)")
        ax.legend()
        ax.grid(alpha=0.3)
        return save_figure(fig, path)


def tune_knn(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    groups: npt.ArrayLike | None = None,
    param_grid: dict[str, Sequence[Any]] | None = None,
    cv: int = 5,
    scoring: str = "f1_weighted",
    n_jobs: int | None = None,
    max_train_samples: int | None = 100_000,
    random_state: Any = 0,
    band_names: Sequence[str] | None = None,
    product: str | None = None,
    progress: bool = False,
) -> TuningResult:
    """Cross-validate ``n_neighbors`` and ``weights`` of :class:`CropKNN` with one query per fold.

    Parameters
    ----------
    X, y : array_like
        Pixel features and class labels (e.g. from :func:`cropseg.samples.to_samples`).
    groups : array_like, optional
        Group per sample, e.g. spatial block ids from :func:`cropseg.samples.spatial_blocks`; folds
        are then grouped (``GroupKFold``) so neighbouring pixels never sit on both sides of a split.
        Without groups, folds are stratified at random, which overrates KNN on autocorrelated pixels.
    param_grid : dict, optional
        ``{"n_neighbors": [...], "weights": [...]}``; default odd k from 1 to 31 and both weightings.
    cv : int, default 5
        Number of folds.
    scoring : str, default "f1_weighted"
        One of :data:`SCORINGS`.
    n_jobs : int, optional
        Query threads (default all cores).
    max_train_samples : int or None, default 100_000
        Training-fold subsampling, as in :class:`CropKNN`; also used for the refit.
    random_state : int or None, default 0
        Seed for folds and subsampling.
    band_names, product : optional
        Passed to the refit, see :meth:`CropKNN.fit`.
    progress : bool, default False
        Show a progress bar over folds.

    Returns
    -------
    TuningResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0.2, 0.05, (200, 2)), rng.normal(0.4, 0.05, (200, 2))]
    >>> y = np.r_[np.zeros(200, int), np.ones(200, int)]
    >>> result = tune_knn(X, y, cv=3, param_grid={"n_neighbors": [1, 5, 15]})
    >>> result.best_params["n_neighbors"] in (1, 5, 15)
    True
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise InvalidInputError(f"X must be (n_samples, n_features) and y (n_samples,), got {X.shape} and {y.shape}")
    if not np.isfinite(X).all():
        raise InvalidInputError("X holds NaN or infinite values; sample only valid pixels (to_samples does)")
    check_option("scoring", scoring, SCORINGS)
    _check_n_jobs(n_jobs)
    grid = {"n_neighbors": list(range(1, 32, 2)), "weights": ["uniform", "distance"]}
    if param_grid is not None:
        unknown = set(param_grid) - set(grid)
        if unknown:
            raise InvalidInputError(f"param_grid keys {sorted(unknown)} are not tunable; use n_neighbors and weights")
        grid.update({k: list(v) for k, v in param_grid.items()})
    ks = sorted(int(k) for k in grid["n_neighbors"])
    if not ks or ks[0] < 1:
        raise InvalidInputError(f"n_neighbors values must be ints >= 1, got {grid['n_neighbors']!r}")
    for w in grid["weights"]:
        check_option("weights", w, ("uniform", "distance"))
    if not isinstance(cv, (int, np.integer)) or cv < 2:
        raise InvalidInputError(f"cv must be an int >= 2 folds, got {cv!r}")
    classes, encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise InvalidInputError(f"y holds a single class ({classes.tolist()}); tuning needs crop and non-crop samples")
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(y):
            raise InvalidInputError(f"groups has {len(groups)} entries for {len(y)} samples")
        if len(np.unique(groups)) < cv:
            raise InvalidInputError(f"groups has {len(np.unique(groups))} distinct groups, fewer than cv={cv} folds")
        splitter: Any = GroupKFold(n_splits=cv)
        splits = list(splitter.split(X, encoded, groups))
        kind = "spatially grouped"
    else:
        splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
        splits = list(splitter.split(X, encoded))
        kind = "stratified"
    score = SCORINGS[scoring]
    scores = {(k, w): [] for k in ks for w in grid["weights"]}  # type: dict[tuple[int, str], list[float]]
    rng = check_random_state(random_state)
    for train, test in tqdm(splits, desc="tuning k", disable=not progress, unit="fold"):
        if max_train_samples is not None and len(train) > max_train_samples:
            train = np.sort(train[_stratified_take(encoded[train], max_train_samples, rng)])
        kmax = min(ks[-1], len(train))
        with _threads(n_jobs):
            dist, idx = _kneighbors(knn.build(X[train]), X[test], kmax)
        labels = encoded[train][idx]
        truth = encoded[test]
        for w in grid["weights"]:
            winners = _prefix_votes(labels, dist, len(classes), w)
            for k in ks:
                cm = _confusion(truth, winners[:, min(k, kmax) - 1], len(classes))
                scores[(k, w)].append(score(cm))
    rows = [
        {"n_neighbors": k, "weights": w, "mean_score": float(np.mean(v)), "std_score": float(np.std(v))}
        for (k, w), v in scores.items()
    ]
    table = pd.DataFrame(rows).sort_values(["weights", "n_neighbors"], ignore_index=True)
    # Best: highest mean; ties go to the smaller k, then uniform weights (the simpler model).
    order = table.sort_values(["mean_score", "n_neighbors", "weights"], ascending=[False, True, False])
    table["rank"] = 0
    table.loc[order.index, "rank"] = np.arange(1, len(table) + 1)
    best = table.loc[order.index[0]]
    best_params = {"n_neighbors": int(best.n_neighbors), "weights": str(best.weights)}
    model = CropKNN(**best_params, max_train_samples=max_train_samples, n_jobs=n_jobs, random_state=random_state)
    model.fit(X, y, band_names=band_names, product=product)
    return TuningResult(best_params, float(best.mean_score), model, table, scoring, kind)


def predict_scene(
    model: Any,
    scene: Scene,
    *,
    chunk_size: int = 500_000,
    progress: bool = False,
) -> npt.NDArray[np.uint8]:
    """Predict a class for every valid pixel of a scene; ``NODATA`` where the scene is invalid.

    Parameters
    ----------
    model : fitted classifier
        A :class:`CropKNN` (or any fitted scikit-learn classifier over the scene's bands).
    scene : Scene
        Reflectance ``(bands, rows, cols)`` with its valid mask.
    chunk_size : int, default 500_000
        Pixels predicted at once; memory is bounded by the chunk, not the scene.
    progress : bool, default False
        Show a progress bar over chunks.

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        Class codes (``CROP = 1``, ``NON_CROP = 0``), ``NODATA = 255`` where invalid.

    Notes
    -----
    Identical pixels (same reflectance in every band) are predicted once per chunk when at least a
    quarter of a chunk repeats; on continuous reflectance this rarely pays, so the check is cheap.
    """
    if not isinstance(scene, Scene):
        raise InvalidInputError(f"scene must be a cropseg Scene (from read_scene), got {type(scene).__name__}")
    check_is_fitted(model)
    n_features = getattr(model, "n_features_in_", None)
    if n_features is not None and n_features != scene.count:
        raise ModelError(
            f"the model was trained on {n_features} bands but the scene has {scene.count} "
            f"({', '.join(scene.band_names)}); use a model trained on this product's bands"
        )
    names = getattr(model, "band_names_", None)
    if names is not None and tuple(names) != tuple(scene.band_names):
        raise ModelError(
            f"the model was trained on bands {list(names)} but the scene has {list(scene.band_names)}; "
            "read the scene with bands= in the model's order"
        )
    product = getattr(model, "product_", None)
    if product is not None:
        trained_sr = normalize_product(product).surface_reflectance
        if trained_sr != normalize_product(scene.product).surface_reflectance:
            raise ModelError(
                f"the model was trained on {product} reflectance but the scene is {scene.product}; top-of-"
                "atmosphere and surface reflectance differ, so train a model on this product"
            )
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
    valid = scene.valid & np.isfinite(scene.reflectance).all(axis=0)
    out = np.full(scene.shape, NODATA, dtype=np.uint8)
    flat = np.flatnonzero(valid)
    bands = scene.reflectance.reshape(scene.count, -1)
    result = np.empty(len(flat), dtype=np.uint8)
    starts = range(0, len(flat), chunk_size)
    for s in tqdm(starts, desc="predicting", disable=not progress, unit="chunk"):
        pixels = np.ascontiguousarray(bands[:, flat[s : s + chunk_size]].T)
        result[s : s + chunk_size] = _predict_unique(model, pixels)
    out.ravel()[flat] = result
    return out


def _predict_unique(model: Any, pixels: np.ndarray) -> np.ndarray:
    """Predict, once per distinct pixel when repeats are common."""
    probe = pixels[: min(len(pixels), 20_000)]
    rows = np.ascontiguousarray(probe).view(np.dtype((np.void, probe.dtype.itemsize * probe.shape[1])))
    if len(probe) and len(np.unique(rows)) < 0.75 * len(probe):
        unique, inverse = np.unique(pixels, axis=0, return_inverse=True)
        return np.asarray(model.predict(unique), dtype=np.uint8)[inverse.ravel()]
    return np.asarray(model.predict(pixels), dtype=np.uint8)


def save_model(model: CropKNN, path: PathLike) -> Path:
    """Save a fitted :class:`CropKNN` as one ``.npz`` file, atomically; no pickle inside.

    The file holds the training samples the model uses, its parameters, classes, band names,
    reflectance product, class codes, library versions and training summary.
    """
    if not isinstance(model, CropKNN):
        raise InvalidInputError(f"model must be a CropKNN, got {type(model).__name__}")
    check_is_fitted(model)
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "params": {k: v for k, v in model.get_params().items() if k != "random_state"},
        "classes": model.classes_.tolist(),
        "band_names": list(model.band_names_) if model.band_names_ is not None else None,
        "product": model.product_,
        "class_codes": {"crop": 1, "non-crop": 0, "nodata": NODATA},
        "versions": {"cropseg": cropseg.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "training_summary": model.training_summary_,
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta)), X=model._fit_X, y=model._fit_y.astype(np.int64))
    return Path(os.fspath(path))


def load_model(path: PathLike) -> CropKNN:
    """Load a model saved with :func:`save_model` (never unpickles anything).

    Raises :class:`ModelError` for files that are not cropseg models and warns
    (:class:`ModelWarning`) when library versions differ from the ones that saved it.
    """
    p = Path(os.fspath(path))
    if not p.is_file():
        raise ModelError(f"model file {str(p)!r} does not exist")
    try:
        with np.load(p, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            X, y = data["X"], data["y"]
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelError(f"{p} is not a cropseg model file ({exc}); save models with cropseg.save_model") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ModelError(f"{p} is not a cropseg model file (format {meta.get('format')!r})")
    if meta.get("format_version", 0) > _FORMAT_VERSION:
        raise ModelError(f"{p} was written by a newer cropseg (format {meta['format_version']}); upgrade cropseg")
    saved = meta.get("versions", {})
    for name, now in (("cropseg", cropseg.__version__), ("scikit-learn", sklearn.__version__)):
        if saved.get(name) and saved[name].split(".")[:2] != now.split(".")[:2]:
            warnings.warn(
                f"{p.name} was saved with {name} {saved[name]}, this is {now}; predictions should match "
                "but re-save the model to be sure",
                ModelWarning,
                stacklevel=2,
            )
    classes = np.asarray(meta["classes"])
    params = dict(meta["params"])
    model = CropKNN(**{**params, "max_train_samples": None})
    model.fit(X, classes[y], band_names=meta.get("band_names"), product=meta.get("product"))
    model.set_params(max_train_samples=params.get("max_train_samples"))
    model.training_summary_ = meta.get("training_summary", model.training_summary_)
    return model
