"""Denoising class maps and bands: median blur, majority filter and small-region removal.

The public functions validate and allocate; the numba kernels in :mod:`cropseg._core.median` and
:mod:`cropseg._core.majority` do the work in parallel over rows. Edges are replicated, as in
``cv2.medianBlur`` (``BORDER_REPLICATE``) and ``scipy.ndimage.median_filter(mode="nearest")``, so
without nodata the results equal theirs exactly.

Because the filters are local, a tile read with a halo of ``ksize // 2`` pixels and cropped back
gives exactly the whole-array result (that is how :func:`cropseg.pipeline.segment_scene` tiles).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio.features

from cropseg._core._jit import prefaulted
from cropseg._core.majority import binary_vote, distinct_values, majority
from cropseg._core.median import (
    median3,
    median3_nodata,
    median_gather,
    median_hist_u8,
    median_hist_u16,
    median_ph_u8,
    median_tile_network,
    median_tiled_ranks,
)
from cropseg._core.ranks import collect_keys, from_ranks, index_keys, number_keys, renumber, to_ranks
from cropseg._networks import tile_median_program
from cropseg._validate import check_option
from cropseg.errors import InvalidInputError
from cropseg.types import NODATA

logger = logging.getLogger(__name__)

__all__ = ["median_blur", "majority_filter", "remove_small_regions", "SUPPORTED_DTYPES"]

#: Dtypes :func:`median_blur` accepts.
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def _native(image: npt.ArrayLike) -> np.ndarray:
    """``image`` as an array in native byte order (the kernels take no other), copied only if it is not."""
    array = np.asarray(image)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _sorts_last(dtype: np.dtype) -> Any:
    """Give the value invalid pixels take in the sorting kernels: the dtype's largest (``inf`` for floats)."""
    return dtype.type(np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max)


def _check_ksize(ksize: Any) -> int:
    if isinstance(ksize, bool) or not isinstance(ksize, (int, np.integer)) or ksize < 3 or ksize % 2 == 0:
        raise InvalidInputError(f"ksize must be an odd int >= 3 (3, 5, 7, ...), got {ksize!r}")
    return int(ksize)


def _check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if out is None:
        return prefaulted(shape, dtype)
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
        raise InvalidInputError(f"out must be an array of shape {shape} and dtype {dtype}, got {got}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InvalidInputError("out must be a writeable C-contiguous array")
    return out


def _check_nodata(nodata: Any, dtype: np.dtype, name: str = "nodata") -> Any:
    if nodata is None:
        return None
    if np.issubdtype(dtype, np.floating):
        if isinstance(nodata, float) and np.isnan(nodata):
            return dtype.type(np.nan)
        if not np.isfinite(dtype.type(nodata)):
            raise InvalidInputError(f"{name} {nodata!r} is not representable in {dtype}")
        return dtype.type(nodata)
    info = np.iinfo(dtype)
    if isinstance(nodata, float) and not float(nodata).is_integer() or not info.min <= nodata <= info.max:
        raise InvalidInputError(
            f"{name} {nodata!r} is not representable in {dtype} ({info.min}..{info.max}); pick a value of the dtype"
        )
    return dtype.type(int(nodata))


def _n_blocks(rows: int) -> int:
    return max(1, min(rows, 4 * (os.cpu_count() or 1)))


def _two_classes(plane: np.ndarray, nodata: Any) -> tuple[int, int, Any] | None:
    """``(low, high, nodata)`` when a uint8/uint16 plane holds at most two valid values (a 0/1 class map).

    The returned nodata is None when no pixel holds it, so the vote needs no valid counts.
    """
    if plane.dtype not in (np.uint8, np.uint16):
        return None
    n_blocks = _n_blocks(len(plane))
    found = np.zeros((n_blocks, 5), dtype=np.int64)
    use_nodata = nodata is not None
    distinct_values(plane, plane.dtype.type(nodata if use_nodata else 0), use_nodata, n_blocks, found)
    present = np.unique(np.concatenate([row[1 : 1 + row[0]] for row in found]))
    if len(present) > 2:
        return None
    nodata = nodata if found[:, 4].any() else None
    return (int(present[0]), int(present[-1]), nodata) if len(present) else (0, 0, nodata)


#: Largest window for the separable-network median by dtype, without and with nodata (measured
#: crossovers on 4096 x 4096: beyond them histograms win, Perreault-Hebert's for uint8 (k=15: 137
#: vs 166 ms, k=21: 230 vs 154), Huang's for uint16 (k=31: 754 vs 830 ms, k=41: 1567 vs 1079;
#: nodata-aware k=21: 499 vs 718, k=31: 1048 vs 971; uint8 k=31: 658 vs 779)). Other dtypes are
#: filtered as uint16 ranks from RANKS_MIN_K when at most 65 536 values occur, else by the network
#: up to the uint16 limits (continuous float32 k=31: 1352 vs 1523 ms tile by tile, k=41: 4315 vs
#: 2018; nodata-aware k=21: 788 vs 1286, k=31: 1837 vs 1772), tile by tile beyond.
NETWORK_MAX_K = {np.dtype(np.uint8): 15, np.dtype(np.uint16): 31}
NODATA_NETWORK_MAX_K = {np.dtype(np.uint8): 31, np.dtype(np.uint16): 21}
#: Output tile of the separable network (windows whose medians one program computes together) and
#: the bytes of slot rows per thread, which set how many tiles a program step covers (measured:
#: 8 x 8 and 1 MB best or within 10 % of the best for uint8, uint16 and float32, k = 5 to 31).
NETWORK_TILE = (8, 8)
NETWORK_SLOT_BYTES = 1 << 20
#: Spreads of the nodata-aware network programs: a block of windows runs the first whose spread
#: covers half its most invalid window's invalid count (more spread, more exchanges).
NODATA_SPREADS = (0, 1, 2, 4, 8, 16)
#: Columns per stripe of Perreault and Hebert's uint8 median (its column histograms, 544 bytes per
#: column, then stay in a core's cache; measured on 4096 x 4096: 1024 and 2048 equal, 512 10-20 %
#: slower, whole rows 30-60 % slower). Beyond the network it beats Huang's histogram at every
#: window size (1.5-3x), so uint8 uses Huang only when nodata must be left out.
PH_STRIPE = 1024
#: Smallest window worth the rank transform of other dtypes (below it the network on the values is
#: faster; float32 k=7: 85 ms vs 95, k=9: 138 vs 111).
RANKS_MIN_K = 9
#: Fewest values per chunk of the rank transform's parallel first pass (each chunk's tables cost 1 MB).
RANK_CHUNK = 1 << 21
#: Windows filtered tile by tile as ranks of each tile's values when a float image has more than
#: 65 536 distinct values, beyond the network (a tile and its margins must fit 65 535 values, so
#: tiles shrink as k grows, to 17 pixels at TILED_MAX_K): output tiles of TILE_SIDE pixels, coarse
#: bins of 2 ** TILE_BIN_SHIFT ranks (measured on continuous float32).
TILED_MAX_K = 239
TILE_SIDE = 48
TILE_BIN_SHIFT = 4


@functools.cache
def _network_programs(k: int, use_nodata: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Build the separable-network programs for ``k``, all concatenated.

    Returns the programs, their starts, spreads and output slots, and the slot counts of the first
    program and of the largest. Without nodata one program (the medians); with nodata one per
    spread of NODATA_SPREADS (each window's ranks from ``k * k // 2 - spread`` up), the last
    covering every rank down to 0.
    """
    spreads = [0] if not use_nodata else sorted({min(s, k * k // 2) for s in (*NODATA_SPREADS, k * k // 2)})
    built = [tile_median_program(k, *NETWORK_TILE, spread) for spread in spreads]
    outputs = np.zeros((len(built), NETWORK_TILE[0] * NETWORK_TILE[1], spreads[-1] + 1), dtype=np.int64)
    for n, (_, slots, _) in enumerate(built):
        outputs[n, :, : slots.shape[1]] = slots
    starts = np.cumsum([0] + [len(program) for program, _, _ in built])
    programs = np.concatenate([program for program, _, _ in built])
    n_slots = [n for _, _, n in built]
    return programs, starts, np.array(spreads, dtype=np.int64), outputs, n_slots[0], max(n_slots)


def _median_network(plane: np.ndarray, k: int, nodata: Any, dst: np.ndarray) -> None:
    """Median by separable sorting networks (:func:`cropseg._networks.tile_median_program`), into ``dst``.

    ``nodata`` (NaN for floats) makes it nodata-aware: see :func:`median_tile_network`.
    """
    use_nodata = nodata is not None
    programs, starts, spreads, outputs, first_slots, n_slots = _network_programs(k, use_nodata)
    # Lanes sized by the spread-0 program's slots, in whole cache lines (a slot row of 260 float32
    # runs 20 % slower than one of 256).
    block = int(np.clip(NETWORK_SLOT_BYTES // (first_slots * plane.itemsize) // 64 * 64, 64, 2048))
    median_tile_network(
        plane, k, *NETWORK_TILE, programs, starts, spreads, outputs, n_slots, block, _n_blocks(len(plane)),
        use_nodata, plane.dtype.type(nodata if use_nodata else 0), _sorts_last(plane.dtype), dst,
    )


def _network_max_k(dtype: np.dtype, nodata: Any) -> int:
    """Largest window the separable network filters for ``dtype`` (other dtypes: as uint16)."""
    table = NETWORK_MAX_K if nodata is None else NODATA_NETWORK_MAX_K
    return table.get(dtype, table[np.dtype(np.uint16)])


def _median_small_ints(plane: np.ndarray, k: int, nodata: Any, dst: np.ndarray) -> None:
    """Median of a uint8 / uint16 plane, k >= 5: network or histograms, nodata-aware with ``nodata``."""
    kind = plane.dtype.type
    if k <= _network_max_k(plane.dtype, nodata):
        _median_network(plane, k, nodata, dst)
    elif nodata is not None and plane.dtype == np.uint8:
        median_hist_u8(plane, k, True, kind(nodata), dst)
    elif nodata is not None:
        median_hist_u16(plane, k, _n_blocks(len(plane)), True, kind(nodata), dst)
    elif plane.dtype == np.uint8 and k <= 255:  # 16-bit window counts
        median_ph_u8(plane, k, _n_blocks(len(plane)), PH_STRIPE, dst)
    elif plane.dtype == np.uint8:
        median_hist_u8(plane, k, False, kind(0), dst)
    else:
        median_hist_u16(plane, k, _n_blocks(len(plane)), False, kind(0), dst)


def _median_tiled(plane: np.ndarray, k: int, nodata: Any, dst: np.ndarray) -> None:
    """Median of a float plane tile by tile, each tile as uint16 ranks of its own values.

    The keys order IEEE floats (int16 planes always take the dense ranks instead).
    """
    unsigned = np.dtype(f"uint{8 * plane.itemsize}")
    sign = unsigned.type(1 << (8 * plane.itemsize - 1))
    # A tile and its k // 2 margins must hold at most 65 535 values (rank 65 535 is nodata).
    tile = min(TILE_SIDE, 255 - 2 * (k // 2))
    use_nodata = nodata is not None
    fill = plane.dtype.type(nodata if use_nodata else 0)
    median_tiled_ranks(plane, plane.view(unsigned), sign, k, tile, TILE_BIN_SHIFT, use_nodata, fill, dst)


def _dense_ranks(plane: np.ndarray, nodata: Any) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """``(ranks, values, invalid)``: uint16 ``ranks`` with ``values[ranks] == plane`` where valid.

    ``invalid`` is the rank of nodata (and NaN, given as the fill value of float planes), or None
    when there is no nodata. None when there are too many distinct values (65 536 valid values
    without nodata, 65 535 with).
    """
    if plane.dtype == np.int16:
        ranks = plane.view(np.uint16) ^ np.uint16(0x8000)
        invalid = None if nodata is None else int(np.int16(nodata).view(np.uint16) ^ np.uint16(0x8000))
        return ranks, np.arange(-32768, 32768, dtype=np.int16), invalid
    key_type = np.uint32 if plane.itemsize == 4 else np.uint64
    flat = plane.reshape(-1)
    keys = flat.view(key_type)
    use_nodata = nodata is not None and not np.isnan(nodata)
    fill = plane.dtype.type(0 if nodata is None else nodata)
    bits = 17  # tables of 2**17 slots, at most half full
    shift = 64 - bits
    empty = np.iinfo(key_type).max
    limit = 65536 if nodata is None else 65535
    # Each chunk numbers its own distinct values in parallel; their lists, merged and sorted, give
    # every chunk's numbers their ranks.
    n_blocks = max(1, min(_n_blocks(len(flat)), len(flat) // RANK_CHUNK))
    tables = np.full((n_blocks, 1 << bits), empty, dtype=key_type)
    block_keys = np.empty((n_blocks, limit), dtype=key_type)
    n_found = np.empty(n_blocks, dtype=np.int64)
    ranks = prefaulted(plane.shape, np.uint16)
    number_keys(
        keys, flat, use_nodata, fill, tables, np.empty(tables.shape, np.uint16), block_keys, empty, shift, limit,
        n_found, ranks.reshape(-1),
    )
    if (n_found < 0).any():
        return None
    listed = np.concatenate([block_keys[b, : n_found[b]] for b in range(n_blocks)])
    table = tables[0]
    table[:] = empty
    if collect_keys(listed, listed.view(plane.dtype), False, fill, table, empty, shift, limit) < 0:
        return None
    # Keys in value order, sorted as integers: a float sort may not keep the bits of -0.0 and 0.0.
    found = table[table != empty]
    sign = key_type(1 << (8 * plane.itemsize - 1))
    found = found[np.argsort(np.where(found & sign, ~found, found | sign))]
    rank = np.zeros(len(table), dtype=np.uint16)
    index_keys(found, table, shift, rank)
    values = np.full(65536, fill, dtype=plane.dtype)
    values[: len(found)] = found.view(plane.dtype)
    maps = np.full((n_blocks, 65536), 65535, dtype=np.uint16)
    listed_ranks = np.empty(len(listed), dtype=np.uint16)
    to_ranks(listed, listed.view(plane.dtype), False, fill, table, shift, rank, np.uint16(65535), listed_ranks)
    for b, start in enumerate(np.cumsum(n_found) - n_found):
        maps[b, : n_found[b]] = listed_ranks[start : start + n_found[b]]
    renumber(ranks.reshape(-1), maps, ranks.reshape(-1))
    return ranks, values, None if nodata is None else 65535


def _vote(plane: np.ndarray, classes: tuple[int, int, Any], k: int, lower_median: bool, dst: np.ndarray) -> None:
    """Median or majority of a two-class plane (classes and nodata from :func:`_two_classes`) into ``dst``."""
    kind = plane.dtype.type
    nodata = classes[2]
    use_nodata = nodata is not None
    binary_vote(
        plane,
        kind(classes[0]),
        kind(classes[1]),
        kind(nodata if use_nodata else 0),
        use_nodata,
        k,
        lower_median,
        np.empty(0, dtype=np.uint8 if k * k <= 255 else np.int16 if k * k <= np.iinfo(np.int16).max else np.int32),
        _n_blocks(len(plane)),
        dst,
    )


def median_blur(
    image: npt.ArrayLike,
    ksize: int,
    *,
    nodata: float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Median filter with a ``ksize`` x ``ksize`` window, edges replicated, optionally nodata-aware.

    Parameters
    ----------
    image : array_like, shape (rows, cols) or (bands, rows, cols)
        uint8, uint16, int16, float32 or float64. Bands are filtered independently.
    ksize : int
        Odd window size >= 3.
    nodata : number, optional
        Pixels with this value (and NaN in float images, always) are ignored: each output is the
        median of the valid values in its window (the lower of the two middle values for an even
        count), a nodata centre stays nodata, a window without valid values gives nodata. Float
        images containing NaN are treated this way even without ``nodata`` (NaN is their nodata).
    out : ndarray, optional
        Preallocated output of the same shape and dtype.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``. Without nodata, uint8 results equal ``cv2.medianBlur`` and
        all dtypes equal ``scipy.ndimage.median_filter(size=ksize, mode="nearest")``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[0, 0, 0], [0, 1, 0], [1, 1, 1]], dtype=np.uint8)
    >>> median_blur(m, 3).tolist()
    [[0, 0, 0], [0, 0, 0], [1, 1, 1]]
    >>> median_blur(np.array([[1, 255, 3]], dtype=np.uint8), 3, nodata=255).tolist()
    [[1, 255, 3]]
    """
    array = _native(image)
    if array.ndim not in (2, 3):
        raise InvalidInputError(f"image must be 2-D (rows, cols) or 3-D (bands, rows, cols), got shape {array.shape}")
    if array.dtype.type not in SUPPORTED_DTYPES:
        raise InvalidInputError(
            f"image dtype {array.dtype} is not supported; use one of "
            + ", ".join(np.dtype(d).name for d in SUPPORTED_DTYPES)
        )
    if 0 in array.shape:
        raise InvalidInputError(f"image is empty (shape {array.shape})")
    k = _check_ksize(ksize)
    nd = _check_nodata(nodata, array.dtype)
    result = _check_out(out, array.shape, array.dtype)
    src = np.ascontiguousarray(array)
    is_float = np.issubdtype(array.dtype, np.floating)
    planes = src.reshape(-1, *src.shape[-2:])
    dst = result.reshape(-1, *src.shape[-2:])
    for band in range(planes.shape[0]):
        plane = planes[band]
        use_nodata = nd is not None or (is_float and bool(np.isnan(plane).any()))
        classes = _two_classes(plane, nd) if k > 3 else None
        fill = (nd if nd is not None else array.dtype.type(np.nan)) if use_nodata else None
        if classes is not None:
            # A median of two values is a vote: box counts, whatever the window size.
            _vote(plane, classes, k, True, dst[band])
        elif k == 3 and not use_nodata:
            median3(plane, _n_blocks(len(plane)), dst[band])
        elif k == 3:
            counter = np.empty(0, dtype=f"uint{8 * array.itemsize}")
            median3_nodata(plane, fill, _sorts_last(array.dtype), counter, _n_blocks(len(plane)), dst[band])
        elif array.dtype in (np.uint8, np.uint16):
            _median_small_ints(plane, k, fill, dst[band])
        elif k >= RANKS_MIN_K and (dense := _dense_ranks(plane, fill)) is not None:
            # At most 65 536 distinct values (reflectance from 16-bit DNs always): filter their ranks.
            ranks, values, invalid = dense
            medians = prefaulted(ranks.shape, ranks.dtype)
            _median_small_ints(ranks, k, invalid, medians)
            from_ranks(values, medians.reshape(-1), dst[band].reshape(-1))
        elif k <= _network_max_k(array.dtype, fill):
            _median_network(plane, k, fill, dst[band])
        elif k <= TILED_MAX_K:
            _median_tiled(plane, k, fill, dst[band])
        else:
            median_gather(plane, k, use_nodata, fill if use_nodata else array.dtype.type(0), dst[band])
    return result


def _class_lut(class_map: np.ndarray, nodata: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Lookup table value -> class index (``invalid`` for nodata and absent values), and the classes."""
    present = np.flatnonzero(np.bincount(class_map.ravel(), minlength=1))
    classes = present[present != nodata] if nodata is not None else present
    invalid = len(classes)
    lut = np.full(int(present.max()) + 1, invalid, dtype=np.int32)
    lut[classes] = np.arange(len(classes), dtype=np.int32)
    return lut, classes.astype(class_map.dtype), invalid


def majority_filter(class_map: npt.ArrayLike, ksize: int, *, nodata: int | None = NODATA) -> np.ndarray:
    """Replace each pixel by the most frequent valid class in its ``ksize`` x ``ksize`` window.

    Nodata pixels never vote and stay nodata. A tie between the centre's class and another keeps the
    centre's class; a tie between other classes goes to the smaller class value. On a 0/1 map
    without nodata this equals :func:`median_blur` exactly (a median of zeros and ones is their
    majority), but runs by sliding box counts whose cost does not grow with the window.

    Parameters
    ----------
    class_map : array_like of unsigned ints, shape (rows, cols)
        E.g. the uint8 class map of :func:`cropseg.classify.predict_scene`.
    ksize : int
        Odd window size >= 3.
    nodata : int or None, default NODATA
        Class code that is no class.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[1, 1, 0], [1, 0, 255], [0, 1, 1]], dtype=np.uint8)
    >>> majority_filter(m, 3).tolist()
    [[1, 1, 0], [1, 1, 255], [0, 1, 1]]
    """
    array = _native(class_map)
    if array.ndim != 2:
        raise InvalidInputError(f"class_map must be 2-D (rows, cols), got shape {array.shape}")
    if array.dtype.kind not in "ub" or array.dtype.itemsize > 2:
        raise InvalidInputError(f"class_map must hold uint8 or uint16 class codes, got dtype {array.dtype}")
    if 0 in array.shape:
        raise InvalidInputError(f"class_map is empty (shape {array.shape})")
    k = _check_ksize(ksize)
    nd = _check_nodata(nodata, array.dtype)
    src = np.ascontiguousarray(array)
    out = prefaulted(src.shape, src.dtype)
    pair = _two_classes(src, nd)
    if pair is not None:
        _vote(src, pair, k, False, out)
        return out
    lut, classes, invalid = _class_lut(src, nd)
    majority(src, lut, classes, k, invalid, _n_blocks(len(src)), out)
    return out


def remove_small_regions(
    class_map: npt.ArrayLike, min_pixels: int, *, connectivity: int = 4, nodata: int | None = NODATA
) -> np.ndarray:
    """Merge regions smaller than ``min_pixels`` into their largest neighbour (a minimum mapping unit).

    This is GDAL's sieve filter (``rasterio.features.sieve``) with cropseg's conventions: nodata
    pixels are masked out, so they never grow, never absorb a region and stay nodata. The result
    equals ``rasterio.features.sieve(class_map, min_pixels, connectivity=..., mask=class_map != nodata)``
    with nodata put back.

    Unlike the window filters, a region can span any number of tiles, so run this on a whole class
    map (it needs 5 bytes per pixel), not tile by tile.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((5, 5), dtype=np.uint8)
    >>> m[2, 2] = 1
    >>> int(remove_small_regions(m, 2).sum())
    0
    """
    array = _native(class_map)
    if array.ndim != 2:
        raise InvalidInputError(f"class_map must be 2-D (rows, cols), got shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16, np.int16, np.int32):
        raise InvalidInputError(f"class_map must hold uint8, uint16, int16 or int32 class codes, got {array.dtype}")
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, np.integer)) or min_pixels < 1:
        raise InvalidInputError(f"min_pixels must be an int >= 1, got {min_pixels!r}")
    check_option("connectivity", connectivity, (4, 8))
    nd = _check_nodata(nodata, array.dtype)
    mask = array != nd if nd is not None else None
    result = rasterio.features.sieve(np.ascontiguousarray(array), int(min_pixels), connectivity=connectivity, mask=mask)
    if nd is not None:
        result[~mask] = nd
    return result
