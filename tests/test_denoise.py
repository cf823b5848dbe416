import json
import os
import subprocess
import sys

import cv2
import numba
import numpy as np
import pytest
import rasterio.features
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cropseg import InvalidInputError, denoise
from cropseg._core.median import median_gather, median_ph_u8
from cropseg._networks import BOTH, COPY, MAX_ONLY, MIN_ONLY, tile_median_program
from cropseg.denoise import _dense_ranks, _median_tiled, majority_filter, median_blur, remove_small_regions
from cropseg.scene import iter_windows
from tests import naive

DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64]
SHAPES = [(1, 1), (1, 9), (9, 1), (6, 7), (8, 8), (13, 4), (4, 13)]


def random_image(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ksize", [3, 5, 7, 15, 25])
def test_median_equals_scipy_and_cv2(dtype, shape, ksize):
    rng = np.random.default_rng(abs(hash((shape, ksize))) % 2**32)
    img = random_image(rng, shape, dtype)
    ours = median_blur(img, ksize)
    assert ours.dtype == img.dtype
    np.testing.assert_array_equal(ours, ndi.median_filter(img, size=ksize, mode="nearest"))
    if dtype == np.uint8 and min(shape) > 1:
        np.testing.assert_array_equal(ours, cv2.medianBlur(img, ksize))


@pytest.mark.parametrize("ksize", [3, 5, 7, 9, 13, 23, 25, 31, 61, 255])
def test_median_uint8_equals_cv2_on_larger_images(ksize):
    # Every uint8 path (network, Huang, Perreault-Hebert): few levels with ties, and all 256 levels.
    rng = np.random.default_rng(ksize)
    for img in ((rng.random((70, 90)) * 5).astype(np.uint8) * 50, rng.integers(0, 256, (90, 300)).astype(np.uint8)):
        np.testing.assert_array_equal(median_blur(img, ksize), cv2.medianBlur(img, ksize))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ksize", [5, 7, 9, 11, 13, 15, 31])
def test_median_network_on_larger_images_equals_scipy(dtype, ksize):
    # Wider than the kernel's column blocks, with continuous values and with heavy ties.
    rng = np.random.default_rng(ksize)
    for img in (random_image(rng, (19, 1400), dtype), rng.integers(0, 3, (19, 1400)).astype(dtype)):
        np.testing.assert_array_equal(median_blur(img, ksize), ndi.median_filter(img, size=ksize, mode="nearest"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ksize", [7, 11, 15, 31, 41])
def test_median_of_many_distinct_floats_on_larger_images_equals_scipy(dtype, ksize):
    # More than 65 536 distinct values: the separable network (k <= 31), else tile by tile as ranks
    # of each tile's values.
    img = np.random.default_rng(ksize).normal(size=(50, 1400)).astype(dtype)
    assert len(np.unique(img)) > 65536
    np.testing.assert_array_equal(median_blur(img, ksize), ndi.median_filter(img, size=ksize, mode="nearest"))


@pytest.mark.parametrize("ksize", [11, 21])
def test_median_uint16_histogram_across_bin_edges_equals_scipy(ksize):
    # The tracked median steps value by value inside 256-value bins and bin by bin across them.
    rng = np.random.default_rng(ksize)
    edges = rng.integers(0, 257, (40, 300)) * 256 + rng.integers(-3, 4, (40, 300))
    smooth = np.cumsum(rng.integers(-40, 41, (40, 300)), axis=1) + 30000
    for img in (edges.clip(0, 65535).astype(np.uint16), smooth.clip(0, 65535).astype(np.uint16)):
        np.testing.assert_array_equal(median_blur(img, ksize), ndi.median_filter(img, size=ksize, mode="nearest"))


def test_median_stack_filters_each_band():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 1000, (3, 20, 30)).astype(np.uint16)
    out = np.empty_like(stack)
    assert median_blur(stack, 5, out=out) is out
    for b in range(3):
        np.testing.assert_array_equal(out[b], ndi.median_filter(stack[b], size=5, mode="nearest"))


def placements(rng, shape):
    yield "random", rng.random(shape) < 0.3
    rows = np.zeros(shape, bool)
    rows[::3] = True
    yield "rows", rows
    yield "all", np.ones(shape, bool)
    yield "none", np.zeros(shape, bool)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ksize", [3, 5, 9])
def test_nodata_median_against_naive(dtype, ksize):
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (5, 9), (12, 7)]:
        for _, where in placements(rng, shape):
            img = random_image(rng, shape, dtype)
            nodata = 0 if np.dtype(dtype).kind in "ui" else -9999.0
            img[where] = nodata
            np.testing.assert_array_equal(median_blur(img, ksize, nodata=nodata), naive.median(img, ksize, nodata))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ksize", [3, 7, 27])
def test_nodata_median_of_a_band_against_naive(dtype, ksize):
    # A band with nodata rows and scattered nodata (the histogram paths, floats as ranks), at the
    # extremes of the value range and at uint16 bin edges.
    rng = np.random.default_rng(ksize)
    if np.dtype(dtype).kind == "f":
        img = (rng.integers(0, 3000, (30, 41)) * 2.37e-5).astype(dtype)
    else:
        info = np.iinfo(dtype)
        img = rng.choice([info.min, info.max, 255, 256, 511, 512, 1000], (30, 41)).astype(dtype)
    nodata = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else -1.0
    img[:3] = nodata
    img[rng.random(img.shape) < 0.2] = nodata
    np.testing.assert_array_equal(median_blur(img, ksize, nodata=nodata), naive.median(img, ksize, nodata))
    if np.dtype(dtype).kind == "f":
        img[rng.random(img.shape) < 0.1] = np.nan  # NaN and nodata together
        np.testing.assert_array_equal(median_blur(img, ksize, nodata=nodata), naive.median(img, ksize, nodata))


@pytest.mark.parametrize("ksize", [3, 5, 9, 21])
def test_nodata_median_wider_than_a_block_against_naive(ksize, monkeypatch):
    # The separable network works on blocks of at least 64 tiles of 8 columns: cross their edges.
    monkeypatch.setattr(denoise, "NETWORK_SLOT_BYTES", 1)
    rng = np.random.default_rng(ksize)
    for img, nodata in ((rng.integers(0, 9, (9, 600)).astype(np.uint16), 0), (rng.normal(size=(9, 600)), np.nan)):
        img[rng.random(img.shape) < 0.3] = nodata
        expected = naive.median(img, ksize, None if np.isnan(nodata) else nodata)
        np.testing.assert_array_equal(median_blur(img, ksize, nodata=nodata), expected)
        full = np.nan_to_num(img, nan=5.0)
        np.testing.assert_array_equal(median_blur(full, ksize), naive.median(full, ksize, None))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([np.uint8, np.uint16, np.int16, np.float32]),
    st.sampled_from([5, 7, 9, 13, 21]),
    st.tuples(st.integers(1, 30), st.integers(1, 45)),
    st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.5, 0.9, 1.0]),
    st.integers(0, 2**32 - 1),
)
def test_nodata_network_against_naive(dtype, ksize, shape, fraction, seed):
    # Every spread of the nodata-aware network programs: from no invalid value to all invalid,
    # scattered and in whole rows (blocks whose centres are all invalid skip the program).
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 4, shape).astype(dtype) if seed % 2 else random_image(rng, shape, dtype)
    nodata = 0 if np.dtype(dtype).kind in "ui" else -9999.0
    img[rng.random(shape) < fraction] = nodata
    img[: shape[0] * (seed % 3) // 4] = nodata
    out = np.empty_like(img)
    denoise._median_network(img, ksize, img.dtype.type(nodata), out)
    np.testing.assert_array_equal(out, naive.median(img, ksize, nodata))


@pytest.mark.parametrize("ksize", [5, 9, 15, 23])
def test_nodata_median_of_many_distinct_floats_on_larger_images_against_naive(ksize):
    # More than 65 535 distinct valid values: the separable network (k <= 21), else tile by tile as
    # ranks of each tile's values; a window across tile edges.
    rng = np.random.default_rng(2)
    img = rng.normal(size=(280, 280)).astype(np.float32)
    img[rng.random(img.shape) < 0.02] = np.nan
    img[150:160] = np.nan
    assert len(np.unique(img[~np.isnan(img)])) > 65535
    window = (slice(140, 152), slice(40, 60))
    out = median_blur(img, ksize)[window]
    np.testing.assert_array_equal(out, naive.median(img, ksize, None)[window])


@pytest.mark.parametrize("ksize", [3, 7, 15])
def test_gathering_kernel_against_scipy_and_naive(ksize):
    # The fallback beyond 239 x 239 windows (images with more than 65 535 distinct values), checked
    # on small windows.
    rng = np.random.default_rng(ksize)
    img = rng.normal(size=(23, 31))
    out = np.empty_like(img)
    median_gather(img, ksize, False, 0.0, out)
    np.testing.assert_array_equal(out, ndi.median_filter(img, size=ksize, mode="nearest"))
    img[rng.random(img.shape) < 0.3] = np.nan
    median_gather(img, ksize, True, np.nan, out)
    np.testing.assert_array_equal(out, naive.median(img, ksize, None))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from([np.float32, np.float64]).flatmap(
        lambda t: arrays(
            t, st.tuples(st.integers(1, 17), st.integers(1, 17)), elements=st.floats(width=t().itemsize * 8)
        )
    ),
    st.sampled_from([3, 5, 9, 11]),
    st.integers(1, 6),
)
def test_tiled_rank_median_against_scipy_and_naive(monkeypatch, img, ksize, tile):
    # Small tiles (many edges), infinities, signed zeros, repeats, and NaN as nodata.
    monkeypatch.setattr(denoise, "TILE_SIDE", tile)
    out = np.empty_like(img)
    if np.isnan(img).any():
        _median_tiled(img, ksize, img.dtype.type(np.nan), out)
        np.testing.assert_array_equal(out, naive.median(img, ksize, None))
    else:
        _median_tiled(img, ksize, None, out)
        np.testing.assert_array_equal(out, ndi.median_filter(img, size=ksize, mode="nearest"))
        img[0, 0] = -7.0
        _median_tiled(img, ksize, img.dtype.type(-7.0), out)
        np.testing.assert_array_equal(out, naive.median(img, ksize, -7.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_is_nodata_for_floats(dtype):
    rng = np.random.default_rng(3)
    img = rng.normal(size=(11, 8)).astype(dtype)
    img[rng.random(img.shape) < 0.25] = np.nan
    out = median_blur(img, 3)
    np.testing.assert_array_equal(out, naive.median(img, 3, None))
    assert np.isnan(out[np.isnan(img)]).all()


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.sampled_from([0, 1, 2, 255])),
    st.sampled_from([3, 5, 7]),
)
def test_majority_against_naive(class_map, ksize):
    np.testing.assert_array_equal(majority_filter(class_map, ksize), naive.majority(class_map, ksize, 255))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 25), st.integers(1, 25)), elements=st.sampled_from([0, 1])),
    st.sampled_from([3, 5, 7, 9, 11]),
)
def test_majority_equals_median_on_binary_maps(class_map, ksize):
    np.testing.assert_array_equal(majority_filter(class_map, ksize, nodata=None), median_blur(class_map, ksize))


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint16, st.tuples(st.integers(1, 20), st.integers(1, 20))), st.sampled_from([3, 5, 7, 9, 11, 13]))
def test_median_hypothesis_uint16(img, ksize):
    np.testing.assert_array_equal(median_blur(img, ksize), ndi.median_filter(img, size=ksize, mode="nearest"))


BIN_EDGES = st.sampled_from([0, 1, 15, 16, 17, 128, 255])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda cols: arrays(np.uint8, st.tuples(st.integers(1, 30), st.just(cols)), elements=BIN_EDGES)
        | arrays(np.uint8, st.tuples(st.integers(1, 30), st.just(cols)))
    ),
    st.sampled_from([13, 15, 25, 31]),
    st.sampled_from([1, 3, 512]),
)
def test_median_hypothesis_uint8_constant_time(img, ksize, stripe):
    # Perreault-Hebert's median with its coarse bin carried along rows (values on bin edges and
    # few distinct values), in narrow stripes, against OpenCV.
    out = np.empty_like(img)
    median_ph_u8(img, ksize, 2, stripe, out)
    np.testing.assert_array_equal(out, cv2.medianBlur(img, ksize))


@settings(max_examples=150, deadline=None)
@given(
    st.tuples(st.sampled_from([3, 5, 7, 9, 11, 15]), st.integers(1, 9), st.integers(1, 9)).flatmap(
        lambda kt: st.tuples(
            st.just(kt),
            st.integers(0, kt[0] ** 2 // 2) | st.just(0),
            arrays(
                np.int64,
                (kt[1] + kt[0] - 1, kt[2] + kt[0] - 1),
                elements=st.integers(0, 3) | st.integers(-1000, 1000),
            ),
        )
    )
)
def test_tile_median_program_gives_every_windows_ranks(case):
    # The separable-network programs themselves, run in numpy on one tile with its margins (ties
    # and distinct values): each window's ranks k*k//2 - spread .. k*k//2, for tile shapes and
    # sizes beyond those the kernel uses (tiles wider than a window have an empty shared core).
    (k, tile_rows, tile_cols), spread, block = case
    program, outputs, n_slots = tile_median_program(k, tile_rows, tile_cols, spread)
    slots = np.zeros(n_slots, dtype=np.int64)
    slots[: block.size] = block.reshape(-1)
    for a, b, kind in program:
        lo, hi = min(slots[a], slots[b]), max(slots[a], slots[b])
        if kind == COPY:
            slots[b] = slots[a]
        if kind in (MIN_ONLY, BOTH):
            slots[a] = lo
        if kind in (MAX_ONLY, BOTH):
            slots[b] = hi
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(block, (k, k)).reshape(tile_rows, tile_cols, -1))
    wanted = windows[:, :, k * k // 2 - spread : k * k // 2 + 1]
    np.testing.assert_array_equal(slots[outputs].reshape(wanted.shape), wanted)


def test_tile_median_program_rejects_a_spread_beyond_the_lowest_rank():
    with pytest.raises(ValueError, match=r"spread must be 0 \.\. 12 for k = 5, got 13"):
        tile_median_program(5, 2, 2, 13)


def test_big_endian_input_is_filtered_in_native_order():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4, (20, 30)).astype(np.uint16)
    swapped = img.astype(">u2")
    for ksize in (3, 5, 11):
        np.testing.assert_array_equal(median_blur(swapped, ksize), median_blur(img, ksize))
        np.testing.assert_array_equal(median_blur(swapped, ksize, nodata=3), median_blur(img, ksize, nodata=3))
        np.testing.assert_array_equal(majority_filter(swapped, ksize), majority_filter(img, ksize))
    np.testing.assert_array_equal(remove_small_regions(swapped, 5), remove_small_regions(img, 5))


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from([np.float32, np.float64]).flatmap(
        lambda t: arrays(
            t,
            st.tuples(st.integers(1, 15), st.integers(1, 15)),
            elements=st.floats(allow_nan=False, width=64 if t == np.float64 else 32),
        )
    )
)
def test_rank_transform_keeps_every_bit_and_the_order(img):
    ranks, values, _ = _dense_ranks(img, None)
    key = np.uint32 if img.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(values[ranks].view(key), img.view(key))  # -0.0 stays -0.0
    # Smaller values have smaller ranks (equal ones, -0.0 and 0.0, may differ).
    order = np.lexsort((ranks.ravel(), img.ravel()))
    assert (np.diff(ranks.ravel()[order].astype(np.int64)) >= 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_transform_in_chunks(monkeypatch, dtype):
    # The first pass numbers each chunk's values on its own: chunks that share some values and not
    # others, signed zeros, NaN and nodata, merged into one order.
    monkeypatch.setattr(denoise, "RANK_CHUNK", 700)
    rng = np.random.default_rng(3)
    pool = np.concatenate([rng.normal(size=3000), [-0.0, 0.0, np.inf, -np.inf]]).astype(dtype)
    img = pool[rng.integers(0, len(pool), (90, 80))]
    img[45:] = pool[rng.integers(2000, len(pool), (45, 80))]  # the later chunks see other values
    ranks, values, invalid = _dense_ranks(img, None)
    key = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(values[ranks].view(key), img.view(key))
    order = np.lexsort((ranks.ravel(), img.ravel()))
    assert invalid is None and (np.diff(ranks.ravel()[order].astype(np.int64)) >= 0).all()
    img[rng.random(img.shape) < 0.1] = np.nan
    img[rng.random(img.shape) < 0.1] = -5
    for ksize in (7, 9):
        np.testing.assert_array_equal(median_blur(img, ksize, nodata=-5), naive.median(img, ksize, -5))
    # More than 65 536 distinct values in all, though fewer in each chunk: no dense ranks.
    img = rng.normal(size=(300, 250)).astype(dtype)
    assert _dense_ranks(img, None) is None
    np.testing.assert_array_equal(median_blur(img, 11), ndi.median_filter(img, size=11, mode="nearest"))


@settings(deadline=None)
@given(
    arrays(
        np.float32, st.tuples(st.integers(1, 20), st.integers(1, 20)), elements=st.floats(allow_nan=False, width=32)
    ),
    st.sampled_from([3, 5, 7, 9]),
)
def test_median_hypothesis_float32(img, ksize):
    # Infinities, signed zeros and repeated values through the comparator networks (k < 7) and as
    # uint16 ranks (k >= 7: a small image has fewer than 65 536 distinct values).
    np.testing.assert_array_equal(median_blur(img, ksize), ndi.median_filter(img, size=ksize, mode="nearest"))


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("min_pixels", [2, 5, 20])
def test_remove_small_regions_equals_sieve(connectivity, min_pixels):
    rng = np.random.default_rng(min_pixels)
    m = (ndi.uniform_filter(rng.random((60, 70)), 3) > 0.5).astype(np.uint8)
    m[rng.random(m.shape) < 0.05] = 255
    expected = rasterio.features.sieve(m, min_pixels, connectivity=connectivity, mask=m != 255)
    expected[m == 255] = 255
    np.testing.assert_array_equal(remove_small_regions(m, min_pixels, connectivity=connectivity), expected)
    assert (remove_small_regions(m, min_pixels)[m == 255] == 255).all()


@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("median", lambda a: median_blur(a, 5)),
        ("median_nodata", lambda a: median_blur(a, 5, nodata=255)),
        ("majority", lambda a: majority_filter(a, 7)),
    ],
)
def test_tiles_with_halo_equal_whole(name, func):
    rng = np.random.default_rng(11)
    m = (ndi.uniform_filter(rng.random((90, 110)), 5) > 0.5).astype(np.uint8)
    m[rng.random(m.shape) < 0.03] = 255
    whole = func(m)
    halo = 7 // 2 if name == "majority" else 5 // 2
    tiled = np.empty_like(m)
    for core, pad in iter_windows(m.shape, tile_size=32, overlap=halo):
        part = func(m[pad.row_off : pad.row_off + pad.height, pad.col_off : pad.col_off + pad.width])
        r0, c0 = core.row_off - pad.row_off, core.col_off - pad.col_off
        tiled[core.row_off : core.row_off + core.height, core.col_off : core.col_off + core.width] = part[
            r0 : r0 + core.height, c0 : c0 + core.width
        ]
    np.testing.assert_array_equal(tiled, whole)


def test_dask_map_overlap_equals_whole():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(5)
    m = (rng.random((100, 80)) < 0.5).astype(np.uint8)
    lazy = da.from_array(m, chunks=(30, 25)).map_overlap(lambda b: majority_filter(b, 5), depth=2, boundary="nearest")
    np.testing.assert_array_equal(lazy.compute(scheduler="synchronous"), majority_filter(m, 5))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: median_blur(np.zeros((4, 4), np.uint8), 4), "odd int >= 3"),
        (lambda: median_blur(np.zeros((4, 4), np.uint8), 1), "odd int >= 3"),
        (lambda: median_blur(np.zeros((4, 4), np.int64), 3), "dtype int64 is not supported"),
        (lambda: median_blur(np.zeros((1, 2, 4, 4), np.uint8), 3), "2-D .* or 3-D"),
        (lambda: median_blur(np.zeros((4, 4), np.uint8), 3, nodata=300), "not representable in uint8"),
        (lambda: median_blur(np.zeros((4, 4), np.uint8), 3, nodata=1.5), "not representable"),
        (lambda: median_blur(np.zeros((4, 4), np.uint8), 3, out=np.zeros((4, 5), np.uint8)), "out must be"),
        (lambda: median_blur(np.zeros((4, 4), np.uint8), 3, out=np.zeros((4, 4), np.uint16)), "out must be"),
        (lambda: median_blur(np.zeros((0, 4), np.uint8), 3), "empty"),
        (lambda: majority_filter(np.zeros((4, 4), np.float32), 3), "uint8 or uint16"),
        (lambda: majority_filter(np.zeros((2, 4, 4), np.uint8), 3), "2-D"),
        (lambda: majority_filter(np.zeros((4, 4), np.uint8), 2), "odd int >= 3"),
        (lambda: remove_small_regions(np.zeros((4, 4), np.uint8), 0), "min_pixels"),
        (lambda: remove_small_regions(np.zeros((4, 4), np.uint8), 2, connectivity=6), "connectivity"),
        (lambda: remove_small_regions(np.zeros((4, 4), np.float32), 2), "class codes"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


def extremes(dtype):
    """A few values of ``dtype`` including its largest (which the 3x3 nodata median sorts nodata as)."""
    if np.dtype(dtype).kind == "f":
        return [-np.inf, -1.5, -0.0, 0.0, 2.0, np.inf, np.nan]
    info = np.iinfo(dtype)
    return [info.min, 0, 1, 7, int(info.max) - 1, info.max]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(DTYPES).flatmap(
        lambda t: st.tuples(
            arrays(t, st.tuples(st.integers(1, 9), st.integers(1, 40)), elements=st.sampled_from(extremes(t))),
            # NaN as the only nodata of floats, or with a finite nodata value.
            st.sampled_from([None if v != v else v for v in extremes(t) if not np.isinf(v)]),
        )
    )
)
def test_nodata_median3_against_naive(img_nodata):
    # Every rank of the 3x3 window (0 to 9 valid values), the dtype's largest value both valid and
    # nodata, infinities, NaN with and without a nodata value.
    img, nodata = img_nodata
    np.testing.assert_array_equal(median_blur(img, 3, nodata=nodata), naive.median(img, 3, nodata))


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 14), st.integers(1, 14)), elements=st.sampled_from([0, 1, 255])),
    st.sampled_from([3, 5, 7]),
    st.sampled_from([(0, 1), (3, 9)]),
)
def test_two_class_maps_with_nodata_against_naive(class_map, ksize, values):
    # Two-valued maps take the box-count path in both filters; the rules must not change.
    low, high = values
    img = np.where(class_map == 0, low, np.where(class_map == 1, high, 255)).astype(np.uint8)
    np.testing.assert_array_equal(median_blur(img, ksize, nodata=255), naive.median(img, ksize, 255))
    np.testing.assert_array_equal(majority_filter(img, ksize), naive.majority(img, ksize, 255))
    clean = np.where(img == 255, low, img).astype(np.uint16)
    np.testing.assert_array_equal(median_blur(clean, ksize), ndi.median_filter(clean, size=ksize, mode="nearest"))


FIRST_CALLS = """
import json
import numpy as np
from cropseg._core import majority, median, ranks
from cropseg.denoise import majority_filter, median_blur
rng = np.random.default_rng(0)
class_map = rng.integers(0, 2, (64, 64)).astype(np.uint8)
band = rng.random((64, 64)).astype(np.float32)
masked = band.copy()
masked[0, 0] = np.nan
median_blur(class_map, 5)
majority_filter(class_map, 5)
for k in (3, 7, 11):
    median_blur(band, k)
    median_blur(masked, k)
kernels = [f for m in (majority, median, ranks) for f in vars(m).values() if hasattr(f, "stats")]
print(json.dumps({"misses": sum(sum(f.stats.cache_misses.values()) for f in kernels),
                  "hits": sum(sum(f.stats.cache_hits.values()) for f in kernels)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="kernels run as Python: nothing is compiled")
def test_kernels_load_from_the_numba_cache_in_a_fresh_process(tmp_path):
    # The first process compiles into an empty cache; a second one must load every kernel it calls
    # from it (cache=True and stable signatures), not compile again.
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", FIRST_CALLS], env=env, check=True, capture_output=True,
                                  text=True).stdout)
        for _ in range(2)
    ]
    assert runs[0]["misses"] > 0
    assert runs[1]["misses"] == 0 and runs[1]["hits"] > 0
