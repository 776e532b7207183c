"""The ±1 parity (Fourier) design: ``(−1)^{Σ_{i∈k} x_i}`` for every key ``k`` and mask ``x``.

One implementation serves the surrogate's predictions (:meth:`Spectrum.predict`), the ridge
re-fits and the term selection: the kept features of each key are counted — by a sparse
membership matrix (keys × features) times the masks, or, for small designs, by adding the keys'
columns position by position — and the parity of that count is the sign.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1, 1, 0], [1, 0, 0]], dtype=np.uint8)
>>> parity_design([(), (0,), (0, 1)], X).tolist()
[[1.0, -1.0, 1.0], [1.0, -1.0, -1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["membership", "parity_signs", "parity_design"]

Key = tuple[int, ...]


def membership(keys: Sequence[Key], n: int) -> sp.csr_matrix:
    """``(len(keys), n)`` sparse 0/1 matrix: row ``c`` marks the features of ``keys[c]``."""
    rows = np.repeat(np.arange(len(keys)), [len(k) for k in keys])
    cols = np.fromiter((i for k in keys for i in k), dtype=np.int64, count=len(rows))
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(keys), n))


def parity_signs(member: sp.csr_matrix, X: np.ndarray) -> np.ndarray:
    """``(keys, rows)`` float64 signs ``(−1)^{|k ∩ x|}`` of every key (membership row) and mask.

    Counts are exact in float32 (integers below 2^24), so the signs are exact. Only the features
    some key uses are read, so the cost is about rows × used features, not rows × n.
    """
    used = np.unique(member.indices)
    if used.size < member.shape[1]:
        member, X = member[:, used], X[:, used]
    counts = np.asarray(member @ X.T.astype(np.float32))
    return 1.0 - 2.0 * (counts.astype(np.int64) & 1)


# Largest rows × keys × degree done by gathering columns: below it that beats the sparse product,
# whose set-up (a CSR matrix per call) dominated the term selection's many small designs.
_GATHER_WORK = 5e7


def parity_design(keys: Sequence[Key], X: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """The ±1 Fourier basis ``Φ[r, c] = (−1)^{Σ_{i∈keys[c]} X[r, i]}``, shape ``(m, len(keys))``.

    Small designs add the keys' columns of ``X`` position by position (at most the largest
    degree gathers); large ones go through the sparse membership product of :func:`parity_signs`.
    Both count exactly, so they give the same signs.
    """
    m, n = X.shape
    if not keys:
        return np.zeros((m, 0), dtype=dtype)
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    degree = int(lengths.max())
    if m * len(keys) * max(degree, 1) > _GATHER_WORK:
        return parity_signs(membership(keys, n), X).T.astype(dtype)
    flat = np.fromiter((i for k in keys for i in k), dtype=np.intp, count=int(lengths.sum()))
    # Only the features some key uses are copied, then an all-zero column that pads short keys:
    # idx[c, j] is the column of the j-th feature of key c.
    used, pos = np.unique(flat, return_inverse=True)
    idx = np.full((len(keys), max(degree, 1)), len(used), dtype=np.intp)
    idx[np.arange(degree)[None, :] < lengths[:, None]] = pos.ravel()
    # Built as (keys, rows) and returned transposed: the same memory layout as the sparse path's,
    # so that products with it sum in the same order.
    Xz = np.zeros((len(used) + 1, m), dtype=np.uint8 if degree < 255 else np.int64)
    Xz[: len(used)] = X[:, used].T
    counts = Xz[idx[:, 0]]
    for j in range(1, degree):
        counts += Xz[idx[:, j]]
    odd = (counts & 1).astype(dtype)
    return (1 - 2 * odd).T
