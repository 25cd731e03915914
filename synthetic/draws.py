"""Small numeric helpers of the generator: grouped draws, picks, calibration, ids.

Each takes the ``np.random.Generator`` it draws from, so that the caller fixes the order
of the draws and one seed always gives the same world.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-x))


def choose_by_group(rng: np.random.Generator, group: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Draw one column of ``prob`` per row, using the row of ``prob`` given by ``group``.

    The per-group cumulative distributions are laid end to end (row ``g`` spans
    ``(g, g + 1]``) so that one ``searchsorted`` serves every group.

    Args:
        rng: The random stream.
        group: Row of ``prob`` of each draw.
        prob: Unnormalised weights, one row per group.

    Returns:
        Column index of ``prob`` per draw.
    """
    n_groups, n_options = prob.shape
    cum = np.cumsum(prob / prob.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    u = rng.random(group.shape[0])
    pos = np.searchsorted(flat, group + u, side="right")
    return np.minimum(pos - group * n_options, n_options - 1)


def uniform_between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers uniform in ``[low, high)`` elementwise (``high > low``).

    Args:
        rng: The random stream.
        low: Lowest value, per element.
        high: One past the highest value, per element.

    Returns:
        One integer per element.
    """
    return low + np.floor(rng.random(low.shape[0]) * (high - low)).astype(np.int64)


def pick(
    rng: np.random.Generator, candidates: np.ndarray, count: int, p: np.ndarray | None = None
) -> np.ndarray:
    """Pick ``count`` distinct entries of ``candidates`` (fewer if there are not enough).

    Args:
        rng: The random stream.
        candidates: What to pick from.
        count: How many to pick.
        p: Relative weights of the candidates, or uniform.

    Returns:
        The picked entries, ``min(count, len(candidates))`` of them.
    """
    count = min(count, candidates.shape[0])
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    if p is not None:
        p = p / p.sum()
    return rng.choice(candidates, size=count, replace=False, p=p)


def intercept_for_rate(logit: np.ndarray, target: float) -> float:
    """The shift ``b`` with ``mean(sigmoid(logit + b)) == target`` (bisection).

    Args:
        logit: Log-odds per row.
        target: The mean probability wanted.

    Returns:
        The shift (0 without rows).
    """
    if logit.size == 0:
        return 0.0
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if sigmoid(logit + mid).mean() < target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def numbered_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Text ids such as ``IMP00042`` for 1-based ``numbers``.

    Args:
        prefix: Text before the number.
        numbers: The numbers.
        width: Digits, zero-padded.

    Returns:
        One id per number.
    """
    return np.strings.add(prefix, np.strings.zfill(numbers.astype(np.int64).astype("U"), width))


def permuted_ids(rng: np.random.Generator, prefix: str, count: int, width: int) -> np.ndarray:
    """Ids for ``count`` entities, numbered in a random order (the number says nothing).

    Args:
        rng: The random stream.
        prefix: Text before the number.
        count: Number of entities.
        width: Digits, zero-padded.

    Returns:
        Id of entity ``i`` at position ``i``.
    """
    return numbered_ids(prefix, rng.permutation(count) + 1, width)
