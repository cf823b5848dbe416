"""median_blur / majority_filter / remove_small_regions against cv2, scipy, skimage and rasterio, in one run.

Images: an 8192 x 4096 uint8 class map (blobby fields plus 5 % speckle); 4096 x 4096 bands: uint16
DNs, their float32 reflectance (DN x coefficient), continuous float32 and a multi-valued uint8 image.
scipy and skimage are slow, so they are timed on a row crop and scaled to megapixels per second.
Every comparison is also checked for equality where it is defined.

Run: ``.venv/bin/python benchmarks/bench_denoise.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import rasterio.features
import scipy.ndimage as ndi

from _common import best_of, field_mask, header
from cropseg.denoise import majority_filter, median_blur, remove_small_regions


def mps(pixels, seconds):
    return pixels / seconds / 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller images, fewer k")
    args = parser.parse_args()
    header("denoise")
    rows, cols = (2048, 2048) if args.quick else (8192, 4096)
    mask = field_mask(rows, cols, n_fields=6000 * rows * cols // (8192 * 4096) + 50, speckle=0.05)
    with_nodata = mask.copy()
    with_nodata[: rows // 20] = 255
    t = time.perf_counter()
    median_blur(mask[:64, :64], 3)
    majority_filter(mask[:64, :64], 3)
    print(f"first calls (numba cache load or compile): {time.perf_counter() - t:.2f} s")
    n = mask.size
    print("\n| image | k | ours | MP/s | reference | MP/s | ours / ref | equal |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (3, 5, 7, 15) if not args.quick else (3, 5, 7):
        ours = best_of(lambda: median_blur(mask, k))
        ref = best_of(lambda: cv2.medianBlur(mask, k))
        equal = np.array_equal(median_blur(mask, k), cv2.medianBlur(mask, k))
        print(f"| class map u8 | {k} | median_blur | {mps(n, ours):.0f} | cv2.medianBlur | {mps(n, ref):.0f} "
              f"| {ref / ours:.2f} | {equal} |")
        maj = best_of(lambda: majority_filter(mask, k, nodata=None))
        equal = np.array_equal(majority_filter(mask, k, nodata=None), cv2.medianBlur(mask, k))
        print(f"| class map u8 | {k} | majority_filter | {mps(n, maj):.0f} | cv2.medianBlur | {mps(n, ref):.0f} "
              f"| {ref / maj:.2f} | {equal} |")
        nd = best_of(lambda: median_blur(with_nodata, k, nodata=255), repeats=1)
        print(f"| class map u8 + nodata | {k} | median_blur(nodata) | {mps(n, nd):.0f} | median_blur | "
              f"{mps(n, ours):.0f} | {ours / nd:.2f} | - |")
        ndm = best_of(lambda: majority_filter(with_nodata, k), repeats=1)
        print(f"| class map u8 + nodata | {k} | majority_filter(nodata) | {mps(n, ndm):.0f} | majority_filter | "
              f"{mps(n, maj):.0f} | {maj / ndm:.2f} | - |")
    try:
        from skimage.filters.rank import median as sk_median
        from skimage.morphology import footprint_rectangle

        crop = mask[:512]
        sk = best_of(lambda: sk_median(crop, footprint_rectangle((5, 5))), repeats=1)
        ours = best_of(lambda: median_blur(mask, 5))
        print(f"| class map u8 | 5 | median_blur | {mps(n, ours):.0f} | skimage rank.median | "
              f"{mps(crop.size, sk):.1f} | {mps(n, ours) / mps(crop.size, sk):.0f} | - |")
    except ImportError:
        pass
    side = 1024 if args.quick else 4096
    rng = np.random.default_rng(1)
    smooth = ndi.uniform_filter(rng.random((side, side)), 9)
    dn = (smooth * 3000 + rng.normal(0, 50, smooth.shape)).clip(1, 65535).astype(np.uint16)
    bands = {
        # A band of 16-bit DNs, and its top-of-atmosphere reflectance (DN x coefficient, as Planet's
        # radiance products give it): float32 with at most 65 536 distinct values.
        "reflectance uint16": dn,
        "reflectance float32": (dn * 2.37e-5).astype(np.float32),
        # Continuous float32 (every value distinct), e.g. after resampling: no global rank transform
        # (ranks tile by tile for k >= 11).
        "continuous float32": (smooth * 3000 + rng.normal(0, 50, smooth.shape)).astype(np.float32),
        # Multi-valued uint8 (a quantized index, not a class map) against cv2.
        "multi-valued u8": (smooth * 400 - 100 + rng.normal(0, 12, smooth.shape)).clip(0, 255).astype(np.uint8),
    }
    for name, band in bands.items():
        crop = band[:128]
        ks = (3, 5, 7) if args.quick else (3, 5, 7, 9, 11, 15, 21, 31)
        if name == "multi-valued u8" and not args.quick:
            ks = (3, 5, 7, 9, 11, 15, 21, 31, 61)
        for k in ks:
            image = band
            ours = mps(image.size, best_of(lambda: median_blur(image, k), repeats=1))
            if band.dtype == np.uint8:
                label, ref = "cv2.medianBlur", mps(image.size, best_of(lambda: cv2.medianBlur(image, k), repeats=1))
                equal = np.array_equal(median_blur(image, k), cv2.medianBlur(image, k))
            else:
                label = "scipy median_filter"
                ref = mps(crop.size, best_of(lambda: ndi.median_filter(crop, size=k, mode="nearest"), 1, warmup=False))
                equal = np.array_equal(median_blur(crop, k), ndi.median_filter(crop, size=k, mode="nearest"))
            print(f"| {name} | {k} | median_blur | {ours:.1f} | {label} | {ref:.1f} | {ours / ref:.1f} | {equal} |")
            if name in ("reflectance float32", "continuous float32"):
                # The band as read_scene gives it: NaN in a stripe and in scattered masked pixels.
                masked = image.copy()
                masked[: len(masked) // 20] = np.nan
                masked[rng.random(masked.shape) < 0.01] = np.nan
                nan = mps(image.size, best_of(lambda: median_blur(masked, k), repeats=1))
                print(f"| {name} + NaN | {k} | median_blur(NaN) | {nan:.1f} | median_blur | {ours:.1f} | "
                      f"{nan / ours:.2f} | - |")
    for size in (10, 100):
        ours = best_of(lambda: remove_small_regions(with_nodata, size), repeats=1)
        ref = best_of(
            lambda: rasterio.features.sieve(with_nodata, size, connectivity=4, mask=with_nodata != 255), repeats=1
        )
        print(f"| class map u8 + nodata | min {size} px | remove_small_regions | {mps(n, ours):.0f} | "
              f"rasterio sieve | {mps(n, ref):.0f} | {ref / ours:.2f} | - |")


if __name__ == "__main__":
    main()
