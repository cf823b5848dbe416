"""Exact k-nearest-neighbour classification kernel on a kd-tree, for low-dimensional pixel features.

The tree is a complete binary tree over a permutation of the training points: node ``i`` has
children ``2i + 1`` and ``2i + 2``; leaves hold at most a few dozen points, stored feature by feature
so a leaf's distances are one vectorized loop per feature. :func:`build` makes it (in Python, once
per fit); :func:`classify` queries blocks of pixels in parallel and votes inside the kernel, so no
``(n_pixels, k)`` neighbour arrays are ever allocated.

:func:`classify_two` is the uniform vote between two classes without collecting the ``k``
neighbours: with ``m0 = ceil(k / 2)`` and ``m1 = k - m0 + 1``, class 0 wins (ties go to the lower
index, as scikit-learn's argmax) exactly when fewer than ``m1`` class-1 points lie strictly closer than
the ``m0``-th nearest class-0 point. One tree per class answers that with an ``m``-nearest search in
one tree and a count, stopped at ``m``, in the other. Half the pixels of a scene need not even
that: :func:`certificates` gives each training point a radius within which the vote is known, and a
query covered by a point of its own leaf is decided without a search.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import ngjit, pjit

__all__ = ["build", "kneighbors", "classify", "classify_two", "certificates", "NO_CERTIFICATES"]

#: Empty certificates ``(radius2, winner)``: every query is searched.
NO_CERTIFICATES = (np.empty(0), np.empty(0, dtype=np.int64))

#: Queries per parallel iteration, and the parts of the data every thread works in.
_BLOCK = 256
_STRATA = 16


@ngjit
def _per_stratum(n):  # pragma: no cover - numba
    """Blocks per stratum for ``n`` items: the kernels run ``prange(_per_stratum(n) * _STRATA)``."""
    return ((n + _BLOCK - 1) // _BLOCK + _STRATA - 1) // _STRATA


@ngjit
def _block_range(it, n, per):  # pragma: no cover - numba
    """Return the items ``lo:hi`` of parallel iteration ``it`` (empty past the end).

    Iteration ``it`` takes block ``(it % _STRATA) * per + it // _STRATA``, so the contiguous run of
    iterations a thread gets under static scheduling (OpenMP's default) holds blocks from all over
    the data. Search cost varies across a scene (mixed pixels cost ten times field interiors);
    with contiguous halves one thread idled while the other finished (19 % of the time at k = 31).
    """
    b = (it % _STRATA) * per + it // _STRATA
    return min(n, b * _BLOCK), min(n, (b + 1) * _BLOCK)


def build(X: np.ndarray, leaf_size: int = 48) -> tuple[np.ndarray, ...]:
    """Build the tree: returns ``(points, perm, start, stop, split_dim, split_val)``.

    ``points`` is ``X[perm].T`` (features by points, C-contiguous float64); node ``i`` covers points
    ``start[i]:stop[i]`` and splits on ``split_dim[i]`` (its widest feature) at ``split_val[i]``, the
    median: the left child holds the lower half (coordinates <= value), the right child the rest
    (coordinates >= value).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = len(X)
    depth = max(0, int(np.ceil(np.log2(max(n / leaf_size, 1)))))
    n_nodes = 2 ** (depth + 1) - 1
    perm = np.arange(n, dtype=np.int64)
    start = np.zeros(n_nodes, dtype=np.int64)
    stop = np.zeros(n_nodes, dtype=np.int64)
    split_dim = np.full(n_nodes, -1, dtype=np.int64)
    split_val = np.zeros(n_nodes, dtype=np.float64)
    stop[0] = n
    _split_nodes(X, perm, start, stop, split_dim, split_val, 2**depth - 1, np.empty(n))
    points = np.ascontiguousarray(X[perm].T)
    return points, perm, start, stop, split_dim, split_val


@ngjit
def _split_nodes(X, perm, start, stop, split_dim, split_val, first_leaf, keys):  # pragma: no cover - numba
    """Split every inner node at the median of its widest feature (top down, reordering ``perm``)."""
    d = X.shape[1]
    for node in range(first_leaf):
        lo, hi = start[node], stop[node]
        left, right = 2 * node + 1, 2 * node + 2
        if hi - lo < 2:
            start[left], stop[left], start[right], stop[right] = lo, hi, hi, hi
            continue
        dim = 0
        widest = -1.0
        for j in range(d):
            low = high = X[perm[lo], j]
            for p in range(lo + 1, hi):
                v = X[perm[p], j]
                low = min(low, v)
                high = max(high, v)
            if high - low > widest:
                widest = high - low
                dim = j
        for p in range(lo, hi):
            keys[p] = X[perm[p], dim]
        mid = lo + (hi - lo) // 2
        _select(keys, perm, lo, hi - 1, mid)
        split_dim[node] = dim
        split_val[node] = keys[mid]
        start[left], stop[left], start[right], stop[right] = lo, mid, mid, hi


@ngjit
def _select(keys, perm, lo, hi, kth):  # pragma: no cover - numba
    """Reorder ``keys[lo:hi + 1]`` and ``perm`` alike: ``keys[kth]`` in sorted place, none larger before it."""
    while hi > lo:
        # Median of three as pivot, then Hoare partition.
        a, b, c = keys[lo], keys[(lo + hi) // 2], keys[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                keys[i], keys[j] = keys[j], keys[i]
                perm[i], perm[j] = perm[j], perm[i]
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            return


@ngjit
def _descend(q, node, bound, limit, split_dim, split_val, sp, stack_node, stack_bound, stack_off, off):  # noqa: E501  # pragma: no cover
    """Walk from ``node`` to the leaf on the query's side, pushing far children within ``limit``.

    Bounds are squared distances from ``q`` to node boxes, kept incrementally (Arya & Mount): ``off``
    holds the per-dimension gaps of the current node. Returns the leaf and the new stack size.
    """
    n_nodes = len(split_dim)
    while split_dim[node] >= 0 and 2 * node + 2 < n_nodes:
        dim = split_dim[node]
        diff = q[dim] - split_val[node]
        if diff <= 0.0:
            near, far = 2 * node + 1, 2 * node + 2
        else:
            near, far = 2 * node + 2, 2 * node + 1
        far_bound = bound - off[dim] * off[dim] + diff * diff
        if far_bound <= limit:
            stack_node[sp] = far
            stack_bound[sp] = far_bound
            for j in range(len(off)):
                stack_off[sp, j] = off[j]
            stack_off[sp, dim] = diff
            sp += 1
        node = near
    return node, sp


@ngjit
def _nearest(q, points, start, stop, split_dim, split_val, k, best_d, best_i, scratch):  # pragma: no cover
    """Find the ``k`` nearest points to ``q``: squared distances ascending in ``best_d[:k]``, indices in ``best_i``.

    Depth-first, nearer child first; ``scratch`` is ``(stack_node, stack_bound, stack_off, off, dist)``.
    """
    stack_node, stack_bound, stack_off, off, dist = scratch
    for j in range(k):
        best_d[j] = np.inf
        best_i[j] = -1
    stack_node[0] = 0
    stack_bound[0] = 0.0
    for j in range(len(off)):
        stack_off[0, j] = 0.0
    sp = 1
    while sp > 0:
        sp -= 1
        if stack_bound[sp] > best_d[k - 1]:
            continue
        for j in range(len(off)):
            off[j] = stack_off[sp, j]
        leaf, sp = _descend(
            q,
            stack_node[sp],
            stack_bound[sp],
            best_d[k - 1],
            split_dim,
            split_val,
            sp,
            stack_node,
            stack_bound,
            stack_off,
            off,
        )
        _leaf_distances(q, points, start[leaf], stop[leaf], dist)
        worst = best_d[k - 1]
        for p in range(stop[leaf] - start[leaf]):
            t = dist[p]
            if t < worst:
                pos = k - 1
                while pos > 0 and best_d[pos - 1] > t:
                    best_d[pos] = best_d[pos - 1]
                    best_i[pos] = best_i[pos - 1]
                    pos -= 1
                best_d[pos] = t
                best_i[pos] = start[leaf] + p
                worst = best_d[k - 1]


@ngjit
def _count_within(q, points, start, stop, split_dim, split_val, radius, limit, scratch):  # pragma: no cover
    """How many points lie at squared distance <= ``radius`` from ``q``, counting stopped at ``limit``."""
    stack_node, stack_bound, stack_off, off, dist = scratch
    stack_node[0] = 0
    stack_bound[0] = 0.0
    for j in range(len(off)):
        stack_off[0, j] = 0.0
    sp = 1
    count = 0
    while sp > 0:
        sp -= 1
        if stack_bound[sp] > radius:
            continue
        for j in range(len(off)):
            off[j] = stack_off[sp, j]
        leaf, sp = _descend(
            q,
            stack_node[sp],
            stack_bound[sp],
            radius,
            split_dim,
            split_val,
            sp,
            stack_node,
            stack_bound,
            stack_off,
            off,
        )
        _leaf_distances(q, points, start[leaf], stop[leaf], dist)
        for p in range(stop[leaf] - start[leaf]):
            count += dist[p] <= radius
        if count >= limit:
            break
    return count


@ngjit
def _scratch(start, stop, d):  # pragma: no cover - numba
    """Per-thread search buffers: stack (nodes, bounds, gaps), the current gaps and leaf distances."""
    # Leaves are the last level (a node left unsplit above it holds at most one point).
    first_leaf = (len(start) - 1) // 2
    leaf_max = max(1, np.max(stop[first_leaf:] - start[first_leaf:]))
    return (
        np.empty(64, dtype=np.int64),
        np.empty(64, dtype=np.float64),
        np.zeros((64, d), dtype=np.float64),
        np.zeros(d, dtype=np.float64),
        np.empty(leaf_max, dtype=np.float64),
    )


@pjit
def kneighbors(queries, points, start, stop, split_dim, split_val, k, dist, idx):  # pragma: no cover - numba
    """Find the ``k`` nearest points of each query: squared distances ascending in ``dist[i]``, positions in ``idx``."""
    m, d = queries.shape
    per = _per_stratum(m)
    for it in prange(per * _STRATA):
        lo, hi = _block_range(it, m, per)
        if lo >= hi:
            continue
        scratch = _scratch(start, stop, d)
        for i in range(lo, hi):
            _nearest(queries[i], points, start, stop, split_dim, split_val, k, dist[i], idx[i], scratch)


@pjit
def classify(
    queries, points, labels, start, stop, split_dim, split_val, k, n_classes, distance, out
):  # pragma: no cover - numba
    """Vote of the ``k`` nearest training points for every query row, written to ``out``.

    ``points`` is features by points; ``labels`` are class indices of the points. Uniform votes
    (``distance=False``) or inverse-distance votes where exact matches outvote everything
    (scikit-learn's rules); ties go to the lower index. Squared distances are summed feature by
    feature in order, so they equal a row-wise computation bit for bit.
    """
    m, d = queries.shape
    per = _per_stratum(m)
    for it in prange(per * _STRATA):
        lo, hi = _block_range(it, m, per)
        if lo >= hi:
            continue
        scratch = _scratch(start, stop, d)
        best_d = np.empty(k)
        best_i = np.empty(k, dtype=np.int64)
        votes = np.zeros(n_classes)
        for i in range(lo, hi):
            _nearest(queries[i], points, start, stop, split_dim, split_val, k, best_d, best_i, scratch)
            votes[:] = 0.0
            if distance:
                exact = False
                for j in range(k):
                    if best_d[j] == 0.0:
                        exact = True
                for j in range(k):
                    if exact:
                        if best_d[j] == 0.0:
                            votes[labels[best_i[j]]] += 1.0
                    else:
                        votes[labels[best_i[j]]] += 1.0 / np.sqrt(best_d[j])
            else:
                for j in range(k):
                    votes[labels[best_i[j]]] += 1.0
            winner = 0
            for c in range(1, n_classes):
                if votes[c] > votes[winner]:
                    winner = c
            out[i] = winner


@ngjit
def _outvoted(q, tree, other, m, m_other, strict, best_d, best_i, scratch, scratch_other):  # pragma: no cover
    """Whether ``m_other`` points of ``other`` lie closer than the ``m``-th nearest point of ``tree``.

    Closer means strictly closer when ``strict``, at most as far otherwise.
    """
    _nearest(q, tree[0], tree[2], tree[3], tree[4], tree[5], m, best_d, best_i, scratch)
    radius = np.nextafter(best_d[m - 1], -np.inf) if strict else best_d[m - 1]
    return _count_within(q, other[0], other[2], other[3], other[4], other[5], radius, m_other, scratch_other) >= m_other


@ngjit
def _certified(q, tree, cert, dist):  # pragma: no cover - numba
    """Return the class certified by a training point in the leaf of ``tree`` holding ``q``, or -1.

    ``cert`` is ``(radius2, winner)`` per point of ``tree`` (tree order): within squared distance
    ``radius2[p]`` of point ``p`` the vote is ``winner[p]`` (see :func:`certificates`).
    """
    points, _, start, stop, split_dim, split_val = tree
    radius2, winner = cert
    node = 0
    n_nodes = len(split_dim)
    while split_dim[node] >= 0 and 2 * node + 2 < n_nodes:
        node = 2 * node + 1 if q[split_dim[node]] <= split_val[node] else 2 * node + 2
    lo = start[node]
    _leaf_distances(q, points, lo, stop[node], dist)
    for p in range(stop[node] - lo):
        if dist[p] < radius2[lo + p]:
            return winner[lo + p]
    return -1


@pjit
def certificates(tree, tree0, tree1, k, radius2, winner):  # pragma: no cover - numba
    """Where the vote is settled around each training point of ``tree`` (one of the two class trees).

    With ``D0`` / ``D1`` the distances from point ``x`` to its ``m0``-th nearest class-0 and
    ``m1``-th nearest class-1 point, the triangle inequality moves each by at most ``|q - x|`` at a
    query ``q``; so wherever ``|q - x| < |D1 - D0| / 2`` the sign of ``D1 - D0`` is the vote at ``q``
    (class 1 exactly when ``D1 < D0``). The radius is shrunk by ``1e-9`` of the distances, far more
    than float64 rounding, so a certified query is decided as the full search would decide it.
    ``radius2`` gets the squared radius (-1 where ``D0 == D1``), ``winner`` the class.
    """
    m0 = (k + 1) // 2
    m1 = k - m0 + 1
    points = tree[0]
    d, n = points.shape
    per = _per_stratum(n)
    for it in prange(per * _STRATA):
        lo, hi = _block_range(it, n, per)
        if lo >= hi:
            continue
        scratch0 = _scratch(tree0[2], tree0[3], d)
        scratch1 = _scratch(tree1[2], tree1[3], d)
        best_d = np.empty(max(m0, m1))
        best_i = np.empty(max(m0, m1), dtype=np.int64)
        x = np.empty(d)
        for i in range(lo, hi):
            for j in range(d):
                x[j] = points[j, i]
            _nearest(x, tree0[0], tree0[2], tree0[3], tree0[4], tree0[5], m0, best_d, best_i, scratch0)
            d0 = np.sqrt(best_d[m0 - 1])
            _nearest(x, tree1[0], tree1[2], tree1[3], tree1[4], tree1[5], m1, best_d, best_i, scratch1)
            d1 = np.sqrt(best_d[m1 - 1])
            r = 0.5 * abs(d1 - d0) - 1e-9 * (d0 + d1)
            radius2[i] = r * r if r > 0.0 else -1.0
            winner[i] = 1 if d1 < d0 else 0


@pjit
def classify_two(queries, tree0, tree1, k, cert0, cert1, out):  # pragma: no cover - numba
    """Uniform ``k``-nearest vote between classes 0 and 1, each with its own tree (see the module notes).

    ``tree0`` / ``tree1`` are :func:`build` results ``(points, perm, start, stop, split_dim, split_val)``
    of each class's points, holding at least ``ceil(k / 2)`` and ``k - ceil(k / 2) + 1`` points. The
    nearest-point search runs in the smaller class's tree and the count in the other (3-8 % faster on
    the Sacramento scenes than searching the previous pixel's class first). A distance tie between the
    two deciding points goes to class 0 either way. Given certificates (:func:`certificates`,
    ``cert0`` / ``cert1``; empty arrays, :data:`NO_CERTIFICATES`, for none), a query first looks for a
    training point in its leaf, in the tree of the previous query's class (neighbouring queries mostly
    agree), whose certificate covers it, and needs no search when one does.
    """
    m, d = queries.shape
    m0 = (k + 1) // 2
    m1 = k - m0 + 1
    certify = len(cert0[0]) > 0
    small_first = 0 if len(tree0[1]) <= len(tree1[1]) else 1
    per = _per_stratum(m)
    for it in prange(per * _STRATA):
        lo, hi = _block_range(it, m, per)
        if lo >= hi:
            continue
        scratch0 = _scratch(tree0[2], tree0[3], d)
        scratch1 = _scratch(tree1[2], tree1[3], d)
        best_d = np.empty(max(m0, m1))
        best_i = np.empty(max(m0, m1), dtype=np.int64)
        winner = 0
        for i in range(lo, hi):
            q = queries[i]
            settled = -1
            if certify:
                if winner == 0:
                    settled = _certified(q, tree0, cert0, scratch0[4])
                else:
                    settled = _certified(q, tree1, cert1, scratch1[4])
            # Class 1 must be strictly closer than class 0's deciding point, class 0 at most as far as
            # class 1's, so a distance tie goes to class 0 whichever class is searched first.
            if settled >= 0:
                winner = settled
            elif small_first == 0:
                winner = 1 if _outvoted(q, tree0, tree1, m0, m1, True, best_d, best_i, scratch0, scratch1) else 0
            else:
                winner = 0 if _outvoted(q, tree1, tree0, m1, m0, False, best_d, best_i, scratch1, scratch0) else 1
            out[i] = winner


@ngjit
def _leaf_distances(q, points, lo, hi, dist):  # pragma: no cover - numba
    """Squared distances from ``q`` to points ``lo:hi`` into ``dist``, vectorized over the points.

    Features are added left to right from zero, four per pass over the leaf, as a row-wise sum would;
    the first pass needs no cleared buffer.
    """
    n = hi - lo
    d = len(q)
    j = 0
    while j < d:
        if j + 4 <= d:
            x0, x1, x2, x3 = points[j, lo:hi], points[j + 1, lo:hi], points[j + 2, lo:hi], points[j + 3, lo:hi]
            q0, q1, q2, q3 = q[j], q[j + 1], q[j + 2], q[j + 3]
            for p in range(n):
                t0 = q0 - x0[p]
                t1 = q1 - x1[p]
                t2 = q2 - x2[p]
                t3 = q3 - x3[p]
                acc = 0.0 if j == 0 else dist[p]
                dist[p] = (((acc + t0 * t0) + t1 * t1) + t2 * t2) + t3 * t3
            j += 4
        else:
            x = points[j, lo:hi]
            qj = q[j]
            for p in range(n):
                t = qj - x[p]
                acc = 0.0 if j == 0 else dist[p]
                dist[p] = acc + t * t
            j += 1
