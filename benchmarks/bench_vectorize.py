"""vectorize against rasterio.features.shapes + shapely.geometry.shape, each building a GeoDataFrame.

Masks: an 8192 x 4096 realistic field mask (thousands of fields, holes, speckle), its cv2.medianBlur(5)
version, and the real Sacramento ground truth rasterized at 3 m. For each: wall time of both paths,
the ratio, polygon counts, the share of valid polygons, whether the two cover the same area, and
the share of valid polygons with ``holes=False``.

Run: ``.venv/bin/python benchmarks/bench_vectorize.py [--quick]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from affine import Affine

import cropseg
from _common import best_of, field_mask, header
from cropseg.labels import rasterize_labels, read_ground_truth
from cropseg.vectorize import vectorize

UTM = "EPSG:32610"
DATA = Path(cropseg.__file__).parent / "datasets" / "data" / "sacramento"


def rasterio_path(mask, transform, connectivity):
    shapes = rasterio.features.shapes(mask, mask=mask == 1, connectivity=connectivity, transform=transform)
    geoms = [shapely.geometry.shape(g) for g, _ in shapes]
    return gpd.GeoDataFrame(geometry=geoms, crs=UTM)


def sacramento_mask(split):
    aoi = read_ground_truth(DATA / f"aoi-{split}.geojson").to_crs(UTM)
    left, bottom, right, top = aoi.total_bounds
    transform = Affine(3.0, 0, np.floor(left / 3) * 3, 0, -3.0, np.ceil(top / 3) * 3)
    shape = (int(np.ceil((transform.f - bottom) / 3)), int(np.ceil((right - transform.c) / 3)))
    labels = rasterize_labels(DATA / f"ground-truth-{split}.geojson", transform=transform, shape=shape, crs=UTM)
    return labels, transform


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    header("vectorize")
    transform = Affine(3.0, 0, 600000.0, 0, -3.0, 4300000.0)
    rows, cols = (2048, 2048) if args.quick else (8192, 4096)
    raw = field_mask(rows, cols, n_fields=6000 * rows * cols // (8192 * 4096) + 50)
    cases = [("field mask + speckle", raw, transform), ("median-filtered", cv2.medianBlur(raw, 5), transform)]
    for split in ("train", "test"):
        mask, t = sacramento_mask(split)
        cases.append((f"Sacramento {split} 3 m", mask, t))
    vectorize(raw[:64, :64], transform, UTM)  # load the numba kernels
    print(
        "\n| mask | size | conn | ours s | rasterio s | ratio | polygons (ours / rio) | valid (ours / rio) "
        "| same cover | valid, holes=False |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, mask, t in cases:
        for conn in (8, 4):
            ours = best_of(lambda: vectorize(mask, t, UTM, connectivity=conn), repeats=2)
            ref = best_of(lambda: rasterio_path(mask, t, conn), repeats=1)
            a = vectorize(mask, t, UTM, connectivity=conn)
            b = rasterio_path(mask, t, conn)
            filled = vectorize(mask, t, UTM, connectivity=conn, holes=False)
            same = abs(a.area_m2.sum() - shapely.area(b.geometry.values).sum()) < 1e-6 * a.area_m2.sum()
            print(
                f"| {name} | {mask.shape[0]}x{mask.shape[1]} | {conn} | {ours:.3f} | {ref:.3f} | {ref / ours:.2f} "
                f"| {len(a)} / {len(b)} | {a.is_valid.mean():.1%} / {b.is_valid.mean():.1%} | {same} "
                f"| {filled.is_valid.mean():.1%} |"
            )


if __name__ == "__main__":
    main()
