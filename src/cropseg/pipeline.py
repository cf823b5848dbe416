"""End to end: train a model on a scene, segment whole scenes tile by tile (optionally on Dask), the demo.

:func:`segment_scene` reads a full Planet scene window by window. Each tile is read with a halo of
``ksize // 2`` pixels, predicted, filtered and cropped back to its core, so the assembled class map is
identical to filtering the whole scene at once. The class map (one byte per pixel) is then vectorized
as a whole, so fields that cross tile edges come out as one polygon each, exactly as from an
untiled run. Peak memory is set by the tile size (reflectance and neighbour queries, ~60 bytes per
tile pixel), plus the class map and its vectorization (~10 bytes per scene pixel).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.windows import Window

from cropseg._io import atomic_path, check_output_path
from cropseg._validate import check_option
from cropseg.classify import TuningResult, predict_scene, save_model, tune_knn
from cropseg.denoise import majority_filter, median_blur
from cropseg.errors import InvalidInputError, ModelError, OutputError, SceneReadError
from cropseg.evaluate import Report, disagreement_map, evaluate
from cropseg.labels import rasterize_labels
from cropseg.reflectance import detect_product
from cropseg.samples import spatial_blocks, to_samples
from cropseg.scene import Scene, iter_windows, read_scene
from cropseg.types import NODATA, PathLike
from cropseg.vectorize import vectorize, write_geojson

logger = logging.getLogger(__name__)

__all__ = ["train_model", "classify_scene", "segment_scene", "write_class_map", "run_demo", "DemoResult"]


def train_model(
    scene: Scene | PathLike,
    ground_truth: Any,
    *,
    column: str | None = None,
    classes: Any = None,
    max_samples: int | None = 200_000,
    block_size: int = 100,
    cv: int = 5,
    param_grid: dict[str, Any] | None = None,
    random_state: int = 0,
    progress: bool = False,
) -> TuningResult:
    """Label a scene from ground truth, sample it and tune a :class:`CropKNN` with spatial blocks.

    Parameters
    ----------
    scene : Scene or path
        The training scene (a path is read with :func:`cropseg.read_scene`).
    ground_truth : any
        Crop polygons in any form :func:`cropseg.labels.rasterize_labels` accepts; pixels outside
        them are non-crop.
    column, classes : optional
        Which polygons count as crop (see :func:`cropseg.labels.rasterize_labels`).
    max_samples : int or None, default 200_000
        Stratified sample of labelled pixels used for tuning.
    block_size : int, default 100
        Side of the spatial blocks (pixels) that group folds, so that neighbouring, near-identical
        pixels never sit on both sides of a split.
    cv : int, default 5
        Folds.
    param_grid : dict, optional
        See :func:`cropseg.classify.tune_knn`.
    random_state : int, default 0
        Seed of the sampling and folds.
    progress : bool, default False
        Progress bar over folds.

    Returns
    -------
    TuningResult
        ``best_estimator`` is the fitted model, carrying the scene's band names and product.
    """
    sc = scene if isinstance(scene, Scene) else read_scene(scene)
    labels = rasterize_labels(ground_truth, like=sc, column=column, classes=classes)
    X, y, (rows, cols) = to_samples(sc, labels, max_samples=max_samples, random_state=random_state, return_index=True)
    groups = spatial_blocks(sc.shape, block_size)[rows, cols]
    return tune_knn(
        X,
        y,
        groups=groups,
        cv=cv,
        param_grid=param_grid,
        random_state=random_state,
        band_names=sc.band_names,
        product=sc.product,
        progress=progress,
    )


def _check_model(model: Any, path: Path) -> None:
    if not hasattr(model, "predict"):
        raise ModelError(f"model must be a fitted classifier such as CropKNN, got {type(model).__name__}")
    product = detect_product(path)
    names = getattr(model, "band_names_", None)
    n_features = getattr(model, "n_features_in_", None)
    if names is not None and tuple(names) != product.band_names:
        raise ModelError(
            f"the model was trained on bands {list(names)} but {path.name} is {product.name} with bands "
            f"{list(product.band_names)}; use a model trained on this product"
        )
    if n_features is not None and n_features != len(product.band_names):
        raise ModelError(f"the model expects {n_features} bands but {path.name} has {len(product.band_names)}")


def _filter(class_map: np.ndarray, filter: str | None, ksize: int) -> np.ndarray:
    if filter is None:
        return class_map
    if filter == "median":
        return median_blur(class_map, ksize, nodata=NODATA)
    return majority_filter(class_map, ksize, nodata=NODATA)


def _tile(
    scene_path: Path,
    model: Any,
    metadata: Any,
    udm: Any,
    core: Window,
    padded: Window,
    filter: str | None,
    ksize: int,
) -> tuple[Window, np.ndarray]:
    """Classify and filter one padded tile; return its core (runs on Dask workers too)."""
    scene = read_scene(scene_path, metadata=metadata, udm=udm, window=padded)
    classes = _filter(predict_scene(model, scene), filter, ksize)
    r0 = core.row_off - padded.row_off
    c0 = core.col_off - padded.col_off
    return core, classes[r0 : r0 + core.height, c0 : c0 + core.width]


def classify_scene(
    scene_path: PathLike,
    model: Any,
    *,
    metadata: Any = None,
    udm: Any = None,
    ksize: int | None = 5,
    filter: str | None = "median",
    tile_size: int = 2048,
    client: Any = None,
    progress: bool = False,
) -> tuple[np.ndarray, Any, Any]:
    """Classify and denoise a whole scene tile by tile; return ``(class_map, transform, crs)``.

    See :func:`segment_scene` for the parameters. The result equals predicting and filtering the
    whole scene at once.
    """
    path = Path(os.fspath(scene_path))
    if not path.is_file():
        raise SceneReadError(f"scene {str(path)!r} does not exist; pass the path of a Planet analytic GeoTIFF")
    check_option("filter", filter, ("median", "majority", None))
    if filter is not None and (
        isinstance(ksize, bool) or not isinstance(ksize, (int, np.integer)) or ksize < 3 or ksize % 2 == 0
    ):
        raise InvalidInputError(f"ksize must be an odd int >= 3 (or use filter=None), got {ksize!r}")
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) or tile_size < 64:
        raise InvalidInputError(f"tile_size must be an int >= 64 pixels, got {tile_size!r}")
    _check_model(model, path)
    try:
        with rasterio.open(path) as ds:
            shape, transform, crs = (ds.height, ds.width), ds.transform, ds.crs
    except rasterio.RasterioIOError as exc:
        raise SceneReadError(f"scene {str(path)!r} cannot be read ({exc})") from exc
    halo = (ksize or 0) // 2 if filter is not None else 0
    windows = list(iter_windows(shape, tile_size=tile_size, overlap=halo))
    class_map = np.full(shape, NODATA, dtype=np.uint8)
    k = int(ksize or 0)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(windows), desc="segmenting", unit="tile", disable=not progress)
    if client is None:
        for core, padded in windows:
            core, tile = _tile(path, model, metadata, udm, core, padded, filter, k)
            class_map[core.row_off : core.row_off + core.height, core.col_off : core.col_off + core.width] = tile
            bar.update()
    else:
        from dask.distributed import as_completed

        remote_model = client.scatter(model, broadcast=True)
        futures = [
            client.submit(_tile, path, remote_model, metadata, udm, c, p, filter, k, pure=False) for c, p in windows
        ]
        for future in as_completed(futures):
            core, tile = future.result()
            class_map[core.row_off : core.row_off + core.height, core.col_off : core.col_off + core.width] = tile
            bar.update()
    bar.close()
    return class_map, transform, crs


def write_class_map(class_map: np.ndarray, path: PathLike, transform: Any, crs: Any) -> Path:
    """Write a uint8 class map as a tiled, compressed GeoTIFF with nodata 255, atomically."""
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            width=class_map.shape[1],
            height=class_map.shape[0],
            count=1,
            dtype="uint8",
            nodata=NODATA,
            transform=transform,
            crs=crs,
            tiled=True,
            blockxsize=256,
            blockysize=256,
            compress="deflate",
        ) as dst:
            dst.write(class_map, 1)
            dst.set_band_description(1, "class: 1 crop, 0 non-crop, 255 nodata")
    return Path(os.fspath(path))


def segment_scene(
    scene_path: PathLike,
    model: Any,
    *,
    metadata: Any = None,
    udm: Any = None,
    ksize: int | None = 5,
    filter: str | None = "median",
    min_area: float = 2500.0,
    simplify: float | None = None,
    out: PathLike | None = None,
    tile_size: int = 2048,
    client: Any = None,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Segment a full Planet scene into crop field boundaries, tile by tile in bounded memory.

    Parameters
    ----------
    scene_path : path
        A Planet analytic GeoTIFF; its metadata XML and UDM2 are found beside it.
    model : fitted classifier
        E.g. ``train_model(...).best_estimator`` or :func:`cropseg.load_model`.
    metadata, udm : optional
        The scene's metadata XML and UDM2 when they are not beside it.
    ksize : int, default 5
        Window of the denoising filter.
    filter : {"median", "majority", None}, default "median"
        Nodata-aware median (:func:`~cropseg.denoise.median_blur`) or majority filter; None skips it.
    min_area : float, default 2500
        Drop fields smaller than this many square metres.
    simplify : float, optional
        Coverage simplification tolerance in metres.
    out : path, optional
        Also write the class map here as a GeoTIFF (tiled, deflate, nodata 255).
    tile_size : int, default 2048
        Tile side in pixels; peak memory grows with its square, not with the scene.
    client : dask.distributed.Client, optional
        Run tiles on the cluster's workers; the output is identical to a local run.
    progress : bool, default False
        Progress bar over tiles.

    Returns
    -------
    geopandas.GeoDataFrame
        Field boundaries as :func:`cropseg.vectorize.vectorize` returns them.
    """
    if out is not None:
        check_output_path(out, "out")
    class_map, transform, crs = classify_scene(
        scene_path,
        model,
        metadata=metadata,
        udm=udm,
        ksize=ksize,
        filter=filter,
        tile_size=tile_size,
        client=client,
        progress=progress,
    )
    if out is not None:
        write_class_map(class_map, out, transform, crs)
    if not (class_map == 1).any():
        logger.warning("no crop pixels in %s", scene_path)
        return gpd.GeoDataFrame(
            {"field_id": [], "area_m2": [], "perimeter_m": [], "n_holes": []}, geometry=[], crs=crs.to_wkt()
        )
    return vectorize(class_map, transform, crs, min_area=min_area, simplify=simplify)


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced: the test-scene report, the tuning, timings and the files."""

    report: Report
    tuning: TuningResult
    files: dict[str, Path]
    seconds: dict[str, float]


def run_demo(out_dir: PathLike, *, progress: bool = False, echo: Callable[[str], None] | None = None) -> DemoResult:
    """Run the whole pipeline on the bundled Sacramento sample and write every product to ``out_dir``.

    Builds the synthetic train/test scenes on the real DWR fields, rasterizes the real ground truth,
    tunes the KNN with spatially blocked folds on the train scene, predicts the test scene,
    median-filters, vectorizes and evaluates. Writes ``fields.geojson``, ``classes.tif``,
    ``report.txt``, ``report.json``, ``ground_truth_overlay.png``, ``prediction.png``,
    ``disagreement.png``, ``confusion.png``, ``tuning.png`` and ``model.npz``.
    """
    from cropseg.datasets import sacramento
    from cropseg.plot import plot_class_map, plot_overlay

    say = echo or (lambda message: logger.info(message))
    out = Path(os.fspath(out_dir))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {str(out)!r} ({exc}); choose a writable folder") from exc
    if not os.access(out, os.W_OK):
        raise OutputError(f"output folder {str(out)!r} is not writable; choose another with --out")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    say("Preparing the Sacramento sample (synthetic imagery on the real 2015 DWR fields)...")
    train, test = sacramento("train"), sacramento("test")
    seconds["data"] = time.perf_counter() - t0

    t = time.perf_counter()
    train_scene = read_scene(train.scene)
    say(f"Tuning k on the train scene ({train_scene.height} x {train_scene.width} px), spatially blocked 5-fold CV...")
    tuning = train_model(train_scene, train.ground_truth, progress=progress)
    model = tuning.best_estimator
    seconds["train"] = time.perf_counter() - t
    say(f"Best: n_neighbors={tuning.best_params['n_neighbors']}, weights={tuning.best_params['weights']} "
        f"(weighted F1 {tuning.best_score:.3f} in CV)")

    t = time.perf_counter()
    class_map, transform, crs = classify_scene(test.scene, model, ksize=5, filter="median", progress=progress)
    seconds["predict"] = time.perf_counter() - t
    test_scene = read_scene(test.scene)
    truth = rasterize_labels(test.ground_truth, like=test_scene)
    report = evaluate(truth, class_map)
    t = time.perf_counter()
    fields = vectorize(class_map, transform, crs, min_area=2500.0)
    seconds["vectorize"] = time.perf_counter() - t

    files = {
        "fields": out / "fields.geojson",
        "classes": out / "classes.tif",
        "report_text": out / "report.txt",
        "report_json": out / "report.json",
        "overlay": out / "ground_truth_overlay.png",
        "prediction": out / "prediction.png",
        "disagreement": out / "disagreement.png",
        "confusion": out / "confusion.png",
        "tuning": out / "tuning.png",
        "model": out / "model.npz",
    }
    write_geojson(fields, files["fields"])
    write_class_map(class_map, files["classes"], transform, crs)
    with atomic_path(files["report_text"]) as tmp:
        tmp.write_text(report.text, encoding="utf-8")
    summary = report.to_dict() | {
        "best_params": tuning.best_params,
        "cv_score": tuning.best_score,
        "n_fields": len(fields),
        "seconds": seconds,
    }
    with atomic_path(files["report_json"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    plot_overlay(test_scene, test.ground_truth, files["overlay"], title="Test scene with DWR ground truth")
    plot_class_map(class_map, files["prediction"], kind="prediction")
    plot_class_map(disagreement_map(truth, class_map), files["disagreement"], kind="disagreement")
    report.plot_confusion(files["confusion"])
    tuning.plot(files["tuning"])
    save_model(model, files["model"])
    seconds["total"] = time.perf_counter() - t0
    return DemoResult(report, tuning, files, seconds)

