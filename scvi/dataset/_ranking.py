"""Ranks and orders of values with ties, as scVI 0.6.8 (numpy < 1.25) made them.

``np.argsort`` with its default ``kind="quicksort"`` is not stable: equal values come
out in an order set by its introsort (median-of-three quicksort, insertion sort for
short ranges, heapsort past a depth limit). scVI 0.6.8 ordered genes and cells this
way, and recent numpy releases sort with other algorithms (SIMD sorts) that order
ties differently, and differently from one CPU to another. :func:`legacy_argsort`
gives that order on any machine, so that a selection among tied values (cells with
the same library size, genes with the same statistic) is the one scVI 0.6.8 made.
"""

import numpy as np

# ranges whose last and first positions differ by at most this are insertion sorted
_SMALL = 15


def _less(a, b) -> bool:
    """``a < b`` with NaN sorted after every number."""
    return a < b or (b != b and a == a)


def _heapsort(values, order, start: int, stop: int) -> None:
    """Heapsort ``order[start:stop]`` in place by ``values`` (1-based heap)."""
    n = stop - start

    def at(i):  # heap position i (1-based) in order
        return order[start + i - 1]

    def sift(root: int, size: int, item) -> None:
        i, j = root, 2 * root
        while j <= size:
            if j < size and _less(values[at(j)], values[at(j + 1)]):
                j += 1
            if not _less(values[item], values[at(j)]):
                break
            order[start + i - 1] = at(j)
            i, j = j, 2 * j
        order[start + i - 1] = item

    for root in range(n // 2, 0, -1):
        sift(root, n, at(root))
    for size in range(n, 1, -1):
        item = at(size)
        order[start + size - 1] = at(1)
        sift(1, size - 1, item)


def _introsort(values, order) -> None:
    """Sort the list of positions ``order`` in place by ``values``."""
    n = len(order)
    if n < 2:
        return
    stack = []
    low, high = 0, n - 1
    depth = 2 * (n.bit_length() - 1)
    while True:
        if depth < 0:
            _heapsort(values, order, low, high + 1)
        else:
            while high - low > _SMALL:
                mid = low + ((high - low) >> 1)
                if _less(values[order[mid]], values[order[low]]):
                    order[mid], order[low] = order[low], order[mid]
                if _less(values[order[high]], values[order[mid]]):
                    order[high], order[mid] = order[mid], order[high]
                if _less(values[order[mid]], values[order[low]]):
                    order[mid], order[low] = order[low], order[mid]
                pivot = values[order[mid]]
                i, j = low, high - 1
                order[mid], order[j] = order[j], order[mid]
                while True:
                    i += 1
                    while _less(values[order[i]], pivot):
                        i += 1
                    j -= 1
                    while _less(pivot, values[order[j]]):
                        j -= 1
                    if i >= j:
                        break
                    order[i], order[j] = order[j], order[i]
                order[i], order[high - 1] = order[high - 1], order[i]
                # the larger part waits on the stack, the smaller one goes on
                if i - low < high - i:
                    stack.append((i + 1, high))
                    high = i - 1
                else:
                    stack.append((low, i - 1))
                    low = i + 1
                depth -= 1
                stack[-1] += (depth,)
            for k in range(low + 1, high + 1):
                item = order[k]
                value = values[item]
                m = k
                while m > low and _less(value, values[order[m - 1]]):
                    order[m] = order[m - 1]
                    m -= 1
                order[m] = item
        if not stack:
            return
        low, high, depth = stack.pop()


def legacy_argsort(values) -> np.ndarray:
    """Positions that sort ``values`` ascending, ties ordered as numpy < 1.25 did.

    Parameters
    ----------
    values
        One-dimensional numbers (NaN sorts last).

    Returns
    -------
    numpy.ndarray
        int64 positions: ``values[legacy_argsort(values)]`` is sorted, and equal
        values come in the order that ``np.argsort(values)`` gave with numpy 1.23.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"`values` must be one-dimensional, got shape {values.shape}")
    if values.size < 2 or np.unique(values).size == values.size:
        # no tie (np.unique merges NaNs, so several NaNs count as a tie): every
        # sort gives the same order
        return np.argsort(values, kind="stable").astype(np.int64)
    order = list(range(values.size))
    _introsort(values.tolist(), order)
    return np.asarray(order, dtype=np.int64)


def legacy_ranks(values) -> np.ndarray:
    """Rank of every value, 0 for the smallest, ties ranked by :func:`legacy_argsort`.

    Parameters
    ----------
    values
        One-dimensional numbers.

    Returns
    -------
    numpy.ndarray
        int64 ranks, a permutation of ``0, ..., len(values) - 1``.
    """
    order = legacy_argsort(values)
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks


def select_by_batches(ranks, n_top_genes: int):
    """Combine the ranks of the genes within batches as scVI 0.6.8 did.

    A gene is among the top genes of a batch when its rank there is one of the
    ``n_top_genes`` largest. Genes are taken by decreasing number of batches where
    they are top genes, then by decreasing median rank over all batches, then in
    their order.

    Parameters
    ----------
    ranks
        Ranks of shape (n_batches, n_genes), ``n_genes - 1`` for the highest
        statistic of a batch.
    n_top_genes
        Number of genes to select (all of them if it is at least n_genes).

    Returns
    -------
    tuple
        ``(median_rank, n_batches, selected)``: the float64 median rank over the
        batches, the int64 number of batches where the gene is a top gene, and the
        boolean mask of the ``min(n_top_genes, n_genes)`` selected genes.
    """
    ranks = np.atleast_2d(ranks)
    n_genes = ranks.shape[1]
    n_batches = np.sum(ranks >= n_genes - n_top_genes, axis=0).astype(np.int64)
    median_rank = np.median(ranks, axis=0).astype(np.float64)
    order = np.lexsort((-median_rank, -n_batches))
    selected = np.zeros(n_genes, dtype=bool)
    selected[order[:n_top_genes]] = True
    return median_rank, n_batches, selected
