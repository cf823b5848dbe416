"""Whole-scene segmentation: cropseg's tiled pipeline against the original notebook recipe, one run.

Makes a full-size synthetic PSScene (default 8000 x 4000 px, 4 bands, synthetic fields), then in
separate child processes (so each peak RSS is its own):

- cropseg: ``train_model`` on a 2048 x 2048 window (spatially blocked tuning), then, in another
  process, ``segment_scene`` (tiles of 2048 px, median filter k=5, vectorize with min_area 2500 m2);
- original: ``KNeighborsClassifier(15)`` fitted on every labelled pixel, whole-array predict,
  ``cv2.medianBlur(5)``, ``cv2.findContours(RETR_EXTERNAL)``.

Prints wall time, throughput and peak RSS of each and the speed ratio.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--rows 8000 --cols 4000] [--skip-original]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

from _common import header


def run_training(paths, queue):
    from cropseg import read_scene, save_model
    from cropseg.pipeline import train_model

    t = time.perf_counter()
    # Users label and tune on a part of a scene; the model then segments the whole scene.
    scene = read_scene(paths.scene, window=((0, 2048), (0, 2048)))
    tuning = train_model(scene, paths.ground_truth)
    model_path = Path(paths.scene).parent / "model.npz"
    save_model(tuning.best_estimator, model_path)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"total": time.perf_counter() - t, "rss_mb": rss, "k": tuning.best_params["n_neighbors"],
               "model": str(model_path)})


def run_cropseg(paths, queue):
    from cropseg import load_model
    from cropseg.pipeline import segment_scene

    model = load_model(Path(paths.scene).parent / "model.npz")
    t = time.perf_counter()
    fields = segment_scene(paths.scene, model, out=Path(paths.scene).parent / "classes.tif")
    total = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"total": total, "fields": len(fields), "rss_mb": rss})


def run_original(paths, queue):
    import cv2
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    from cropseg import rasterize_labels, read_scene, to_samples

    t = time.perf_counter()
    scene = read_scene(paths.scene)
    labels = rasterize_labels(paths.ground_truth, like=scene)
    X, y = to_samples(scene, labels)
    model = KNeighborsClassifier(n_neighbors=15, n_jobs=-1).fit(X, y)
    pred = model.predict(scene.reflectance[:, scene.valid].T)
    class_map = np.zeros(scene.shape, np.uint8)
    class_map[scene.valid] = pred
    cleaned = cv2.medianBlur(class_map, 5)
    contours, _ = cv2.findContours(cleaned, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    total = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"total": total, "fields": len(contours), "rss_mb": rss, "train_px": len(y)})


def in_child(target, paths):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(paths, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--cols", type=int, default=4000)
    parser.add_argument("--skip-original", action="store_true")
    args = parser.parse_args()
    header("pipeline")
    from cropseg.datasets import make_synthetic_scene

    folder = Path(tempfile.mkdtemp(prefix="cropseg-bench-"))
    t = time.perf_counter()
    paths = make_synthetic_scene(folder, size=(args.rows, args.cols), seed=7)
    print(f"synthetic {args.rows} x {args.cols} PSScene generated in {time.perf_counter() - t:.1f} s ({folder})")
    mpx = args.rows * args.cols / 1e6
    train = in_child(run_training, paths)
    print(f"cropseg train_model on a 2048 x 2048 window: {train['total']:.1f} s, k={train['k']}, "
          f"peak RSS {train['rss_mb']:.0f} MB")
    ours = in_child(run_cropseg, paths)
    ours["total"] += train["total"]
    print(f"cropseg segment_scene: {ours['total'] - train['total']:.1f} s "
          f"({mpx / (ours['total'] - train['total']):.2f} MP/s), {ours['fields']} fields, "
          f"peak RSS {ours['rss_mb']:.0f} MB")
    if args.skip_original:
        return
    orig = in_child(run_original, paths)
    print(f"original: {orig['total']:.1f} s ({mpx / orig['total']:.2f} MP/s; fitted on {orig['train_px']:,} px), "
          f"{orig['fields']} outlines, peak RSS {orig['rss_mb']:.0f} MB")
    print(f"\n| recipe | wall s | MP/s | peak RSS MB |\n|---|---|---|---|\n"
          f"| cropseg (tune + segment) | {ours['total']:.1f} | {mpx / ours['total']:.2f} | {ours['rss_mb']:.0f} |\n"
          f"| original recipe | {orig['total']:.1f} | {mpx / orig['total']:.2f} | {orig['rss_mb']:.0f} |\n"
          f"| ratio | {orig['total'] / ours['total']:.1f}x faster | | |")


if __name__ == "__main__":
    main()
