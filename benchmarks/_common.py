"""Helpers shared by the benchmark scripts: timing and a realistic field mask."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np


def best_of(func, repeats=3, warmup=True):
    """Minimum wall time of ``func()`` over ``repeats`` runs (after one warm-up call)."""
    if warmup:
        func()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


def field_mask(rows=8192, cols=4096, n_fields=6000, speckle=0.002, seed=0):
    """A crop mask of thousands of elliptical fields, some with holes (farmsteads), plus speckle noise."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((rows, cols), np.uint8)
    for _ in range(n_fields):
        r, c = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        a, b = (int(v) for v in rng.integers(5, 60, 2))
        cv2.ellipse(mask, (c, r), (a, b), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        if rng.random() < 0.3:
            cv2.circle(mask, (c, r), max(1, min(a, b) // 3), 0, -1)
    mask[rng.random(mask.shape) < speckle] ^= 1
    return mask


def header(title):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {title}")
    print(f"cores: {os.cpu_count()}, load average at start: {load:.2f} (ratios are measured side by side in one run)")
