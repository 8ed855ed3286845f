"""Exact cosine search over vectors held in memory, in blocks so that no similarity matrix is
ever whole: nearest neighbours of a few queries, and groups of near-duplicates (every pair at or
above a cosine, joined transitively). The pair search costs n^2 * width / 2 multiply-adds:
benchmarks/report.py measures it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

# Similarities held at once: a (block x n) float32 slice of at most 64 MB.
BLOCK_CELLS = 1 << 24


class Neighbours(NamedTuple):
    query: int
    indices: list[int]  # nearest first
    scores: list[float]  # cosine similarity


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows of a float32 matrix scaled to length 1, in place, so that a few hundred thousand
    vectors are held once (all-zero rows stay zero: similar to nothing)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1, norms)
    return matrix


def _block_rows(n: int) -> int:
    return max(1, min(n, BLOCK_CELLS // max(n, 1)))


def nearest(unit: np.ndarray, queries: Sequence[int], k: int) -> list[Neighbours]:
    """The `k` nearest other rows of each query row, by cosine."""
    n = len(unit)
    k = min(k, n - 1)
    found = []
    for start in range(0, len(queries), _block_rows(n)):
        block = list(queries[start : start + _block_rows(n)])
        scores = unit[block] @ unit.T
        scores[np.arange(len(block)), block] = -np.inf  # not its own neighbour
        if k <= 0:
            found.extend(Neighbours(query, [], []) for query in block)
            continue
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, query in enumerate(block):
            order = top[row][np.argsort(-scores[row, top[row]], kind="stable")]
            found.append(Neighbours(query, order.tolist(), scores[row, order].tolist()))
    return found


class _Groups:
    """Union-find over row indices."""

    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def duplicate_groups(
    unit: np.ndarray,
    min_cosine: float,
    on_rows: Callable[[int, int], None] = lambda done, total: None,
) -> list[list[int]]:
    """Groups of two or more rows linked by pairs at or above `min_cosine`, largest first, each
    in row order; `on_rows(rows done, rows)` after each block."""
    n = len(unit)
    groups = _Groups(n)
    step = _block_rows(n)
    for start in range(0, n, step):
        stop = min(n, start + step)
        # Only pairs (i, j) with j > i: the upper triangle, half the work.
        scores = unit[start:stop] @ unit[start:].T
        rows, columns = np.nonzero(scores >= min_cosine)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            i, j = start + row, start + column
            if j > i:
                groups.join(i, j)
        on_rows(stop, n)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(groups.find(i), []).append(i)
    found = [group for group in members.values() if len(group) > 1]
    return sorted(found, key=lambda group: (-len(group), group[0]))
