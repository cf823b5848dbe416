"""Rank transform kernels: the distinct values of an image as dense uint16 ranks, through a hash table.

A median (any order statistic) commutes with a strictly increasing map, so an image with at most
65 536 distinct values can be filtered as uint16 ranks and mapped back. Keys are the raw bits of
the values (unsigned integers of the same width); in the table, a key with all bits set (a NaN
pattern, and NaN is never inserted) marks a free slot. Nodata and NaN get a rank of their own.
:func:`number_keys` numbers each chunk's distinct keys in parallel; :func:`collect_keys`,
:func:`index_keys` and :func:`to_ranks` merge and rank their lists; :func:`renumber` maps the
numbers to ranks.
:func:`sort_keys` sorts a tile's keys for the tile-by-tile ranks of images with more distinct values
(:func:`cropseg._core.median.median_tiled_ranks`).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit

__all__ = ["collect_keys", "number_keys", "renumber", "index_keys", "to_ranks", "from_ranks", "sort_keys"]

_MULT = np.uint64(0x9E3779B97F4A7C15)


@ngjit
def _slot(key, shift):  # pragma: no cover - numba
    """Fibonacci hashing of a key to a table slot (the top bits of the product)."""
    return np.int64((np.uint64(key) * _MULT) >> np.uint64(shift))


@ngjit
def collect_keys(keys, values, use_nodata, nodata, table, empty, shift, limit):  # pragma: no cover - numba
    """Insert the key of every valid value into ``table`` (open addressing, ``empty`` marks free slots).

    ``keys`` are the bits of ``values``; NaN, and ``nodata`` with ``use_nodata``, are left out.
    Returns the number of distinct keys, or -1 as soon as it exceeds ``limit``.
    """
    mask = len(table) - 1
    n = 0
    for i in range(len(keys)):
        v = values[i]
        if v != v or (use_nodata and v == nodata):
            continue
        key = keys[i]
        s = _slot(key, shift)
        while table[s] != empty and table[s] != key:
            s = (s + 1) & mask
        if table[s] == empty:
            table[s] = key
            n += 1
            if n > limit:
                return -1
    return n


@pjit
def number_keys(keys, values, use_nodata, nodata, tables, slot_ids, block_keys, empty, shift, limit, n_found, out):  # noqa: E501  # pragma: no cover
    """First pass of the rank transform: each of ``len(tables)`` chunks numbers its own distinct keys.

    Chunk ``b`` (``len(keys) / len(tables)`` consecutive keys) inserts its valid keys into
    ``tables[b]`` (filled with ``empty``), numbers them in order of first appearance (the number
    kept beside the key in ``slot_ids[b]``, the key listed in ``block_keys[b]``) and writes each
    value's number to ``out``; NaN and (with ``use_nodata``) ``nodata`` get 65 535. ``n_found[b]`` is
    the chunk's number of distinct keys, or -1 once it exceeds ``limit``. :func:`renumber` then maps
    the numbers to global ranks.
    """
    n = len(keys)
    n_blocks, size = tables.shape
    mask = size - 1
    step = (n + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        table = tables[b]
        ids = slot_ids[b]
        listed = block_keys[b]
        count = 0
        for i in range(b * step, min(n, (b + 1) * step)):
            v = values[i]
            if v != v or (use_nodata and v == nodata):
                out[i] = 65535
                continue
            key = keys[i]
            s = _slot(key, shift)
            while table[s] != empty and table[s] != key:
                s = (s + 1) & mask
            if table[s] == empty:
                if count == limit:
                    count = -1
                    break
                table[s] = key
                ids[s] = count
                listed[count] = key
                count += 1
            out[i] = ids[s]
        n_found[b] = count


@pjit
def renumber(numbers, maps, out):  # pragma: no cover - numba
    """``out[i] = maps[b, numbers[i]]`` for ``i`` in chunk ``b`` of :func:`number_keys` (``out`` may be ``numbers``)."""
    n = len(numbers)
    n_blocks = maps.shape[0]
    step = (n + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        m = maps[b]
        for i in range(b * step, min(n, (b + 1) * step)):
            out[i] = m[numbers[i]]


@ngjit
def index_keys(sorted_keys, table, shift, rank):  # pragma: no cover - numba
    """Set ``rank[slot]`` to the position of each key of ``sorted_keys`` in that order."""
    mask = len(table) - 1
    for r in range(len(sorted_keys)):
        key = sorted_keys[r]
        s = _slot(key, shift)
        while table[s] != key:
            s = (s + 1) & mask
        rank[s] = r


@pjit
def to_ranks(keys, values, use_nodata, nodata, table, shift, rank, invalid, out):  # pragma: no cover - numba
    """Rank of every key into ``out`` (``invalid`` for NaN and nodata values), in parallel over chunks."""
    mask = len(table) - 1
    n = len(keys)
    chunk = 65536
    for b in prange((n + chunk - 1) // chunk):
        for i in range(b * chunk, min(n, (b + 1) * chunk)):
            v = values[i]
            if v != v or (use_nodata and v == nodata):
                out[i] = invalid
                continue
            key = keys[i]
            s = _slot(key, shift)
            while table[s] != key:
                s = (s + 1) & mask
            out[i] = rank[s]


@pjit
def from_ranks(values, ranks, out):  # pragma: no cover - numba
    """``out[i] = values[ranks[i]]`` in parallel over chunks (1-D arrays)."""
    n = len(ranks)
    chunk = 65536
    for b in prange((n + chunk - 1) // chunk):
        for i in range(b * chunk, min(n, (b + 1) * chunk)):
            out[i] = values[ranks[i]]


@ngjit
def sort_keys(keys, items, n):  # pragma: no cover - numba
    """Sort ``keys[:n]`` (unsigned integers) ascending, moving ``items[:n]`` alike; stable.

    LSD radix sort by bytes; a byte all keys share (the high bytes of floats of one magnitude) costs
    one counting pass and no move.
    """
    if n < 2:
        return
    src_k, src_i = keys, items
    dst_k, dst_i = np.empty(n, dtype=keys.dtype), np.empty(n, dtype=items.dtype)
    counts = np.empty(256, dtype=np.int64)
    moved = False
    for byte in range(keys.itemsize):
        shift = np.uint64(8 * byte)
        counts[:] = 0
        for p in range(n):
            counts[np.int64((np.uint64(src_k[p]) >> shift) & np.uint64(255))] += 1
        if counts[np.int64((np.uint64(src_k[0]) >> shift) & np.uint64(255))] == n:
            continue
        total = 0
        for d in range(256):
            c = counts[d]
            counts[d] = total
            total += c
        for p in range(n):
            d = np.int64((np.uint64(src_k[p]) >> shift) & np.uint64(255))
            dst_k[counts[d]] = src_k[p]
            dst_i[counts[d]] = src_i[p]
            counts[d] += 1
        src_k, dst_k = dst_k, src_k
        src_i, dst_i = dst_i, src_i
        moved = not moved
    if moved:
        keys[:n] = src_k[:n]
        items[:n] = src_i[:n]
