"""Keep the coefficients that matter (SPEC §4.4); the ridge re-fit is :mod:`.ridge`.

The reference cut keeps the largest coefficients until 95% of the non-constant energy is reached.
Two refinements: a group of (nearly) equal magnitudes is never split by the cut, since which of
them falls on which side would be arbitrary, and the subsets of every kept interaction are kept
too when they carry some energy of their own, because hierarchical functions (LLM outputs among
them) put weight on every subset of an interaction.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from interspect.engines.proxy.tree_spectrum import KeyTable

__all__ = ["truncate", "truncate_table"]


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
