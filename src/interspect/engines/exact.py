"""The exact spectrum by brute force over all 2^n masks: the reference every test compares against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from interspect.core.spectrum import Spectrum
from interspect.core.validation import check_n
from interspect.queries.layer import as_queries
from interspect.queries.progress import ProgressArg

__all__ = ["exact", "all_masks", "fwht", "spectrum_from_table"]

MAX_EXACT_N = 20


def all_masks(n: int) -> np.ndarray:
    """All ``2^n`` masks as a ``(2^n, n)`` uint8 array; row ``r`` has ``x_i = (r >> i) & 1``."""
    n = check_n(n)
    if n > MAX_EXACT_N:
        raise ValueError(
            f"n={n} is too large to enumerate all 2^n masks; at most n={MAX_EXACT_N} is supported"
        )
    r = np.arange(2**n, dtype=np.int64)
    return ((r[:, None] >> np.arange(n)) & 1).astype(np.uint8)


def fwht(y: np.ndarray) -> np.ndarray:
    """Unnormalised fast Walsh–Hadamard transform of a length-2^b vector (returns a new array)."""
    a = np.array(y, dtype=float)
    size = a.shape[0]
    b = size.bit_length() - 1
    if size != 1 << b:
        raise ValueError(f"fwht needs a length that is a power of two, got {size}")
    h = 1
    while h < size:
        a = a.reshape(-1, 2, h)
        a = np.stack((a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]), axis=1)
        h *= 2
    return a.reshape(size)


def exact(
    value_fn: Callable[[np.ndarray], Any],
    n: int,
    *,
    tol: float = 1e-12,
    batch_size: int | None = 65536,
    progress: ProgressArg = False,
) -> Spectrum:
    """Exact Fourier spectrum of ``value_fn`` from all ``2^n`` masks (n <= 20).

    ``F(k) = 2^{-n} Σ_x f(x) (−1)^{Σ_{i∈k} x_i}`` by a fast Walsh–Hadamard transform.
    Coefficients with ``|F(k)| <= tol · max|F|`` are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from interspect import exact
    >>> s = exact(lambda X: X[:, 0] * X[:, 1], n=2)
    >>> s.mobius()
    {(0, 1): 1.0}
    """
    n = check_n(n)
    if n > MAX_EXACT_N:
        raise ValueError(
            f"exact() enumerates all 2^n masks and supports n <= {MAX_EXACT_N}, got n={n}; use spex() or proxyspex()"
        )
    queries = as_queries(value_fn, n, batch_size=batch_size, progress=progress)
    queries.expect(2**n)
    try:
        y = queries(all_masks(n))
    finally:
        if queries is not value_fn:
            queries.close()
    return spectrum_from_table(y, n, tol=tol)


def spectrum_from_table(y: np.ndarray, n: int, *, tol: float = 1e-12) -> Spectrum:
    """Exact spectrum from the values on all ``2^n`` masks, ``y[r]`` at the mask of bitmask ``r``
    (the row order of :func:`all_masks`)."""
    F = fwht(y) / 2.0**n
    scale = float(np.max(np.abs(F))) if F.size else 0.0
    keep = np.flatnonzero(np.abs(F) > tol * scale) if scale > 0 else np.array([], dtype=np.int64)
    bits = np.arange(n)
    fourier = {tuple(bits[((int(r) >> bits) & 1).astype(bool)].tolist()): float(F[r]) for r in keep}
    return Spectrum(fourier, n, n_queries=2**n)
