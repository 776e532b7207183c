"""KernelSHAP (Shapley values) and Faith-Shapley interactions: Shapley-kernel weighted least squares.

Implementation: numpy only (``numpy.linalg.lstsq``); no third-party explainer library.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_seed
from interspect.engines.baselines._common import (
    can_enumerate,
    check_common,
    design_matrix,
    interaction_keys,
    masks_of_sizes,
    n_coefficients,
    regression_masks,
    weighted_lstsq,
)
from interspect.queries.layer import as_queries

__all__ = ["kernelshap", "faith_shapley"]


def _kernel_weights(n: int, sizes: np.ndarray) -> np.ndarray:
    """Shapley kernel ``μ(S) = (n − 1) / (C(n, |S|) |S| (n − |S|))`` for ``0 < |S| < n``."""
    table = np.zeros(n + 1)
    for s in range(1, n):
        table[s] = (n - 1) / (comb(n, s) * s * (n - s))
    return table[sizes]


def _sample_kernel_masks(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """``m`` masks with ``0 < |S| < n`` drawn from the Shapley kernel, in complementary pairs.

    Sizes are drawn with probability ∝ ``1/(s(n − s))`` (the kernel's mass per size) and the set
    uniformly within its size, so every row carries the same weight. Pairing each set with its
    complement (as KernelSHAP does) cancels much of the sampling noise.
    """
    s = np.arange(1, n)
    p = 1.0 / (s * (n - s))
    p /= p.sum()
    half = (m + 1) // 2
    sizes = rng.choice(s, size=half, p=p)
    X = masks_of_sizes(rng, n, sizes)
    return np.concatenate([X, 1 - X], axis=0)[:m]


def faith_shapley(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    order: int = 2,
    seed: int | None = 0,
    batch_size: int | None = None,
) -> Spectrum:
    """Faith-Shapley interaction index (FSII) of order ``order`` by constrained weighted regression.

    FSII is the polynomial ``Σ_{|T|≤ℓ} E(T) Π_{i∈T} x_i`` closest to ``f`` in the Shapley-kernel
    weighted squared error, with ``f(∅)`` and ``f(1)`` matched exactly (Tsai, Yeh & Ravikumar 2023);
    for ``order=1`` it is the Shapley value and this is KernelSHAP (Lundberg & Lee 2017). We query
    ``∅`` and the full set, draw ``budget − 2`` masks from the kernel in complementary pairs, and
    solve the weighted least-squares problem with both constraints eliminated exactly. When
    ``budget >= 2^n`` every mask is used once with its kernel weight and the result is exact.

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
        Explanation order ℓ (1..4).
    seed : int or None
        Seed of the private random generator.
    batch_size : int, optional
        Rows per call of ``value_fn``.

    Returns
    -------
    Spectrum
        The fitted polynomial; its Möbius coefficients are the FSII values
        (``spectrum.interactions("FSII", order)`` returns them unchanged).

    Examples
    --------
    >>> from interspect import exact, games
    >>> g = games.HierarchicalGame(n=6, n_top=2, seed=0)
    >>> s = faith_shapley(g, 6, budget=64, order=2)
    >>> ref = exact(g, 6).interactions("FSII", 2)
    >>> all(abs(s.mobius().get(k, 0.0) - v) < 1e-9 for k, v in ref.items())
    True
    """
    n, budget, order = check_common(value_fn, n, budget, order)
    rng = check_seed(seed)
    name = "kernelshap" if order == 1 else f"faith_shapley(order={order})"
    keys = interaction_keys(n, order)
    n_coef = n_coefficients(n, order)
    X = regression_masks(
        name, n, budget, order,
        lambda: np.concatenate([np.zeros((1, n), np.uint8), np.ones((1, n), np.uint8), _sample_kernel_masks(rng, n, budget - 2)]),
    )
    y = as_queries(value_fn, n, batch_size=batch_size)(X)
    sizes = X.sum(axis=1)
    empty = np.flatnonzero(sizes == 0)[0]
    full = np.flatnonzero(sizes == n)[0]
    f0, f1 = y[empty], y[full]
    inner = (sizes > 0) & (sizes < n)
    if can_enumerate(n, budget):
        w = _kernel_weights(n, sizes[inner])
    else:
        w = np.ones(int(inner.sum()))  # sampled from the kernel: equal weights
    A = design_matrix(X[inner], order)
    beta = np.zeros(n_coef)
    beta[0] = f0
    delta = f1 - f0
    if n_coef > 1:
        # Eliminate the efficiency constraint Σ_{T≠∅} E(T) = f(1) − f(∅) through the last key.
        pivot = A[:, -1]
        free = A[:, 1:-1] - pivot[:, None]
        z = y[inner] - f0 - delta * pivot
        rest = weighted_lstsq(free, z, w)
        beta[1:-1] = rest
        beta[-1] = delta - rest.sum()
    return Spectrum.from_mobius(dict(zip(keys, beta.tolist())), n, n_queries=X.shape[0])


def kernelshap(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    budget: int,
    *,
    seed: int | None = 0,
    batch_size: int | None = None,
) -> Spectrum:
    """Shapley values by KernelSHAP: Shapley-kernel weighted least squares with paired sampling.

    Returns the additive surrogate ``f(∅) + Σ φ_i x_i`` as a degree-1 spectrum; its first-order
    Möbius coefficients (and ``spectrum.interactions("SV")``) are the Shapley estimates, and they
    sum to ``f(1) − f(∅)`` exactly.

    Implementation: numpy (``lstsq``), in this package — :func:`faith_shapley` with ``order=1``.

    Examples
    --------
    >>> from interspect import games
    >>> g = games.LinearGame(n=5, seed=0)
    >>> s = kernelshap(g, 5, budget=20)
    >>> bool(max(abs(s.interactions("SV")[(i,)] - g.weights[i]) for i in range(5)) < 1e-9)
    True
    """
    return faith_shapley(value_fn, n, budget, order=1, seed=seed, batch_size=batch_size)
