"""LIME for masked inputs, following the sampling and kernel of ``lime``'s text explainer.

Implementation: numpy sampling plus scikit-learn ``Ridge`` (the regressor ``lime`` itself uses);
the ``lime`` package is not needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_seed
from interspect.engines.baselines._common import check_common, masks_of_sizes, require_budget
from interspect.queries.layer import as_queries

__all__ = ["lime"]


def lime(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    seed: int | None = 0,
    kernel_width: float = 25.0,
    alpha: float = 1.0,
    batch_size: int | None = None,
) -> Spectrum:
    """LIME: a locally weighted linear surrogate around the unmasked input.

    As in ``lime.lime_text.LimeTextExplainer``: the first row is the unmasked input; each other row
    removes a uniformly random number (1..n) of uniformly chosen features. Rows are weighted by
    ``sqrt(exp(−d²/width²))`` with ``d`` = 100 × the cosine distance to the unmasked input, and a
    ridge regression (``alpha=1`` as in ``lime``) with intercept is fitted on all ``n`` features.

    Implementation: numpy + scikit-learn ``Ridge``, in this package.

    Parameters
    ----------
    value_fn : callable
        ``(m, n)`` 0/1 masks -> ``m`` floats.
    n : int
        Number of features.
    budget : int
        Rows of ``value_fn`` to spend (at least 2).
    seed : int or None
        Seed of the private random generator.
    kernel_width : float, default 25
        Width of the exponential kernel on 100 × cosine distance (``lime``'s default).
    alpha : float, default 1.0
        Ridge penalty (``lime``'s default).
    batch_size : int, optional
        Rows per call of ``value_fn``.

    Returns
    -------
    Spectrum
        The linear surrogate ``b + Σ w_i x_i`` as a degree-1 spectrum (Möbius ``(i,)`` = ``w_i``).

    Examples
    --------
    >>> from interspect import games
    >>> g = games.LinearGame(n=6, seed=0)
    >>> s = lime(g, 6, budget=500, alpha=0.0)
    >>> bool(max(abs(s.mobius()[(i,)] - g.weights[i]) for i in range(6)) < 1e-9)
    True
    """
    n, budget, _ = check_common(value_fn, n, budget)
    rng = check_seed(seed)
    if not (kernel_width > 0 and np.isfinite(kernel_width)):
        raise ValueError(f"kernel_width must be a finite number > 0, got {kernel_width!r}")
    if not (alpha >= 0 and np.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    require_budget("lime", budget, 2, "the unmasked input and at least one perturbation")
    removed = rng.integers(1, n + 1, size=budget - 1)
    X = np.concatenate([np.ones((1, n), np.uint8), masks_of_sizes(rng, n, n - removed)])
    y = as_queries(value_fn, n, batch_size=batch_size)(X)
    kept = X.sum(axis=1)
    # Cosine distance between a 0/1 mask and the all-ones vector: 1 − sqrt(kept / n).
    d = 100.0 * (1.0 - np.sqrt(kept / n))
    w = np.sqrt(np.exp(-(d**2) / kernel_width**2))
    model = Ridge(alpha=alpha, fit_intercept=True)
    model.fit(X.astype(float), y, sample_weight=w)
    mobius = {(): float(model.intercept_)}
    mobius.update({(i,): float(c) for i, c in enumerate(model.coef_)})
    return Spectrum.from_mobius(mobius, n, n_queries=budget)
