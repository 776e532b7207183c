"""Shared pieces of the regression baselines: interaction design matrices, sampling, weighted fits."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from itertools import combinations
from math import comb
from typing import Any

import numpy as np

from interspect.core.validation import check_memory, check_n, check_positive_int
from interspect.engines.exact import MAX_EXACT_N, all_masks

Key = tuple[int, ...]

#: Largest design matrix (rows × coefficients) a regression baseline builds, to keep memory bounded.
MAX_DESIGN_ENTRIES = 60_000_000


def n_coefficients(n: int, order: int) -> int:
    """Number of interaction terms of size 0..order over n features."""
    return sum(comb(n, s) for s in range(min(order, n) + 1))


@lru_cache(maxsize=32)
def _combos(n: int, s: int) -> np.ndarray:
    if s == 0:
        return np.zeros((1, 0), dtype=np.int64)
    return np.array(list(combinations(range(n), s)), dtype=np.int64)


def interaction_keys(n: int, order: int) -> list[Key]:
    """All keys of size 0..order, by size then lexicographically; ``()`` first."""
    keys: list[Key] = []
    for s in range(min(order, n) + 1):
        keys.extend(tuple(row) for row in _combos(n, s).tolist())
    return keys


def design_matrix(X: np.ndarray, order: int) -> np.ndarray:
    """Columns ``Π_{i∈T} x_i`` for every key T of :func:`interaction_keys` (same order)."""
    m, n = X.shape
    cols = [np.ones((m, 1))]
    Xb = X.astype(bool)
    for s in range(1, min(order, n) + 1):
        C = _combos(n, s)
        cols.append(Xb[:, C].all(axis=2).astype(float))
    return np.concatenate(cols, axis=1)


def sampling_memory(n: int, budget: int) -> float:
    """Lower estimate of a sampling baseline's peak memory in bytes: drawing ``budget`` masks of
    given sizes takes a float64 key and two int64 ranks per entry (``24n``) beside the mask.

    Examples
    --------
    >>> sampling_memory(10, 100)
    27400.0
    """
    rows = min(budget, 2**n) if n <= MAX_EXACT_N else budget
    return float(rows) * (25 * n + 24)


def check_common(value_fn: Any, n: Any, budget: Any, order: Any = 1, *, max_order: int = 4) -> tuple[int, int, int]:
    """Validate the arguments every baseline shares; returns ``(n, budget, order)``."""
    if not callable(value_fn):
        raise TypeError(f"value_fn must be callable (masks of shape (m, n) -> m floats), got {type(value_fn).__name__}")
    n = check_n(n)
    budget = check_positive_int(budget, "budget")
    order = check_positive_int(order, "order")
    if order > max_order:
        raise ValueError(f"order must be between 1 and {max_order}, got {order}")
    check_memory(sampling_memory(n, budget), f"a baseline with budget={budget:,} at n={n}")
    return n, budget, order


def require_budget(method: str, budget: int, needed: int, why: str) -> None:
    """Raise one clear error when the budget cannot determine the fit."""
    if budget < needed:
        raise ValueError(f"{method} needs budget >= {needed} ({why}), got budget={budget}")


def check_design_size(method: str, rows: int, n_coef: int) -> None:
    if rows * n_coef > MAX_DESIGN_ENTRIES:
        raise ValueError(
            f"{method}: a {rows} x {n_coef} design matrix is too large "
            f"(limit {MAX_DESIGN_ENTRIES:,} entries); lower the order or the budget"
        )


def can_enumerate(n: int, budget: int) -> bool:
    """True when the budget covers all 2^n masks (then fits are exact, not sampled)."""
    return n <= MAX_EXACT_N and budget >= 2**n


def regression_masks(name: str, n: int, budget: int, order: int, sample: Callable[[], np.ndarray]) -> np.ndarray:
    """The masks of a regression baseline: all ``2^n`` when the budget covers them (the fit is then
    exact), else ``sample()`` once the budget is known to give one row per coefficient."""
    n_coef = n_coefficients(n, order)
    if can_enumerate(n, budget):
        X = all_masks(n)
    else:
        require_budget(name, budget, n_coef, f"one row per coefficient: {n_coef} interactions of size <= {order} over n={n}")
        X = sample()
    check_design_size(name, X.shape[0], n_coef)
    return X


def masks_of_sizes(rng: np.random.Generator, n: int, sizes: np.ndarray) -> np.ndarray:
    """One uniformly random mask with ``sizes[j]`` ones per row."""
    m = len(sizes)
    # Rank random keys per row: the ``size`` smallest become the kept features.
    ranks = np.argsort(np.argsort(rng.random((m, n)), axis=1), axis=1)
    return (ranks < np.asarray(sizes)[:, None]).astype(np.uint8)


def weighted_lstsq(A: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Minimise ``Σ_j w_j (y_j − A_j β)²`` (minimum-norm solution if rank deficient)."""
    if A.shape[1] == 0:
        return np.zeros(0)
    if w is not None:
        s = np.sqrt(w)
        A = A * s[:, None]
        y = y * s
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    return beta
