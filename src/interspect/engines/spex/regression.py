"""Cross-validated ridge refit of the discovered support on all collected samples.

Every column of the regression (a Fourier character ``(−1)^{⟨k, x⟩}``) evaluated on the design
``x = M_c ℓ + d_p`` equals ``(−1)^{⟨d_p, k⟩} (−1)^{⟨M_cᵀk, ℓ⟩}``: a Walsh function of ℓ times a
sign. Walsh functions are orthogonal over ℓ, so the normal equations come straight from the bin
transform, without ever forming the (samples × columns) matrix:

- ``(Xᵀy)_k = Σ_{c,p} (−1)^{⟨d_p,k⟩} Y_{c,p}[M_cᵀk]`` (``Y`` the unnormalised WHT of the outputs),
- ``(XᵀX)_{k,k'} = 2^b Σ_c [M_cᵀk = M_cᵀk'] Σ_p (−1)^{⟨d_p, k ⊕ k'⟩}`` — sparse: only keys that
  share a bin interact.

The groups are natural folds (each is a complete, independent random design), so the ridge
penalty is chosen by leave-one-group-out cross-validation, with the held-out error also computed
in Gram form: ``‖y_c − X_c β‖² = y_cᵀy_c − 2βᵀX_cᵀy_c + βᵀX_cᵀX_c β``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg, spsolve

from interspect.engines.spex.design import Design
from interspect.engines.spex.peeling import bin_transform

__all__ = ["refit_support", "FIRST_ORDER_MAX_N"]

FIRST_ORDER_MAX_N = 4096  # above this, only first-order terms that were discovered are refit
ALPHAS = (1e-12, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # relative to the samples per column


def _columns(found: dict[tuple[int, ...], float], n: int, first_order: bool) -> list[tuple[int, ...]]:
    cols = [()] + sorted((k for k in found if k), key=lambda k: (len(k), k))
    if first_order:
        have = set(cols)
        cols += [(i,) for i in range(n) if (i,) not in have]
    return cols


def _key_tables(cols: list[tuple[int, ...]], design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Hashes (K, C) and delay signs (K, p+1) of every column key."""
    H = design.hash_int.T  # (n, C)
    Dt = design.D.T  # (n, p+1)
    K = len(cols)
    lens = np.array([len(k) for k in cols])
    flat = np.fromiter((i for k in cols for i in k), dtype=np.int64, count=int(lens.sum()))
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    hashes = np.zeros((K, design.n_groups), dtype=np.int64)
    bits = np.zeros((K, design.n_delays), dtype=np.uint8)
    nz = lens > 0
    if flat.size:
        hashes[nz] = np.bitwise_xor.reduceat(H[flat], starts[nz], axis=0)
        bits[nz] = np.bitwise_xor.reduceat(Dt[flat], starts[nz], axis=0)
    return hashes, 1.0 - 2.0 * bits


def _group_gram(hash_c: np.ndarray, signs: np.ndarray, B: int) -> sp.csr_matrix:
    K = hash_c.shape[0]
    A = sp.csr_matrix((np.ones(K), (np.arange(K), hash_c)), shape=(K, B))
    pattern = (A @ A.T).tocoo()
    vals = B * np.einsum("ij,ij->i", signs[pattern.row], signs[pattern.col])
    return sp.csr_matrix((vals, (pattern.row, pattern.col)), shape=(K, K))


def _solve(G: sp.csr_matrix, h: np.ndarray, alpha: float, x0: np.ndarray | None) -> np.ndarray:
    K = G.shape[0]
    A = (G + alpha * sp.identity(K, format="csr")).tocsr()
    if K <= 400:
        return np.linalg.solve(A.toarray(), h)
    diag = A.diagonal()
    M = sp.diags(1.0 / diag)
    sol, info = cg(A, h, x0=x0, rtol=1e-13, atol=0.0, maxiter=2000, M=M)
    if info != 0:  # fall back to a direct sparse solve when CG stalls
        sol = spsolve(A.tocsc(), h)
    return np.asarray(sol)


def refit_support(
    found: dict[tuple[int, ...], float],
    y: np.ndarray,
    design: Design,
    *,
    first_order: bool | None = None,
) -> dict[tuple[int, ...], float]:
    """Ridge refit of ``found`` (+ constant + first-order terms) on all samples ``y`` (C, p+1, 2^b).

    ``first_order`` defaults to True for ``n <=`` :data:`FIRST_ORDER_MAX_N`. Terms whose refit
    value is below ``1e-9`` of the largest are dropped.
    """
    n = design.n
    C, P1, B = y.shape
    if first_order is None:
        first_order = n <= FIRST_ORDER_MAX_N
    cols = _columns(found, n, first_order)
    hashes, signs = _key_tables(cols, design)
    Y = bin_transform(y) * B  # unnormalised
    grams = [_group_gram(hashes[:, c], signs, B) for c in range(C)]
    hs = [np.einsum("kp,kp->k", signs, Y[c][:, hashes[:, c]].T) for c in range(C)]
    yys = [float(np.sum(y[c] ** 2)) for c in range(C)]
    G_all = grams[0]
    for g in grams[1:]:
        G_all = G_all + g
    h_all = np.sum(hs, axis=0)
    per_col = P1 * B  # samples per group
    # Candidate models: the discovered support (+ constant) alone, and with all first-order
    # terms added; the support columns come first, so the smaller model is a leading block.
    n_support = 1 + sum(1 for k in found if k)
    sizes = [n_support] + ([len(cols)] if len(cols) > n_support else [])
    best = (np.inf, sizes[0], ALPHAS[0])
    if C > 1:
        for size in sizes:
            errs = np.zeros(len(ALPHAS))
            for c in range(C):
                G_tr = (G_all - grams[c])[:size, :size]
                h_tr = (h_all - hs[c])[:size]
                G_c = grams[c][:size, :size]
                x0 = None
                for a, rel in enumerate(ALPHAS):
                    beta = _solve(G_tr, h_tr, rel * per_col * (C - 1), x0)
                    x0 = beta
                    errs[a] += yys[c] - 2 * beta @ hs[c][:size] + beta @ (G_c @ beta)
            a = int(np.argmin(errs))
            if errs[a] < best[0]:
                best = (float(errs[a]), size, ALPHAS[a])
    _, size, rel = best
    cols = cols[:size]
    beta = _solve(G_all[:size, :size], h_all[:size], rel * per_col * C, None)
    top = float(np.max(np.abs(beta))) if beta.size else 0.0
    return {k: float(v) for k, v in zip(cols, beta) if abs(v) > 1e-9 * top}
