"""Interaction indices computed from a sparse Fourier (or Möbius) spectrum.

Every index in SPEC §2 is a *superset sum* of Möbius coefficients,
``I(T) = Σ_{S ⊇ T} a(S) · w(|S|, |T|)``, with a weight that depends only on the two sizes (and
the explanation order ℓ). Since ``a(S) = (−2)^{|S|} Σ_{k ⊇ S} F(k)``, the index is also a superset
sum of Fourier coefficients, ``I(T) = Σ_{k ⊇ T} F(k) · G(|k|, |T|)`` with
``G(d, s) = Σ_j C(d−s, j) (−2)^{s+j} w(s+j, s)``. So each Fourier term of degree d only touches
its own subsets: O(2^d) work, never O(2^n).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from math import comb
from typing import Literal

import numpy as np

__all__ = ["INDICES", "IndexName", "superset_transform", "index_weight", "fourier_weight"]

IndexName = Literal["Fourier", "Moebius", "SV", "BV", "SII", "BII", "k-SII", "STII", "FSII", "FBII"]
INDICES: tuple[str, ...] = (
    "Fourier",
    "Moebius",
    "SV",
    "BV",
    "SII",
    "BII",
    "k-SII",
    "STII",
    "FSII",
    "FBII",
)
#: Indices whose values depend on an explanation order ℓ (and cover all |T| <= ℓ, () included).
ORDERED_INDICES = ("k-SII", "STII", "FSII", "FBII")


@lru_cache(maxsize=64)
def _bernoulli(m: int) -> tuple[Fraction, ...]:
    """Bernoulli numbers B_0..B_m with B_1 = −1/2, the convention of the k-SII aggregation."""
    B = [Fraction(1)]
    for k in range(1, m + 1):
        B.append(-sum(comb(k + 1, j) * B[j] for j in range(k)) / (k + 1))
    return tuple(B)


def index_weight(index: str, r: int, s: int, order: int) -> Fraction:
    """Möbius weight ``w(r, s)``: contribution of ``a(S)`` with ``|S| = r`` to ``I(T)``, ``|T| = s``.

    Only called with ``s <= r``. Exact rationals: the Fourier weights below are alternating sums
    that would lose digits in floating point for high degrees.
    """
    d = r - s
    one = Fraction(1)
    if index == "Moebius":
        return one if d == 0 else Fraction(0)
    if index in ("SII", "SV"):
        return Fraction(1, d + 1)
    if index in ("BII", "BV"):
        return Fraction(1, 2**d)
    if index == "k-SII":
        if s == 0:
            return one if r == 0 else Fraction(0)  # () carries the baseline f(0)
        B = _bernoulli(max(order, 1))
        return sum(
            (comb(d, j) * B[j] / (d - j + 1) for j in range(0, min(order, r) - s + 1)), Fraction(0)
        )
    if index == "STII":
        if s < order:
            return one if d == 0 else Fraction(0)
        return Fraction(1, comb(r, order))
    if index == "FBII":
        w = one if d == 0 else Fraction(0)
        if r > order:
            w += (-1) ** (order - s) * Fraction(comb(d - 1, order - s), 2**d)
        return w
    if index == "FSII":
        w = one if d == 0 else Fraction(0)
        if r > order and s > 0:
            w += (-1) ** (order - s) * Fraction(
                s * comb(order, s) * comb(r - 1, order),
                (s + order) * comb(r + order - 1, order + s),
            )
        return w
    raise ValueError(f"unknown index {index!r}")


@lru_cache(maxsize=4096)
def fourier_weight(index: str, d: int, s: int, order: int) -> float:
    """``G(d, s)``: contribution of a Fourier coefficient of degree ``d`` to ``I(T)``, ``|T| = s``."""
    if index == "Fourier":
        return 1.0 if d == s else 0.0
    return float(
        sum(
            (
                comb(d - s, j) * (-2) ** (s + j) * index_weight(index, s + j, s, order)
                for j in range(d - s + 1)
            ),
            Fraction(0),
        )
    )


def superset_transform(
    keys: Sequence[tuple[int, ...]],
    values: np.ndarray,
    weight: Callable[[int, int], float],
    *,
    min_size: int = 0,
    max_size: int | None = None,
    tol: float = 0.0,
) -> dict[tuple[int, ...], float]:
    """Return ``{T: Σ_{k ⊇ T} values[k] · weight(|k|, |T|)}`` over subsets T of the given keys.

    Only subsets with ``min_size <= |T| <= max_size`` are produced. Work is
    ``Σ_k Σ_{s} C(|k|, s)``, vectorised per (degree, subset size).
    """
    values = np.asarray(values, dtype=float)
    by_degree: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        by_degree.setdefault(len(k), []).append(i)
    # Per subset size s: the subset keys (as int arrays) and their weighted contributions.
    parts: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for d, idx in by_degree.items():
        K = np.array([keys[i] for i in idx], dtype=np.int64).reshape(len(idx), d)
        v = values[idx]
        top = d if max_size is None else min(d, max_size)
        for s in range(min_size, top + 1):
            w = weight(d, s)
            if w == 0.0:
                continue
            for cols in _combinations(d, s):
                sub_keys, sub_vals = parts.setdefault(s, ([], []))
                sub_keys.append(K[:, cols])
                sub_vals.append(v * w)
    out: dict[tuple[int, ...], float] = {}
    for s, (klist, vlist) in sorted(parts.items()):
        K = np.concatenate(klist, axis=0)
        v = np.concatenate(vlist)
        if s == 0:
            total = float(v.sum())
            if abs(total) > tol:
                out[()] = total
            continue
        uniq, inv = np.unique(K, axis=0, return_inverse=True)
        sums = np.bincount(inv.reshape(-1), weights=v, minlength=len(uniq))
        keep = np.abs(sums) > tol
        for key, val in zip(uniq[keep].tolist(), sums[keep].tolist()):
            out[tuple(key)] = val
    return out


@lru_cache(maxsize=256)
def _combinations(d: int, s: int) -> tuple[list[int], ...]:
    from itertools import combinations

    return tuple(list(c) for c in combinations(range(d), s))
