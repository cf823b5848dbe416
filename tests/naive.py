"""Slow, obviously correct references for the numba kernels."""

import numpy as np


def window(img, r, c, k):
    h = k // 2
    rows = np.clip(np.arange(r - h, r + h + 1), 0, img.shape[0] - 1)
    cols = np.clip(np.arange(c - h, c + h + 1), 0, img.shape[1] - 1)
    return img[np.ix_(rows, cols)].ravel()


def is_nodata(values, nodata):
    bad = np.zeros(values.shape, bool) if nodata is None else values == nodata
    if values.dtype.kind == "f":
        bad |= np.isnan(values)
    return bad


def median(img, k, nodata):
    out = np.empty_like(img)
    for r in range(img.shape[0]):
        for c in range(img.shape[1]):
            centre = img[r, c]
            if is_nodata(np.array([centre]), nodata)[0]:
                out[r, c] = centre if nodata is None else nodata
                continue
            values = window(img, r, c, k)
            values = np.sort(values[~is_nodata(values, nodata)])
            out[r, c] = values[(len(values) - 1) // 2]
    return out


def majority(img, k, nodata):
    out = img.copy()
    for r in range(img.shape[0]):
        for c in range(img.shape[1]):
            centre = img[r, c]
            if nodata is not None and centre == nodata:
                continue
            values = window(img, r, c, k)
            if nodata is not None:
                values = values[values != nodata]
            classes, counts = np.unique(values, return_counts=True)
            best = counts.max()
            if counts[classes == centre][0] == best:
                continue
            out[r, c] = classes[counts == best][0]
    return out
