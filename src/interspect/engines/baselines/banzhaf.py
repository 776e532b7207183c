"""Banzhaf values and Faith-Banzhaf interactions: least squares on uniformly random masks.

Implementation: numpy only (``numpy.linalg.lstsq``); no third-party explainer library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_seed
from interspect.engines.baselines._common import (
    check_common,
    design_matrix,
    interaction_keys,
    regression_masks,
    weighted_lstsq,
)
from interspect.engines.exact import MAX_EXACT_N
from interspect.queries.layer import as_queries

__all__ = ["banzhaf", "faith_banzhaf"]


def faith_banzhaf(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    order: int = 2,
    seed: int | None = 0,
    batch_size: int | None = None,
) -> Spectrum:
    """Faith-Banzhaf interaction index (FBII) of order ``order`` by regression.

    FBII is the best approximation of ``f`` by a polynomial ``Σ_{|T|≤ℓ} E(T) Π_{i∈T} x_i`` in
    mean squared error under the uniform distribution on masks (Tsai, Yeh & Ravikumar 2023). We
    draw ``budget`` uniformly random masks (distinct when n <= MAX_EXACT_N = 20) and fit that polynomial by ordinary least squares; when
    ``budget >= 2^n`` all masks are used once and the result is exact.

    Implementation: numpy (``lstsq``), in this package.

    Parameters
    ----------
    value_fn : callable
        ``(m, n)`` 0/1 masks -> ``m`` floats.
    n : int
        Number of features.
    budget : int
        Rows of ``value_fn`` to spend; at least the number of coefficients ``Σ_{s≤ℓ} C(n, s)``.
    order : int, default 2
        Explanation order ℓ (1..4); ``order=1`` gives Banzhaf values (:func:`banzhaf`).
    seed : int or None
        Seed of the private random generator.
    batch_size : int, optional
        Rows per call of ``value_fn``.

    Returns
    -------
    Spectrum
        The fitted polynomial; its Möbius coefficients are the FBII values and
        ``spectrum.interactions("FBII", order)`` returns them unchanged.

    Examples
    --------
    >>> from interspect import exact, games
    >>> g = games.HierarchicalGame(n=6, n_top=2, seed=0)
    >>> s = faith_banzhaf(g, 6, budget=64, order=2)
    >>> ref = exact(g, 6).interactions("FBII", 2)
    >>> all(abs(s.mobius().get(k, 0.0) - v) < 1e-9 for k, v in ref.items())
    True
    """
    n, budget, order = check_common(value_fn, n, budget, order)
    rng = check_seed(seed)
    name = "banzhaf" if order == 1 else f"faith_banzhaf(order={order})"

    def sample() -> np.ndarray:
        if n <= MAX_EXACT_N:
            # Distinct masks (a uniform sample without replacement): near 2^n rows, repeats would
            # waste queries and leave the fit rank-deficient.
            codes = rng.choice(2**n, size=budget, replace=False)
            return ((codes[:, None] >> np.arange(n)) & 1).astype(np.uint8)
        return rng.integers(0, 2, size=(budget, n), dtype=np.uint8)

    X = regression_masks(name, n, budget, order, sample)
    y = as_queries(value_fn, n, batch_size=batch_size)(X)
    beta = weighted_lstsq(design_matrix(X, order), y)
    return Spectrum.from_mobius(dict(zip(interaction_keys(n, order), beta.tolist())), n, n_queries=X.shape[0])


def banzhaf(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    seed: int | None = 0,
    batch_size: int | None = None,
) -> Spectrum:
    """Banzhaf values by least squares on ``budget`` uniformly random masks.

    The best linear fit ``β₀ + Σ β_i x_i`` under the uniform distribution has ``β_i`` equal to the
    Banzhaf value of i (Hammer & Holzman 1992), so ordinary least squares on uniform masks is an
    unbiased-in-the-limit estimator. Returns the fitted surrogate as a degree-1 spectrum: its
    first-order Möbius coefficients are the Banzhaf estimates (``spectrum.interactions("BV")``).

    Implementation: numpy (``lstsq``), in this package — :func:`faith_banzhaf` with ``order=1``.

    Examples
    --------
    >>> from interspect import games
    >>> g = games.LinearGame(n=5, seed=0)
    >>> s = banzhaf(g, 5, budget=200)
    >>> bool(max(abs(s.mobius()[(i,)] - g.weights[i]) for i in range(5)) < 1e-9)
    True
    """
    return faith_banzhaf(value_fn, n, budget, order=1, seed=seed, batch_size=batch_size)
