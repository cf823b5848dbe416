"""Comparator networks for the median kernels: plain Python, built once per window size and cached.

:func:`tile_median_program` (Adams' separable sorting networks) computes the medians of a block of
neighbouring windows at once, sorting the values they share once and keeping only the ranks that can
still be a median (or, for nodata-aware medians, a few ranks below it). Programs are rows ``(a, b,
kind)`` of exchanges (or copies) on slot rows, run by the kernels as vectorized loops; exchanges
that do not reach an output are dropped and an exchange of which only one side is used keeps only
that side.
"""

from __future__ import annotations

import collections
import functools

import numpy as np

__all__ = [
    "sorting_network",
    "tile_median_program",
    "MIN_ONLY",
    "MAX_ONLY",
    "BOTH",
    "COPY",
]

#: Operation kinds of a program row ``(a, b, kind)``: ``a = min(a, b)``, ``b = max(a, b)``, both
#: (an exchange), or ``b = a``.
MIN_ONLY, MAX_ONLY, BOTH, COPY = 1, 2, 3, 4


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


def _merge_runs(runs: list[list[int]], ops: list[tuple[int, int, int]]) -> list[int]:
    """Merge sorted runs of slots, smallest pair first, appending the exchanges to ``ops``; the merged order.

    ``runs`` is consumed.
    """
    while len(runs) > 1:
        runs.sort(key=len)
        exchanges, merged = _merge_network(runs.pop(0), runs.pop(0))
        ops.extend((a, b, BOTH) for a, b in exchanges)
        runs.append(merged)
    return runs[0] if runs else []  # a tile wider or taller than a window has an empty core


def _window_groups(k: int, r0: int, r1: int, c0: int, c1: int) -> tuple:
    """Halve the windows of output rows ``r0..r1``, columns ``c0..c1`` of a tile down to single windows.

    Returns ``(r0, c0, core, children)``: ``core`` is the set of input cells ``(row, col)`` (tile
    coordinates with margins) that every window of the group holds, ``children`` the two halves.
    """
    span = 2 * (k // 2)
    core = frozenset((i, j) for i in range(r1, r0 + span + 1) for j in range(c1, c0 + span + 1))
    if r0 == r1 and c0 == c1:
        return r0, c0, core, ()
    if r1 - r0 >= c1 - c0:
        mid = (r0 + r1) // 2
        halves = ((r0, mid, c0, c1), (mid + 1, r1, c0, c1))
    else:
        mid = (c0 + c1) // 2
        halves = ((r0, r1, c0, mid), (r0, r1, mid + 1, c1))
    return r0, c0, core, tuple(_window_groups(k, *half) for half in halves)


@functools.cache
def tile_median_program(k: int, tile_rows: int, tile_cols: int, spread: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Build the medians of a ``tile_rows x tile_cols`` block of ``k x k`` windows as one program.

    Adams' separable sorting networks ("Fast median filters using separable sorting networks",
    2021): the values shared by all windows of a group are sorted once, and only the ranks that can
    still be the median of one of its windows are kept (a window holds ``k * k`` values of which the
    core holds ``s``, so the median's rank in the core lies within ``k * k - s`` of its rank in the
    window). The group is halved (along its longer side); each half sorts the values it adds to the
    core (columns by a sorting network, then merged) and merges them into a copy of the core, down
    to single windows, whose kept range is the median alone. Exchanges that do not reach an output
    are dropped and slots of dead values are reused.

    With ``spread``, each window gives its ranks ``k * k // 2 - spread .. k * k // 2`` (for
    nodata-aware medians: invalid values sort last, and a window with ``m`` of them needs rank
    ``k * k // 2 - ceil(m / 2)``).

    Slot ``i * (tile_cols + k - 1) + j`` starts as input value ``(i, j)`` of the block with its
    ``k // 2`` margins. Returns the program ``(m, 3)`` of rows ``(a, b, kind)``, the slots of each
    output's ranks ``(tile_rows * tile_cols, spread + 1)`` (row-major, ascending) and the number of
    slots.
    """
    if not 0 <= spread <= k * k // 2:
        raise ValueError(f"spread must be 0 .. {k * k // 2} for k = {k}, got {spread}")
    width = tile_cols + k - 1
    target = k * k // 2
    tree = _window_groups(k, 0, tile_rows - 1, 0, tile_cols - 1)
    # How often each input value is sorted: all but its last sort work on a copy.
    uses: collections.Counter = collections.Counter(tree[2])
    stack = [tree]
    while stack:
        _, _, core, children = stack.pop()
        for child in children:
            uses.update(child[2] - core)
            stack.append(child)
    ops: list[tuple[int, int, int]] = []
    n_slots = (tile_rows + k - 1) * width
    outputs = {}

    def copy(slot: int) -> int:
        nonlocal n_slots
        ops.append((slot, n_slots, COPY))
        n_slots += 1
        return n_slots - 1

    def sort_cells(cells: frozenset) -> list[int]:
        columns: dict[int, list[int]] = {}
        for cell in sorted(cells):
            uses[cell] -= 1
            slot = cell[0] * width + cell[1]
            columns.setdefault(cell[1], []).append(copy(slot) if uses[cell] else slot)
        for column in columns.values():
            ops.extend((column[a], column[b], BOTH) for a, b in sorting_network(len(column)))
        return _merge_runs(list(columns.values()), ops)

    def descend(group: tuple, ranked: list[int], below: int) -> None:
        r0, c0, core, children = group
        # ``ranked`` holds the core's values ascending from rank ``below``; the others it adds
        # are at most ``k * k - len(core)``, so the lowest rank wanted is at least this low in it.
        low = max(0, target - spread - below - (k * k - len(core)))
        ranked = ranked[low : target - below + 1]
        below += low
        if not children:
            outputs[r0, c0] = ranked
        for n, child in enumerate(children):
            base = ranked if n == len(children) - 1 else [copy(slot) for slot in ranked]
            descend(child, _merge_runs([base, sort_cells(child[2] - core)], ops), below)

    descend(tree, sort_cells(tree[2]), 0)
    order = [slot for r in range(tile_rows) for c in range(tile_cols) for slot in outputs[r, c]]
    program, slots, n_slots = _compact(_live_ops(ops, set(order)), order, (tile_rows + k - 1) * width)
    slots = slots.reshape(tile_rows * tile_cols, spread + 1)
    program.flags.writeable = slots.flags.writeable = False  # cached: shared by every caller
    return program, slots, n_slots


def _live_ops(ops: list[tuple[int, int, int]], outputs: set[int]) -> list[tuple[int, int, int]]:
    """Keep the operations that reach ``outputs``; an exchange of which one side is used keeps that side."""
    live = set(outputs)
    kept = []
    for a, b, kind in reversed(ops):
        if kind == COPY:
            if b in live:
                kept.append((a, b, COPY))
                live.discard(b)
                live.add(a)
        elif a in live or b in live:
            kept.append((a, b, BOTH if a in live and b in live else MIN_ONLY if a in live else MAX_ONLY))
            live |= {a, b}
    kept.reverse()
    return kept


def _compact(ops: list[tuple[int, int, int]], outputs: list[int], n_inputs: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Renumber the slots copies write so that each reuses a slot whose value is no longer needed."""
    last = {slot: n for n, op in enumerate(ops) for slot in op[:2]}
    last.update({slot: len(ops) for slot in outputs})
    where = {slot: slot for slot in range(n_inputs)}
    free: list[int] = []
    n_slots = n_inputs
    program = []
    for n, (a, b, kind) in enumerate(ops):
        if kind == COPY:
            if free:
                where[b] = free.pop()
            else:
                where[b] = n_slots
                n_slots += 1
        program.append((where[a], where[b], kind))
        for slot in {a, b}:
            if last[slot] == n:
                free.append(where[slot])
    order = np.array([where[slot] for slot in outputs], dtype=np.int64)
    return np.array(program, dtype=np.int64).reshape(-1, 3), order, n_slots
