"""Distinct uniform random masks for the proxy's training set (SPEC §4.1)."""

from __future__ import annotations

import numpy as np

from interspect.core.validation import check_n, check_positive_int

__all__ = ["uniform_masks"]


def _row_keys(X: np.ndarray) -> np.ndarray:
    """One opaque, hashable-by-numpy key per row (packed bits viewed as a void scalar)."""
    packed = np.ascontiguousarray(np.packbits(X, axis=1))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def uniform_masks(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` distinct masks drawn uniformly from ``{0,1}^n``; row 0 is all-ones, row 1 all-zeros.

    The two extreme masks are always present because the explanation is about ``f(1…1)`` and its
    distance from the empty input. When ``m >= 2^n`` every mask is returned (in random order
    after the two extremes), so the result then has ``2^n`` rows.

    Parameters
    ----------
    n : int
        Number of features.
    m : int
        Number of masks wanted (at least 2).
    rng : numpy.random.Generator
        Source of randomness (the caller's private generator).

    Returns
    -------
    numpy.ndarray
        ``(min(m, 2^n), n)`` uint8 array of 0/1.

    Examples
    --------
    >>> import numpy as np
    >>> X = uniform_masks(5, 10, np.random.default_rng(0))
    >>> X.shape, X[0].tolist(), X[1].tolist()
    ((10, 5), [1, 1, 1, 1, 1], [0, 0, 0, 0, 0])
    >>> len({tuple(r) for r in X.tolist()})
    10
    """
    n = check_n(n)
    m = check_positive_int(m, "m", minimum=2)
    if n < 63 and m >= 2**n:
        from interspect.engines.exact import all_masks

        rest = all_masks(n)[1:-1]  # all_masks runs from all-zeros to all-ones
        rest = rest[rng.permutation(len(rest))]
        return np.concatenate([np.ones((1, n), np.uint8), np.zeros((1, n), np.uint8), rest])
    X = np.empty((0, n), dtype=np.uint8)
    seed_rows = np.stack([np.ones(n, np.uint8), np.zeros(n, np.uint8)])
    while True:
        need = m - len(X)
        # Draw a little more than needed: collisions are rare unless 2^n is close to m.
        draw = rng.integers(0, 2, size=(need + need // 8 + 8, n), dtype=np.uint8)
        cand = np.concatenate([seed_rows, X, draw]) if len(X) == 0 else np.concatenate([X, draw])
        _, first = np.unique(_row_keys(cand), return_index=True)
        X = cand[np.sort(first)][:m]
        if len(X) >= m:
            return np.ascontiguousarray(X)
