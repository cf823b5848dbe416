"""Train a tuned KNN on the Sacramento train scene and evaluate it on the test scene.

    python examples/train_and_evaluate.py [--out results]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cropseg
from cropseg.datasets import sacramento


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    parser.add_argument("--max-samples", type=int, default=100_000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train, test = sacramento("train"), sacramento("test")
    train_scene = cropseg.read_scene(train.scene)
    tuning = cropseg.train_model(train_scene, train.ground_truth, max_samples=args.max_samples)
    print("best:", tuning.best_params, f"CV weighted F1 {tuning.best_score:.3f}")
    tuning.plot(out / "tuning.png")
    cropseg.save_model(tuning.best_estimator, out / "model.npz")

    test_scene = cropseg.read_scene(test.scene)
    predicted = cropseg.median_blur(cropseg.predict_scene(tuning.best_estimator, test_scene), 5, nodata=cropseg.NODATA)
    truth = cropseg.rasterize_labels(test.ground_truth, like=test_scene)
    report = cropseg.evaluate(truth, predicted)
    print(report.text)
    report.to_json(out / "report.json")
    agreement = cropseg.field_agreement(test.ground_truth, predicted, like=test_scene)
    print(f"{(~agreement.agrees).sum()} of {len(agreement)} surveyed fields look non-crop in the image")


if __name__ == "__main__":
    main()
