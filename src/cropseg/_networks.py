"""Comparator networks for the median kernels: plain Python, built once per window size and cached.

A ``k x k`` median is computed as in a sorting-network median filter on column-sorted data: sort
each column of ``k`` values (shared by ``k`` neighbouring windows), sort each rank across the ``k``
columns of the window, keep the candidates that rows-and-columns-sorted order allows to be the
median, and select the median among them (sorting them, or merging each rank's sorted run).
Exchanges that never exchange on a column-sorted window (checked over every 0-1 input, by the 0-1
principle) are dropped, and so are exchanges that do not reach the output; an exchange of which
only one side is used keeps only that side.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["sorting_network", "column_program", "window_sort_program", "median_program", "MIN_ONLY", "MAX_ONLY", "BOTH"]

#: Operation kinds of a program row ``(a, b, kind)``: ``a = min(a, b)``, ``b = max(a, b)`` or both.
MIN_ONLY, MAX_ONLY, BOTH = 1, 2, 3

# Window sizes up to this one are checked over all (k + 1) ** k column-sorted 0-1 inputs.
_MAX_ZERO_ONE_K = 7


@functools.cache
def sorting_network(n: int) -> np.ndarray:
    """Batcher's odd-even merge sort for ``n`` inputs as ``(m, 2)`` int64 exchanges ``(lo, hi)``.

    Built for the next power of two; exchanges with a padding input (``+inf``, which never moves)
    are dropped.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@functools.cache
def column_program(k: int) -> np.ndarray:
    """:func:`sorting_network` of ``k`` as a program ``(m, 3)`` of full exchanges (sorts each column)."""
    pairs = sorting_network(k)
    return np.column_stack([pairs, np.full(len(pairs), BOTH, dtype=np.int64)])


@functools.cache
def window_sort_program(k: int) -> np.ndarray:
    """Build a program ``(m, 3)`` putting ranks ``0 .. k * k // 2`` of a column-sorted window in slots ``0 ..``.

    Batcher's network over all ``k * k`` slots, pruned as :func:`median_program` is. Used where the
    median's rank differs from window to window (nodata-aware medians, whose rank ``(n - 1) // 2``
    of ``n`` valid values is at most ``k * k // 2``).
    """
    ops, _ = _prune([tuple(p) for p in sorting_network(k * k)], k, set(range(k * k // 2 + 1)))
    return ops


def _zero_one_columns(k: int) -> np.ndarray:
    """Every column-sorted 0-1 ``k x k`` window, bit-packed: row ``j * k + d`` is rank ``j`` of column ``d``."""
    n = (k + 1) ** k
    index = np.arange(n, dtype=np.int64)
    words = (n + 63) // 64
    slots = np.zeros((k * k, words * 8), dtype=np.uint8)
    for d in range(k):
        zeros = (index // (k + 1) ** d) % (k + 1)  # column d holds this many zeros, then ones
        for j in range(k):
            packed = np.packbits(j >= zeros, bitorder="little")
            slots[j * k + d, : len(packed)] = packed
    return slots.view(np.uint64)


def _odd_even_merge(lo: int, n: int, r: int):
    """Exchanges of Batcher's odd-even merge of positions ``lo .. lo + n - 1`` (``n`` a power of two), stride ``r``."""
    step = r * 2
    if step < n:
        yield from _odd_even_merge(lo, n, step)
        yield from _odd_even_merge(lo + r, n, step)
        for i in range(lo + r, lo + n - r, step):
            yield (i, i + r)
    else:
        yield (lo, lo + r)


def _merge_network(a: list[int], b: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Exchanges merging the slots ``a`` and ``b`` (each holding ascending values); the merged slot order.

    Batcher's merge of two halves of a power-of-two size, ``a`` at the end of the first half
    (after ``-inf`` padding) and ``b`` at the start of the second (before ``+inf``): padding never
    leaves its end (a ``-inf`` only meets smaller positions of its own prefix, a ``+inf`` larger
    ones of its suffix), so exchanges touching it are dropped.
    """
    size = 1
    while size < max(len(a), len(b)):
        size *= 2
    pos: list[int | None] = [None] * (size - len(a)) + list(a) + list(b) + [None] * (size - len(b))
    ops = [(pos[x], pos[y]) for x, y in _odd_even_merge(0, 2 * size, 1) if pos[x] is not None and pos[y] is not None]
    return ops, [q for q in pos if q is not None]


@functools.cache
def median_program(k: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Build the median of a column-sorted ``k x k`` window as a program on ``k * k`` slots.

    Slot ``j * k + d`` starts as rank ``j`` (ascending) of window column ``d``. Returns the program
    ``(m, 3)`` int64 rows ``(a, b, kind)`` with ``a < b`` in sorted order, the slot that ends up
    holding the median, and the slots the program reads (the others need not be loaded).

    Each rank is sorted across the columns; the candidates (values the rows-and-columns order
    allows to be the median) are then either sorted whole or, as sorted runs of each rank, merged
    smallest pair first; the shorter program after pruning is kept (merging: 16-20 % fewer
    exchanges for k = 9 .. 15, sorting: one fewer for k = 5).
    """
    n = k * k
    target = n // 2
    program = [(j * k + a, j * k + b) for j in range(k) for a, b in sorting_network(k)]
    # With rows and columns sorted, (j, d) has at least (j + 1)(d + 1) - 1 values below it and
    # (k - j)(k - d) - 1 above it; the median is among those that allow rank ``target``.
    runs = [
        [j * k + d for d in range(k) if (j + 1) * (d + 1) - 1 <= target and (k - j) * (k - d) - 1 <= n - 1 - target]
        for j in range(k)
    ]
    runs = [run for run in runs if run]
    below = sum(1 for j in range(k) for d in range(k) if (k - j) * (k - d) - 1 > n - 1 - target)
    candidates = [slot for run in runs for slot in run]
    sort = program + [(candidates[a], candidates[b]) for a, b in sorting_network(len(candidates))]
    merge = list(program)
    while len(runs) > 1:
        runs.sort(key=len)
        ops, merged = _merge_network(runs.pop(0), runs.pop(0))
        merge += ops
        runs.append(merged)
    built = ((sort, candidates[target - below]), (merge, runs[0][target - below]))
    options = [(*_prune(program, k, {out}), out) for program, out in built]
    ops, live, out = min(options, key=lambda option: len(option[0]))
    return ops, out, np.array(sorted(live), dtype=np.int64)


def _prune(program: list[tuple[int, int]], k: int, outputs: set[int]) -> tuple[np.ndarray, set[int]]:
    """Drop the exchanges that never swap or do not reach ``outputs``; keep one side where one is used.

    Never swapping is checked over every column-sorted 0-1 window, for ``k`` up to 7. Returns the
    program ``(m, 3)`` and the slots it reads.
    """
    if k <= _MAX_ZERO_ONE_K:
        state = _zero_one_columns(k)
        kept = []
        for a, b in program:
            if np.any(state[a] & ~state[b]):
                kept.append((a, b))
                state[a], state[b] = state[a] & state[b], state[a] | state[b]
        program = kept
    live = set(outputs)
    ops = []
    for a, b in reversed(program):
        if a in live or b in live:
            ops.append((a, b, BOTH if a in live and b in live else MIN_ONLY if a in live else MAX_ONLY))
            live |= {a, b}
    ops.reverse()
    return np.array(ops, dtype=np.int64).reshape(-1, 3), live
