"""The original recipe against cropseg's tuned KNN on the synthetic Sacramento scenes, in one process.

(a) original: ``KNeighborsClassifier(n_neighbors=15)`` fitted on every labelled train pixel, predicting
    every valid test pixel;
(b) cropseg: ``train_model`` (tune_knn over odd k 1-31 and both weightings, spatially blocked 5-fold
    CV on a 200 k stratified sample, refit on 100 k) then ``predict_scene``.
Prints wall time and weighted F1 (test scene) of both, their ratio, cropseg's prediction throughput,
and agreement of ``predict_scene`` with scikit-learn given the same training set and parameters.

Run: ``.venv/bin/python benchmarks/bench_classify.py [--quick]`` (quick skips the slow original recipe
and subsamples its comparison).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier

from _common import header
from cropseg import predict_scene, rasterize_labels, read_scene, to_samples
from cropseg.datasets import sacramento
from cropseg.pipeline import train_model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    header("classify")
    train, test = sacramento("train"), sacramento("test")
    train_scene, test_scene = read_scene(train.scene), read_scene(test.scene)
    train_labels = rasterize_labels(train.ground_truth, like=train_scene)
    test_labels = rasterize_labels(test.ground_truth, like=test_scene)
    keep = (test_labels != 255) & test_scene.valid

    def weighted_f1(class_map):
        both = keep & (class_map != 255)
        return f1_score(test_labels[both], class_map[both], average="weighted")

    t = time.perf_counter()
    tuning = train_model(train_scene, train.ground_truth)
    t_tune = time.perf_counter() - t
    model = tuning.best_estimator
    t = time.perf_counter()
    ours_map = predict_scene(model, test_scene)
    t_pred = time.perf_counter() - t
    n_pred = int(test_scene.valid.sum())
    f1_ours = weighted_f1(ours_map)
    print(f"cropseg: tuned {tuning.best_params} in {t_tune:.1f} s, predicted {n_pred:,} px in {t_pred:.1f} s "
          f"({n_pred / t_pred / 1e6:.2f} M px/s), weighted F1 {f1_ours:.4f}")

    # Same training set and parameters in scikit-learn: predictions must agree (ties aside).
    sk = KNeighborsClassifier(n_neighbors=model.n_neighbors, weights=model.weights, n_jobs=-1)
    sk.fit(model._fit_X, model.classes_[model._fit_y])
    sample = np.flatnonzero(test_scene.valid.ravel())[:: 1 if not args.quick else 20]
    pixels = test_scene.reflectance.reshape(4, -1)[:, sample].T.astype(np.float64)
    t = time.perf_counter()
    sk_pred = sk.predict(pixels)
    t_sk = time.perf_counter() - t
    differ = int(np.sum(sk_pred != ours_map.ravel()[sample]))
    print(f"scikit-learn with the same model: {len(sample) / t_sk / 1e6:.2f} M px/s; predictions differing: "
          f"{differ} of {len(sample):,} (distance ties)")

    if args.quick:
        return
    X, y = to_samples(train_scene, train_labels)
    t = time.perf_counter()
    original = KNeighborsClassifier(n_neighbors=15, n_jobs=-1).fit(X, y)
    pixels = test_scene.reflectance[:, test_scene.valid].T
    pred = original.predict(pixels)
    t_orig = time.perf_counter() - t
    orig_map = np.full(test_scene.shape, 255, np.uint8)
    orig_map[test_scene.valid] = pred
    f1_orig = weighted_f1(orig_map)
    t_ours = t_tune + t_pred
    print(f"original recipe: fit on {len(y):,} px + predict {len(pixels):,} px in {t_orig:.1f} s, "
          f"weighted F1 {f1_orig:.4f}")
    print(f"\n| recipe | wall s | weighted F1 |\n|---|---|---|\n| original k=15, all pixels | {t_orig:.1f} | "
          f"{f1_orig:.4f} |\n| cropseg tuned | {t_ours:.1f} | {f1_ours:.4f} |\n"
          f"| ratio | {t_orig / t_ours:.2f}x faster | {f1_ours - f1_orig:+.4f} |")


if __name__ == "__main__":
    main()
