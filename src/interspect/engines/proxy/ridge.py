"""Ridge re-fit of Fourier coefficients on all samples, the penalty (and support size) chosen by
generalised cross-validation (SPEC §4.5).

:class:`NormalEquations` holds what a fit needs from the data (built in row chunks from the ±1
parity design); :func:`ridge_gcv` solves it for many penalties from one eigen-decomposition;
:func:`ridge_refit` does both for a list of keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from interspect.core.parity import parity_design
from interspect.core.validation import check_masks, check_outputs

__all__ = ["ridge_refit", "NormalEquations", "ridge_gcv", "GCV_RTOL", "GCV_ATOL"]

# Scores within this relative (and, against rounding on exact data, absolute × Σ(y−ȳ)²) margin of
# the best count as equally good; the simpler model is then preferred.
GCV_RTOL = 5e-3
GCV_ATOL = 1e-10


def ridge_refit(
    keys: list[tuple[int, ...]],
    X: np.ndarray,
    y: np.ndarray,
    *,
    sizes: list[int] | None = None,
    alphas: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float, float]:
    """Ridge re-fit of the Fourier coefficients of ``keys`` on all samples, α (and size) by GCV.

    The constant is an unpenalised intercept. For every candidate α the generalised
    cross-validation error ``‖y − ŷ‖² / (1 − tr H / m)²`` (the closed-form stand-in for
    leave-one-out used by scikit-learn's ``RidgeCV``) comes from one eigen-decomposition of the
    Gram matrix, so trying many α costs little. The Gram matrix of the ±1 basis is computed
    exactly in float32 (its entries are integers) and centred afterwards.

    Parameters
    ----------
    keys : list of tuple of int
        Non-constant interaction keys, most important first.
    X : (m, n) array of 0/1
        Masks.
    y : (m,) array
        Outputs.
    sizes : list of int, optional
        Candidate support sizes: the first ``s`` keys are fitted for each ``s``, and the size with
        the smallest GCV error wins (the other coefficients are returned as 0). Default: all keys.
    alphas : array, optional
        Penalties to try, relative to ``m`` (default ``logspace(-8, 1, 28)``).

    Returns
    -------
    (constant, coefficients, alpha, gcv)
        Coefficients aligned with ``keys``; the chosen absolute penalty; its GCV error (mean
        squared, an estimate of the error on fresh masks).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 2, size=(200, 4))
    >>> y = 1.0 + 0.5 * (-1.0) ** (X[:, 0] + X[:, 2])
    >>> c, w, _, _ = ridge_refit([(0, 2), (1,)], X, y)
    >>> round(c, 3), np.round(w, 3).tolist()
    (1.0, [0.5, 0.0])
    """
    X = check_masks(X)
    y = check_outputs(y, X.shape[0], "y")
    if not keys:
        m = X.shape[0]
        return float(y.mean()), np.zeros(0), 0.0, float(np.var(y)) * m / max(m - 1, 1)
    return ridge_gcv(NormalEquations.from_keys(keys, X, y), sizes=sizes, alphas=alphas)


class NormalEquations:
    """What the ridge re-fit needs from the data: the centred Gram matrix of the ±1 basis, its
    product with the centred outputs, the column means, ``ȳ``, ``Σ(y − ȳ)²`` and ``m``.
    """

    def __init__(self, gram: np.ndarray, b: np.ndarray, mu: np.ndarray, ybar: float, tss: float, m: int) -> None:
        self.gram, self.b, self.mu, self.ybar, self.tss, self.m = gram, b, mu, ybar, tss, m

    @classmethod
    def from_design(cls, Phi: np.ndarray, y: np.ndarray) -> NormalEquations:
        """From the ±1 design ``Phi`` (float32: its Gram entries are integers, exact below 2^24)."""
        return cls._from_chunks(lambda rows: Phi[rows], y, len(y))

    @classmethod
    def from_keys(cls, keys: list[tuple[int, ...]], X: np.ndarray, y: np.ndarray) -> NormalEquations:
        """From the keys' design on ``X``, built in row chunks to bound its memory."""
        step = max(1, min(len(y), 2**24 - 1, int(4e7 // max(len(keys), 1))))
        return cls._from_chunks(lambda rows: parity_design(keys, X[rows], np.float32), y, step)

    @classmethod
    def _from_chunks(cls, design: Callable[[slice], np.ndarray], y: np.ndarray, step: int) -> NormalEquations:
        # Each chunk's Gram block is exact in float32; the running sums are float64.
        m = len(y)
        ybar = float(y.mean())
        yc = y - ybar
        gram: Any = 0.0
        colsum: Any = 0.0
        b: Any = 0.0
        for start in range(0, m, step):
            rows = slice(start, start + step)
            Phi = design(rows)
            gram = gram + (Phi.T @ Phi).astype(np.float64)
            colsum = colsum + Phi.sum(axis=0, dtype=np.float64)
            b = b + Phi.T.astype(np.float64) @ yc[rows]  # Σ yc = 0, so centring Φ is not needed here
        mu = colsum / m
        return cls(gram - np.outer(colsum, mu), b, mu, ybar, float(yc @ yc), m)


def ridge_gcv(
    eq: NormalEquations,
    *,
    sizes: list[int] | None = None,
    alphas: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float, float]:
    """The ridge fit of :func:`ridge_refit` from prepared normal equations (same arguments and result)."""
    m, K = eq.m, len(eq.b)
    if K == 0:
        return eq.ybar, np.zeros(0), 0.0, eq.tss / max(m - 1, 1)
    sizes = sorted({min(max(int(s), 1), K) for s in (sizes or [K])})
    rel = np.logspace(-8, 1, 28) if alphas is None else np.asarray(alphas, dtype=float)
    gram, b, mu, tss = eq.gram, eq.b, eq.mu, eq.tss
    per_size: list[tuple[float, int, float, np.ndarray, np.ndarray]] = []
    pen = rel * m
    # One errstate for the loop (entering it per size cost more than the arithmetic at small sizes).
    with np.errstate(divide="ignore", invalid="ignore"):
        for size in sizes:
            # numpy's eigh (LAPACK syevd, divide and conquer) releases the GIL, scipy's does not:
            # folds fitted in threads (n_jobs) then run side by side. It was also faster here.
            s2, V = np.linalg.eigh(gram[:size, :size])
            s2 = np.clip(s2, 0.0, None)
            z = V.T @ b[:size]  # = s_j · (u_jᵀ y)
            uy2 = np.where(s2 > 1e-9 * m, z * z / s2, 0.0)
            # Every penalty at once (rows: penalties, columns: eigen-directions).
            shrink = s2[None, :] / (s2[None, :] + pen[:, None])
            # ‖y − ŷ‖² = ‖yc‖² − Σ_j (u_jᵀy)² (1 − (α/(s²+α))²); (u_jᵀy)² = z_j²/s_j².
            rss = np.maximum(tss - (uy2[None, :] * (1.0 - (1.0 - shrink) ** 2)).sum(axis=1), 0.0)
            dof = shrink.sum(axis=1) + 1.0
            score = np.where(dof < m, rss / (1.0 - dof / m) ** 2, np.inf)
            j = int(np.argmin(score))  # the first minimum: the smallest penalty among equals
            best_a = (float(score[j]), float(pen[j])) if np.isfinite(score[j]) else (np.inf, 0.0)
            per_size.append((best_a[0], size, best_a[1], s2, V))
    # The smallest support within a hair of the best score: on exactly sparse data every larger
    # support also scores ~0, and the extra near-zero terms would only clutter the explanation.
    floor = min(p[0] for p in per_size)
    gcv, size, a, s2, V = next(p for p in per_size if p[0] <= floor * (1 + GCV_RTOL) + GCV_ATOL * tss)
    w = np.zeros(K)
    w[:size] = V @ ((V.T @ b[:size]) / (s2 + a))
    return eq.ybar - float(mu @ w), w, a, gcv / m
