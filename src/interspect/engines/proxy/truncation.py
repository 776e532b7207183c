"""Keep the coefficients that matter, then re-fit them by ridge (SPEC §4.4–4.5).

The reference cut keeps the largest coefficients until 95% of the non-constant energy is reached.
Two refinements: a group of (nearly) equal magnitudes is never split by the cut, since which of
them falls on which side would be arbitrary, and the subsets of every kept interaction are kept
too when they carry some energy of their own, because hierarchical functions (LLM outputs among
them) put weight on every subset of an interaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from interspect.core.validation import check_masks, check_outputs
from interspect.engines.proxy.tree_spectrum import KeyTable

__all__ = ["truncate", "refit", "fourier_design", "NormalEquations", "ridge_gcv"]

# Scores within this relative (and, against rounding on exact data, absolute × Σ(y−ȳ)²) margin of
# the best count as equally good; the simpler model is then preferred.
GCV_RTOL = 5e-3
GCV_ATOL = 1e-10


def _check_fraction(value: float, name: str, *, low: float = 0.0, high: float = 1.0) -> float:
    if not (isinstance(value, int | float) and low <= float(value) <= high):
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def truncate_table(
    table: KeyTable,
    *,
    energy: float = 0.95,
    tie_rtol: float = 1e-2,
    hierarchy: float = 0.1,
    max_terms: int | None = None,
) -> np.ndarray:
    """Indices of the non-constant rows of ``table`` to keep (sorted by decreasing magnitude).

    ``hierarchy`` is the smallest magnitude, relative to the energy cut-off, a subset of a kept
    key must have to be added (0 disables the hierarchy step).
    """
    mag = np.abs(table.values)
    mag[table.degrees == 0] = 0.0
    total = float(np.sum(mag**2))
    if total == 0.0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-mag, kind="stable")
    cum = np.cumsum(mag[order] ** 2)
    k = int(np.searchsorted(cum, energy * total * (1 - 1e-12)))
    cut = float(mag[order[min(k, len(order) - 1)]])
    keep = mag >= cut * (1.0 - tie_rtol)
    if hierarchy > 0:
        keep |= _subset_closure(table, np.flatnonzero(keep), mag >= hierarchy * cut)
    keep &= mag > 0
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-mag[idx], kind="stable")]
    if max_terms is not None and len(idx) > max_terms:
        # Cut below the last full tie group that fits, so ties still stay together.
        m_sorted = mag[idx]
        limit = m_sorted[max_terms] * (1.0 + tie_rtol)
        idx = idx[m_sorted > limit][:max_terms]
    return idx


def _subset_closure(table: KeyTable, kept: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Mark every eligible proper subset of the kept keys."""
    add = np.zeros(len(table), dtype=bool)
    if len(kept) == 0:
        return add
    D = table.digits[kept]
    width = D.shape[1]
    for t in range(1, 2**width - 1):
        cols = [j for j in range(width) if (t >> j) & 1]
        sub = D[:, cols]
        valid = (sub >= 0).all(axis=1) & ((D >= 0).sum(axis=1) > len(cols))
        if not valid.any():
            continue
        q = np.full((int(valid.sum()), width), -1, dtype=np.int64)
        q[:, : len(cols)] = sub[valid]
        hit = table.lookup(q)
        hit = hit[hit >= 0]
        add[hit[eligible[hit]]] = True
    return add


def truncate(
    fourier: Mapping[tuple[int, ...], float],
    *,
    energy: float = 0.95,
    tie_rtol: float = 1e-2,
    hierarchy: float = 0.1,
    max_terms: int | None = None,
) -> dict[tuple[int, ...], float]:
    """Keep the largest Fourier coefficients holding at least ``energy`` of the non-constant energy.

    Parameters
    ----------
    fourier : dict of tuple of int to float
        Coefficients, e.g. ``tree_spectrum(model).fourier``.
    energy : float, default 0.95
        Fraction of the non-constant energy ``Σ_{k≠∅} F(k)²`` the kept set must hold.
    tie_rtol : float, default 0.01
        Coefficients within this relative distance of the cut-off magnitude count as tied with it
        and are kept together.
    hierarchy : float, default 0.1
        Also keep every subset of a kept key whose magnitude is at least this fraction of the
        cut-off magnitude (0 turns this off).
    max_terms : int, optional
        Upper bound on the number of kept non-constant terms (whole tie groups are dropped).

    Returns
    -------
    dict
        The kept coefficients (the constant ``()`` always included when present).

    Examples
    --------
    >>> f = {(): 1.0, (0,): 2.0, (1,): 1.0, (2,): 1.0, (3,): 0.1}
    >>> sorted(truncate(f, energy=0.7))  # (1,) and (2,) tie at the cut: both stay
    [(), (0,), (1,), (2,)]
    """
    energy = _check_fraction(energy, "energy")
    tie_rtol = _check_fraction(tie_rtol, "tie_rtol")
    hierarchy = _check_fraction(hierarchy, "hierarchy", high=float("inf"))
    keys = [tuple(sorted(int(i) for i in k)) for k in fourier]
    values = np.array([float(v) for v in fourier.values()])
    width = max((len(k) for k in keys), default=0)
    n = max((k[-1] for k in keys if k), default=0) + 1
    digits = np.full((len(keys), width), -1, dtype=np.int64)
    for r, k in enumerate(keys):
        digits[r, : len(k)] = k
    table = KeyTable(digits, values, n)
    idx = truncate_table(table, energy=energy, tie_rtol=tie_rtol, hierarchy=hierarchy, max_terms=max_terms)
    out = {k: v for k, v in zip(keys, values.tolist()) if not k}
    out.update({keys[i]: float(values[i]) for i in idx})
    return out


def fourier_design(keys: list[tuple[int, ...]], X: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """The ±1 Fourier basis ``Φ[r, c] = (−1)^{Σ_{i∈keys[c]} X[r, i]}``, shape ``(m, len(keys))``."""
    m, n = X.shape
    if not keys:
        return np.zeros((m, 0), dtype=dtype)
    rows = np.repeat(np.arange(len(keys)), [len(k) for k in keys])
    cols = np.fromiter((i for k in keys for i in k), dtype=np.int64, count=len(rows))
    member = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(keys), n))
    counts = np.asarray((member @ X.T.astype(np.float32)).T)
    return (1 - 2 * (counts.astype(np.int64) & 1)).astype(dtype)


def refit(
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
    >>> c, w, _, _ = refit([(0, 2), (1,)], X, y)
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
        return cls._from_chunks(lambda rows: fourier_design(keys, X[rows], np.float32), y, step)

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
    """The ridge fit of :func:`refit` from prepared normal equations (same arguments and result)."""
    m, K = eq.m, len(eq.b)
    if K == 0:
        return eq.ybar, np.zeros(0), 0.0, eq.tss / max(m - 1, 1)
    sizes = sorted({min(max(int(s), 1), K) for s in (sizes or [K])})
    rel = np.logspace(-8, 1, 28) if alphas is None else np.asarray(alphas, dtype=float)
    gram, b, mu, tss = eq.gram, eq.b, eq.mu, eq.tss
    per_size: list[tuple[float, int, float, np.ndarray, np.ndarray]] = []
    for size in sizes:
        s2, V = scipy.linalg.eigh(gram[:size, :size], driver="evd")  # divide & conquer: ~2x numpy's
        s2 = np.clip(s2, 0.0, None)
        z = V.T @ b[:size]  # = s_j · (u_jᵀ y)
        with np.errstate(divide="ignore", invalid="ignore"):
            uy2 = np.where(s2 > 1e-9 * m, z * z / s2, 0.0)
        best_a = (np.inf, 0.0)
        for a in rel * m:
            shrink = s2 / (s2 + a)
            # ‖y − ŷ‖² = ‖yc‖² − Σ_j (u_jᵀy)² (1 − (α/(s²+α))²); (u_jᵀy)² = z_j²/s_j².
            rss = max(tss - float(np.sum(uy2 * (1.0 - (1.0 - shrink) ** 2))), 0.0)
            dof = float(np.sum(shrink)) + 1.0
            if dof < m:
                best_a = min(best_a, (rss / (1.0 - dof / m) ** 2, float(a)))
        per_size.append((best_a[0], size, best_a[1], s2, V))
    # The smallest support within a hair of the best score: on exactly sparse data every larger
    # support also scores ~0, and the extra near-zero terms would only clutter the explanation.
    floor = min(p[0] for p in per_size)
    gcv, size, a, s2, V = next(p for p in per_size if p[0] <= floor * (1 + GCV_RTOL) + GCV_ATOL * tss)
    w = np.zeros(K)
    w[:size] = V @ ((V.T @ b[:size]) / (s2 + a))
    return eq.ybar - float(mu @ w), w, a, gcv / m
