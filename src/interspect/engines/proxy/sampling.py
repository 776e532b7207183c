"""Distinct uniform random masks for the proxy's training set (SPEC §4.1).

:func:`draw_masks` is the one place the engine draws training masks (uniform, or uniform pairs
of a mask and its complement); everything else asks it.
"""

from __future__ import annotations

import numpy as np

from interspect.core.validation import check_n, check_positive_int

__all__ = ["uniform_masks", "draw_masks", "more_masks"]


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


def stratified_masks(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Like :func:`uniform_masks`, but the numbers of kept features follow the binomial
    distribution's quantiles at evenly spaced levels instead of independent draws (the same
    distribution with less spread); given its count, each mask is uniform.

    Examples
    --------
    >>> import numpy as np
    >>> X = stratified_masks(10, 50, np.random.default_rng(0))
    >>> X.shape, len({r.tobytes() for r in X})
    ((50, 10), 50)
    """
    from scipy.stats import binom

    n = check_n(n)
    m = check_positive_int(m, "m", minimum=2)
    if n < 63 and m >= 2**n:
        return uniform_masks(n, m, rng)
    seed_rows = np.stack([np.ones(n, np.uint8), np.zeros(n, np.uint8)])
    X = seed_rows
    while len(X) < m:
        need = m - len(X)
        levels = (np.arange(need) + rng.random(need)) / need
        counts = binom.ppf(levels, n, 0.5).astype(np.int64)
        # Row r keeps the counts[r] features with the smallest random keys.
        ranks = np.argsort(rng.random((need, n)), axis=1).argsort(axis=1)
        draw = (ranks < counts[:, None]).astype(np.uint8)
        cand = np.concatenate([X, draw])
        _, first = np.unique(_row_keys(cand), return_index=True)
        X = cand[np.sort(first)]
    return np.ascontiguousarray(X[:m])


def draw_masks(n: int, m: int, rng: np.random.Generator, *, paired: bool = False, stratified: bool = False) -> np.ndarray:
    """``m`` distinct training masks: :func:`uniform_masks`, or with ``paired`` uniform masks
    each followed by its complement (all-ones and all-zeros, a complementary pair, first).

    Every row of either design is marginally uniform on ``{0,1}^n``; the paired design makes
    the sample's odd-degree Fourier columns orthogonal to its even-degree ones.

    Examples
    --------
    >>> import numpy as np
    >>> X = draw_masks(6, 8, np.random.default_rng(0), paired=True)
    >>> bool(((X[2::2] + X[3::2]) == 1).all())
    True
    """
    if stratified:
        return stratified_masks(n, m, rng)
    if not paired:
        return uniform_masks(n, m, rng)
    n = check_n(n)
    m = check_positive_int(m, "m", minimum=2)
    if n < 63 and m >= 2**n:
        return uniform_masks(n, m, rng)
    half = uniform_masks(n, (m + 1) // 2 + 1, rng)  # rows 0, 1 are the extremes
    base = half[2:]
    keys = _row_keys(base)
    comp_keys = _row_keys(1 - base)
    # A mask whose complement was drawn too would repeat: keep the first of each such pair.
    position = {k.tobytes(): i for i, k in enumerate(keys)}
    keep = np.array([position.get(c.tobytes(), len(keys)) >= i for i, c in enumerate(comp_keys)], dtype=bool)
    base = base[keep]
    pairs = np.empty((2 * len(base), n), dtype=np.uint8)
    pairs[0::2], pairs[1::2] = base, 1 - base
    X = np.concatenate([half[:2], pairs])[:m]
    if len(X) < m:  # only when pairs collided: top up with fresh uniform rows
        extra = uniform_masks(n, m + 2 * (m - len(X)) + 8, rng)
        seen = {r.tobytes() for r in np.packbits(X, axis=1)}
        add = [r for r in extra if np.packbits(r).tobytes() not in seen][: m - len(X)]
        X = np.concatenate([X, np.array(add, dtype=np.uint8).reshape(-1, n)])
    return np.ascontiguousarray(X)


def more_masks(X: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` more uniform random masks, distinct from each other and from the rows of ``X``
    (fewer when ``{0,1}^n`` runs out).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = uniform_masks(8, 100, rng)
    >>> Y = more_masks(X, 50, rng)
    >>> Y.shape, len({r.tobytes() for r in np.concatenate([X, Y])})
    ((50, 8), 150)
    """
    n = X.shape[1]
    if n < 63:
        m = min(m, 2**n - len(X))
    out = np.empty((0, n), dtype=np.uint8)
    if m <= 0:
        return out
    seen = set(_row_keys(X).tolist())
    while len(out) < m:
        need = m - len(out)
        draw = rng.integers(0, 2, size=(need + need // 8 + 8, n), dtype=np.uint8)
        _, first = np.unique(_row_keys(draw), return_index=True)
        draw = draw[np.sort(first)]
        keys = _row_keys(draw).tolist()
        fresh = np.array([k not in seen for k in keys], dtype=bool)
        draw = draw[fresh][:need]
        seen.update(_row_keys(draw).tolist())
        out = np.concatenate([out, draw])
    return np.ascontiguousarray(out)
