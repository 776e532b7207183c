"""Shapley-Taylor interaction index (STII) by exact low-order terms plus importance sampling.

Implementation: numpy only, in this package (no third-party explainer library).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import comb
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_seed
from interspect.engines.baselines._common import (
    _combos,
    can_enumerate,
    check_common,
    masks_of_sizes,
    require_budget,
)
from interspect.engines.exact import all_masks
from interspect.queries.layer import as_queries

__all__ = ["shapley_taylor"]

_CHUNK_ENTRIES = 4_000_000


def _size_distribution(n: int, order: int) -> np.ndarray:
    """Sampling probability of each coalition size: ∝ the estimator's total |weight| at that size."""
    mass = np.zeros(n + 1)
    for k in range(n + 1):
        for j in range(order + 1):
            if 0 <= k - j <= n - order:
                mass[k] += comb(order, j) * comb(n - order, k - j) / comb(n - 1, k - j)
    return mass / mass.sum()


def shapley_taylor(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    order: int = 2,
    seed: int | None = 0,
    batch_size: int | None = None,
) -> Spectrum:
    """Shapley-Taylor interaction index of order ``order`` (Sundararajan, Dhamdhere & Agarwal 2020).

    For ``|T| < ℓ`` the index is the Möbius coefficient ``a(T)``, computed exactly from the
    ``Σ_{s<ℓ} C(n, s)`` coalitions of size < ℓ. For ``|T| = ℓ`` it is
    ``ℓ/n Σ_{S ⊆ N∖T} δ_T f(S) / C(n−1, |S|)``, which rewrites as ``Σ_{S'} f(S') w_T(S')`` with
    ``w_T(S') = (−1)^{ℓ−|S'∩T|} (ℓ/n) / C(n−1, |S'∖T|)``; every sampled coalition S' therefore
    updates all ``C(n, ℓ)`` estimates at once (the representation SHAP-IQ uses). The rest of the
    budget draws S' with a size distribution ∝ the total weight per size and a uniform set within
    the size; ``f(∅)`` is subtracted as a control variate (the weights sum to zero). When
    ``budget >= 2^n`` all coalitions are used and the result is exact.

    Implementation: numpy, in this package.

    Parameters
    ----------
    value_fn : callable
        ``(m, n)`` 0/1 masks -> ``m`` floats.
    n : int
        Number of features.
    budget : int
        Rows of ``value_fn`` to spend; at least ``Σ_{s<ℓ} C(n, s) + 1``.
    order : int, default 2
        Explanation order ℓ (1..4).
    seed : int or None
        Seed of the private random generator.
    batch_size : int, optional
        Rows per call of ``value_fn``.

    Returns
    -------
    Spectrum
        The explanation as a polynomial ``Σ_{|T|≤ℓ} STII(T) Π_{i∈T} x_i``: its Möbius
        coefficients are the STII values (``spectrum.interactions("STII", order)`` returns them).

    Examples
    --------
    >>> from interspect import exact, games
    >>> g = games.HierarchicalGame(n=6, n_top=2, seed=0)
    >>> s = shapley_taylor(g, 6, budget=64, order=2)
    >>> ref = exact(g, 6).interactions("STII", 2)
    >>> all(abs(s.mobius().get(k, 0.0) - v) < 1e-9 for k, v in ref.items())
    True
    """
    n, budget, order = check_common(value_fn, n, budget, order)
    rng = check_seed(seed)
    order = min(order, n)
    name = f"shapley_taylor(order={order})"
    low_keys = [tuple(row) for s in range(order) for row in _combos(n, s).tolist()]
    exact_mode = can_enumerate(n, budget)
    if exact_mode:
        X = all_masks(n)
        y = as_queries(value_fn, n, batch_size=batch_size)(X)
        pos = {k: sum(1 << i for i in k) for k in low_keys}
        low_vals = {k: y[pos[k]] for k in low_keys}
        iw = np.ones(n + 1)
        Xs, ys = X, y
        n_queries = X.shape[0]
    else:
        require_budget(name, budget, len(low_keys) + 1, f"all {len(low_keys)} coalitions of size < {order} plus samples")
        L = np.zeros((len(low_keys), n), np.uint8)
        for r, k in enumerate(low_keys):
            L[r, list(k)] = 1
        m = budget - len(low_keys)
        p = _size_distribution(n, order)
        sizes = rng.choice(n + 1, size=m, p=p)
        Xs = masks_of_sizes(rng, n, sizes)
        y = as_queries(value_fn, n, batch_size=batch_size)(np.concatenate([L, Xs]))
        low_vals = dict(zip(low_keys, y[: len(low_keys)].tolist()))
        ys = y[len(low_keys) :]
        # Importance weight 1 / (m q(S')) with q(S') = p(|S'|) / C(n, |S'|), folded into the table.
        iw = np.array([comb(n, k) / (m * p[k]) if p[k] > 0 else 0.0 for k in range(n + 1)])
        n_queries = budget
    mobius: dict[tuple[int, ...], float] = {}
    for T in low_keys:  # a(T) = Σ_{L⊆T} (−1)^{|T|−|L|} f(L)
        mobius[T] = float(sum((-1) ** (len(T) - s) * low_vals[sub] for s in range(len(T) + 1) for sub in combinations(T, s)))
    # Weight table W[k, c] for a coalition of size k meeting T in c features.
    W = np.zeros((n + 1, order + 1))
    for k in range(n + 1):
        for c in range(order + 1):
            if 0 <= k - c <= n - order and iw[k] > 0:
                W[k, c] = (-1) ** (order - c) * (order / n) * iw[k] / comb(n - 1, k - c)
    g = ys - low_vals[()]
    ks = Xs.sum(axis=1)
    top = _combos(n, order)
    chunk = max(1, _CHUNK_ENTRIES // max(len(ys), 1))
    est = np.empty(len(top))
    for start in range(0, len(top), chunk):
        C = top[start : start + chunk]
        counts = Xs[:, C].sum(axis=2, dtype=np.int64)
        est[start : start + chunk] = g @ W[ks[:, None], counts]
    mobius.update({tuple(T): float(v) for T, v in zip(top.tolist(), est)})
    return Spectrum.from_mobius(mobius, n, n_queries=n_queries)
