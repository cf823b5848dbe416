"""Segment a whole (synthetic) PSScene tile by tile into field boundaries.

    python examples/segment_full_scene.py [--rows 4000 --cols 4000] [--out full-scene]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cropseg
from cropseg.datasets import make_synthetic_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--cols", type=int, default=4000)
    parser.add_argument("--tile-size", type=int, default=2048)
    parser.add_argument("--out", default="full-scene")
    args = parser.parse_args()
    out = Path(args.out)
    paths = make_synthetic_scene(out / "scene", size=(args.rows, args.cols), seed=11)
    model = cropseg.train_model(paths.scene, paths.ground_truth, max_samples=100_000).best_estimator
    t = time.perf_counter()
    fields = cropseg.segment_scene(paths.scene, model, out=out / "classes.tif", tile_size=args.tile_size)
    cropseg.write_geojson(fields, out / "fields.geojson")
    print(f"{len(fields)} fields in {time.perf_counter() - t:.1f} s -> {out / 'fields.geojson'}")


if __name__ == "__main__":
    main()
