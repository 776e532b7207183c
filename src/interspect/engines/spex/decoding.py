"""Batched BCH decoding of many bins at once: hard decisions and soft (Chase) decoding.

Every step works on arrays of words, never one bin at a time:

1. syndromes ``S_1..S_2t`` from the parity bits (a XOR-reduction over a precomputed table;
   Chase patterns just XOR their positions' syndrome contributions on top),
2. Berlekamp–Massey for the error locator Λ, vectorised over all words,
3. a cheap splitting test (``x^{2^m} ≡ x mod Λ``) that throws out the many words whose Λ has
   no full set of roots in the field, so the costly
4. Chien search over the ``p + n`` valid positions only runs on plausible words.

A word decodes to the feature set ``k`` (message positions in error) when Λ has exactly
``deg Λ = L ≤ t`` roots, all inside the shortened length.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from interspect.engines.spex.codes import BCHCode

__all__ = ["DecodeResult", "decode_syndromes", "syndromes", "chase_candidates"]


@dataclass
class DecodeResult:
    """Outcome for a batch of W words.

    ``ok[w]`` tells whether word w decoded; ``keys[w]`` is then the sorted tuple of features in
    error (the singleton's interaction) and ``n_corrections[w]`` the total number of flipped
    positions (features plus parity corrections).
    """

    ok: np.ndarray
    keys: list[tuple[int, ...] | None]
    n_corrections: np.ndarray


def syndromes(code: BCHCode, bits: np.ndarray) -> np.ndarray:
    """Syndromes ``S_1..S_2t`` (W, 2t) of received parity-bit words ``bits`` (W, p)."""
    table = code.syndrome_table  # (p, 2t)
    bits = np.asarray(bits, dtype=bool)
    out = np.zeros((bits.shape[0], table.shape[1]), dtype=np.int64)
    for l in range(table.shape[0]):  # p XORs of (W, 2t): cheap and memory-light
        out ^= np.where(bits[:, l, None], table[l][None, :], 0)
    return out


def _berlekamp_massey(code: BCHCode, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error locators Λ (W, 2t+1), low degree first, and their lengths L, for syndromes S (W, 2t)."""
    F = code.field
    W, two_t = S.shape
    size = two_t + 1
    lam = np.zeros((W, size), dtype=np.int64)
    lam[:, 0] = 1
    B = lam.copy()
    L = np.zeros(W, dtype=np.int64)
    shift = np.ones(W, dtype=np.int64)
    bb = np.ones(W, dtype=np.int64)
    idx = np.arange(size)[None, :]
    for r in range(two_t):
        d = S[:, r].copy()
        if r:
            d ^= np.bitwise_xor.reduce(F.mul(lam[:, 1 : r + 1], S[:, r - 1 :: -1][:, :r]), axis=1)
        nz = d != 0
        if not nz.any():
            shift += 1
            continue
        coef = F.div(d, np.where(nz, bb, 1))
        src = idx - shift[:, None]
        shifted = np.where(src >= 0, np.take_along_axis(B, np.clip(src, 0, size - 1), axis=1), 0)
        new_lam = lam ^ F.mul(coef[:, None], shifted)
        upd = nz & (2 * L <= r)
        B = np.where(upd[:, None], lam, B)
        L = np.where(upd, r + 1 - L, L)
        bb = np.where(upd, d, bb)
        shift = np.where(upd, 1, shift + 1)
        lam = np.where(nz[:, None], new_lam, lam)
    return lam, L


def _splits(code: BCHCode, lam: np.ndarray, L: int) -> np.ndarray:
    """For locators of degree exactly L (W, L+1): does Λ divide x^{2^m} − x (L distinct roots)?"""
    F = code.field
    W = lam.shape[0]
    if L <= 1:
        return np.ones(W, dtype=bool)
    monic = F.div(lam, lam[:, L : L + 1])  # (W, L+1), monic[:, L] == 1

    def reduce(poly: np.ndarray) -> np.ndarray:
        for i in range(poly.shape[1] - 1, L - 1, -1):
            c = poly[:, i]
            poly[:, i - L : i] ^= F.mul(c[:, None], monic[:, :L])
            poly[:, i] = 0
        return poly[:, :L]

    x = np.zeros((W, L), dtype=np.int64)
    x[:, 1] = 1  # L >= 2, so x is already reduced
    r = x.copy()
    for _ in range(code.m):
        sq = np.zeros((W, 2 * L - 1), dtype=np.int64)
        sq[:, ::2] = F.mul(r, r)  # squaring is linear in characteristic 2
        r = reduce(sq)
    return np.all(r == x, axis=1)


def decode_syndromes(code: BCHCode, S: np.ndarray, *, chunk_elems: int = 4_000_000) -> DecodeResult:
    """Decode W words from their syndromes (W, 2t); see :class:`DecodeResult`."""
    W = S.shape[0]
    t, p, n = code.t, code.p, code.n
    ok = np.zeros(W, dtype=bool)
    keys: list[tuple[int, ...] | None] = [None] * W
    ncorr = np.zeros(W, dtype=np.int64)
    if W == 0:
        return DecodeResult(ok, keys, ncorr)
    lam, L = _berlekamp_massey(code, S)
    nzcols = lam != 0
    deg = np.where(nzcols.any(axis=1), lam.shape[1] - 1 - np.argmax(nzcols[:, ::-1], axis=1), 0)
    plausible = (L <= t) & (deg == L)
    zero = plausible & (L == 0)
    for w in np.flatnonzero(zero):
        ok[w] = True
        keys[w] = ()
    for ell in range(1, t + 1):
        sel = np.flatnonzero(plausible & (L == ell))
        if sel.size == 0:
            continue
        cand = sel[_splits(code, lam[sel, : ell + 1], ell)]
        if cand.size == 0:
            continue
        # Every candidate has ell distinct roots in the field; they name positions q through
        # root = α^{−q}. Degrees 1 and 2 are solved directly, higher ones by a Chien search
        # over the valid positions 0..p+n−1 (shortened positions are invalid).
        if ell <= 2:
            q = _roots_low(code, lam[cand, : ell + 1], ell)  # (w, ell) positions
            good = np.all(q < p + n, axis=1)
            found = ((int(w), np.sort(qs)) for w, qs, g in zip(cand, q, good) if g)
        else:
            found = _chien(code, lam[cand, : ell + 1], ell, cand, chunk_elems)
        for w, rp in found:
            ok[w] = True
            keys[w] = tuple(int(q) - p for q in rp if q >= p)
            ncorr[w] = rp.size
    return DecodeResult(ok, keys, ncorr)


@lru_cache(maxsize=8)
def _tables(code: BCHCode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-code lookup tables for root finding (built once; the code objects are cached too).

    - ``exp3`` (int32, 3·order): antilogs, twice over, then zeros — a log index of ``2·order``
      stands for the field's zero, so a zero coefficient needs no mask;
    - ``neg`` (int32, (t+1, p+n)): ``−j·q mod order``, the log of ``α^{−jq}``;
    - ``half`` (int64, 2^m): ``half[c]`` solves ``z² + z = c`` where a solution exists, else −1.
    """
    F = code.field
    exp3 = np.concatenate((F.exp, np.zeros(F.order, dtype=F.exp.dtype))).astype(np.int32)
    pos = np.arange(code.p + code.n, dtype=np.int64)
    neg = np.mod(-np.arange(code.t + 1, dtype=np.int64)[:, None] * pos[None, :], F.order).astype(np.int32)
    z = np.arange(1 << F.m, dtype=np.int64)
    half = np.full(1 << F.m, -1, dtype=np.int64)
    half[F.mul(z, z) ^ z] = z  # z and z+1 give the same c; either solves it
    return exp3, neg, half


def _roots_low(code: BCHCode, lam: np.ndarray, L: int) -> np.ndarray:
    """Positions (w, L) of the roots of locators of degree 1 or 2 with L distinct roots.

    ``1 + λ₁x``: root ``λ₁^{−1} = α^{−q}``, so ``q = log λ₁``. ``1 + λ₁x + λ₂x²`` (λ₁ ≠ 0 as the
    roots are distinct): with ``x = (λ₁/λ₂)·z`` it becomes ``z² + z = λ₂/λ₁²``, solved by table.
    """
    F = code.field
    if L == 1:
        return F.log[lam[:, 1]][:, None]
    l1, l2 = lam[:, 1], lam[:, 2]
    _, _, half = _tables(code)
    z = half[F.div(l2, F.mul(l1, l1))]
    bad = (l1 == 0) | (z < 0)  # cannot happen after the splitting test; never decode them anyway
    z = np.where(bad, 2, z)
    scale = F.div(l1, l2)
    x = np.stack((F.mul(scale, z), F.mul(scale, z ^ 1)), axis=1)  # both roots, non-zero
    q = np.mod(-F.log[x], F.order)
    q[bad] = np.iinfo(np.int64).max
    return q


def _chien(code: BCHCode, lam: np.ndarray, L: int, cand: np.ndarray, chunk_elems: int):
    """Yield (word, sorted root positions) for locators (w, L+1) with exactly L valid roots."""
    F = code.field
    exp3, neg, _ = _tables(code)
    npos = neg.shape[1]
    loglam = np.where(lam == 0, 2 * F.order, F.log[lam]).astype(np.int32)  # zero → exp3 gives 0
    step = max(1, chunk_elems // npos)
    for s in range(0, cand.size, step):
        lg = loglam[s : s + step]
        ev = np.ones((lg.shape[0], npos), dtype=np.int32)  # λ₀ = 1 (Berlekamp–Massey keeps it)
        for j in range(1, L + 1):
            ev ^= exp3[lg[:, j, None] + neg[j][None, :]]
        roots = ev == 0
        for i in np.flatnonzero(roots.sum(axis=1) == L):
            yield int(cand[s + i]), np.flatnonzero(roots[i])


def chase_candidates(code: BCHCode, rel: np.ndarray, *, depth: int, n_patterns: int) -> tuple[np.ndarray, np.ndarray]:
    """Syndromes of the hard word and its Chase variants for each of N soft words.

    Parameters
    ----------
    rel : ndarray (N, p)
        Soft parity values; sign gives the bit (negative → 1), magnitude the reliability.
    depth : int
        How many least reliable positions may be flipped.
    n_patterns : int
        Words per bin: the hard decision first, then the flip patterns of smallest total
        reliability (the likeliest error patterns), in that order.

    Returns
    -------
    S : ndarray (N, P, 2t)
        Syndromes of each candidate word.
    cost : ndarray (N, P)
        Total reliability flipped by each pattern (0 for the hard decision).
    """
    N, p = rel.shape
    hard = rel < 0
    S0 = syndromes(code, hard)
    depth = int(min(depth, p))
    P = int(min(n_patterns, 1 << depth))
    if P <= 1 or depth == 0:
        return S0[:, None, :], np.zeros((N, 1))
    mag = np.abs(rel)
    least = np.argsort(mag, axis=1, kind="stable")[:, :depth]  # (N, depth)
    least_mag = np.take_along_axis(mag, least, axis=1)
    subsets = ((np.arange(1 << depth)[:, None] >> np.arange(depth)[None, :]) & 1).astype(bool)  # (2^d, d)
    costs = least_mag @ subsets.T.astype(float)  # (N, 2^d); pattern 0 (no flip) costs 0
    order = np.argsort(costs, axis=1, kind="stable")[:, :P]  # (N, P)
    chosen = subsets[order]  # (N, P, d)
    contrib = code.syndrome_table[least]  # (N, d, 2t)
    S = np.repeat(S0[:, None, :], P, axis=1)
    for i in range(depth):
        S ^= np.where(chosen[:, :, i, None], contrib[:, None, i, :], 0)
    return S, np.take_along_axis(costs, order, axis=1)
