"""rasterize_labels against rasterio.features.rasterize, same polygons and grids, in one run.

Cases: the real Sacramento ground truth (train, test) on EPSG:32610 grids covering each AOI at 3 m and
1 m, and a dense synthetic set (>= 20 000 fields, some with holes) on a 10 000 x 10 000 grid; each with
all_touched False and True. Both functions get the same polygons already in the grid's CRS (rasterio
gets ``(geometry, 1)`` pairs, as a user would pass them), so the times cover the whole call. Every case
also checks that the two rasters are equal.

Run: ``.venv/bin/python benchmarks/bench_labels.py [--repeats N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import geopandas as gpd
import numba
import numpy as np
import rasterio.features
import shapely
from affine import Affine

import cropseg
from cropseg.labels import rasterize_labels, read_ground_truth

DATA = Path(cropseg.__file__).parent / "datasets" / "data" / "sacramento"
UTM = "EPSG:32610"


def aoi_grid(name, res):
    aoi = read_ground_truth(DATA / f"aoi-{name}.geojson").to_crs(UTM)
    left, bottom, right, top = aoi.total_bounds
    x0, y0 = np.floor(left / res) * res, np.ceil(top / res) * res
    shape = (int(np.ceil((y0 - bottom) / res)), int(np.ceil((right - x0) / res)))
    return Affine(res, 0, x0, 0, -res, y0), shape


def dense_fields(n_side=150, size=10_000, seed=0):
    """n_side**2 jittered hexagon-ish fields tiling a size x size 1 m grid; every 5th has a hole."""
    rng = np.random.default_rng(seed)
    cell = size / n_side
    transform = Affine(1.0, 0, 500_000.0, 0, -1.0, 4_300_000.0)
    i, j = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    cx = (j.ravel() + 0.5) * cell + rng.uniform(-0.1, 0.1, i.size) * cell
    cy = (i.ravel() + 0.5) * cell + rng.uniform(-0.1, 0.1, i.size) * cell
    angles = np.linspace(0, 2 * np.pi, 7)[:-1]
    geoms = []
    for k, (x, y) in enumerate(zip(cx, cy, strict=True)):
        r = cell * rng.uniform(0.3, 0.48, angles.size)
        ring = np.c_[x + r * np.cos(angles), y + r * np.sin(angles)]
        holes = []
        if k % 5 == 0:
            holes = [np.c_[x + 0.1 * cell * np.cos(angles), y + 0.1 * cell * np.sin(angles)]]
        px = shapely.Polygon(ring, holes)
        geoms.append(shapely.affinity.affine_transform(px, [1, 0, 0, -1, 500_000.0, 4_300_000.0]))
    return gpd.GeoDataFrame(geometry=geoms, crs=UTM), transform, (size, size)


def interleaved(fn_a, fn_b, repeats):
    """Median ms of each function, alternating calls so that load from other processes hits both."""
    times_a, times_b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out_a = fn_a()
        t1 = time.perf_counter()
        out_b = fn_b()
        t2 = time.perf_counter()
        times_a.append(t1 - t0)
        times_b.append(t2 - t1)
    return statistics.median(times_a) * 1e3, statistics.median(times_b) * 1e3, out_a, out_b


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="skip the 1 m and dense cases")
    args = parser.parse_args()

    cases = []
    for name in ("train", "test"):
        gt = read_ground_truth(DATA / f"ground-truth-{name}.geojson").to_crs(UTM)
        for res in (3.0,) if args.quick else (3.0, 1.0):
            cases.append((f"sacramento {name} @ {res:g} m", gt, *aoi_grid(name, res), args.repeats))
    if not args.quick:
        dense, transform, shape = dense_fields()
        cases.append((f"dense {len(dense)} fields", dense, transform, shape, max(3, args.repeats // 3)))

    # Load / compile the kernel before timing.
    rasterize_labels(cases[0][1], transform=cases[0][2], shape=cases[0][3], crs=UTM, all_touched=True)

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"numba threads: {numba.get_num_threads()}, load average {load} (shared machine: ratios are noisy)")
    print("ms = median of interleaved repeats; ratio = rasterio ms / ours ms")
    header = f"{'case':34} {'grid':>13} {'all_touched':>11} {'ours ms':>9} {'rasterio ms':>11}"
    header += f" {'ratio':>6} equal"
    print(header)
    print("-" * len(header))
    for label, gt, transform, shape, repeats in cases:
        shapes = [(g, 1) for g in gt.geometry]
        for all_touched in (False, True):
            ours_ms, ref_ms, ours, ref = interleaved(
                lambda gt=gt, t=transform, s=shape, a=all_touched: rasterize_labels(
                    gt, transform=t, shape=s, crs=UTM, all_touched=a
                ),
                lambda sh=shapes, t=transform, s=shape, a=all_touched: rasterio.features.rasterize(
                    sh, out_shape=s, transform=t, all_touched=a, dtype="uint8"
                ),
                repeats,
            )
            equal = bool(np.array_equal(ours, ref))
            grid = f"{shape[0]}x{shape[1]}"
            print(
                f"{label:34} {grid:>13} {all_touched!s:>11} {ours_ms:9.1f} {ref_ms:11.1f} "
                f"{ref_ms / ours_ms:6.2f} {equal}"
            )


if __name__ == "__main__":
    main()
