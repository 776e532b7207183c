"""Shortened binary BCH codes and the GF(2^m) arithmetic they need.

Field elements are plain integers (bit i = coefficient of α^i); multiplication goes through
log/antilog tables so that every operation is a numpy gather and works on whole arrays at once.

Code layout (our own convention, used consistently by the decoder): a codeword polynomial
``c(x) = Σ c_l x^l`` of length ``2^m − 1`` keeps its ``p`` parity bits at positions ``0..p−1``
and message bit ``i`` (feature ``i``) at position ``p + i``; positions ``≥ p + n`` are shortened
away (always zero). The parity bits of message ``e_i`` are the coefficients of
``x^{p+i} mod g(x)``, so ``c(x) = Σ_{i∈k} (x^{p+i} + (x^{p+i} mod g))`` is a multiple of ``g``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["GF", "BCHCode", "bch_code"]

# Primitive polynomials (bit i = coefficient of x^i), checked to be primitive when used.
_PRIMITIVE = {
    2: 0b111,
    3: 0b1011,
    4: 0b10011,
    5: 0b100101,
    6: 0b1000011,
    7: 0b10000011,
    8: 0b100011101,
    9: 0b1000010001,
    10: 0b10000001001,
    11: 0b100000000101,
    12: 0b1000001010011,
    13: 0b10000000011011,
    14: 0b100010001000011,
    15: 0b1000000000000011,
    16: 0b10001000000001011,
    17: 0b100000000000001001,
    18: 0b1000000000010000001,
    19: 0b10000000000000100111,
    20: 0b100000000000000001001,
}


class GF:
    """GF(2^m) with vectorised multiply/divide through log and antilog tables.

    ``exp`` has length ``2·(2^m − 1)`` so a sum of two logs never needs a modulo.
    """

    def __init__(self, m: int) -> None:
        if m not in _PRIMITIVE:
            raise ValueError(f"GF(2^m) is supported for m in 2..20, got m={m}")
        self.m = m
        self.order = (1 << m) - 1  # multiplicative group size
        poly = _PRIMITIVE[m]
        exp = np.zeros(2 * self.order, dtype=np.int64)
        log = np.zeros(1 << m, dtype=np.int64)
        x = 1
        for i in range(self.order):
            exp[i] = x
            log[x] = i
            x <<= 1
            if x >> m:
                x ^= poly
        if x != 1 or len(set(exp[: self.order].tolist())) != self.order:
            raise RuntimeError(f"internal error: the polynomial for m={m} is not primitive")
        exp[self.order :] = exp[: self.order]
        self.exp = exp
        self.log = log

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Elementwise product (broadcasting)."""
        a = np.asarray(a)
        b = np.asarray(b)
        out = self.exp[self.log[a] + self.log[b]]
        return np.where((a == 0) | (b == 0), 0, out)

    def div(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Elementwise ``a / b`` (``b`` must be non-zero wherever ``a`` is)."""
        a = np.asarray(a)
        b = np.asarray(b)
        out = self.exp[self.log[a] - self.log[b] + self.order]
        return np.where(a == 0, 0, out)

    def pow_alpha(self, e: np.ndarray) -> np.ndarray:
        """``α^e`` for integer exponents (any sign)."""
        return self.exp[np.mod(e, self.order)]


def _cyclotomic_cosets(order: int, upto: int) -> list[list[int]]:
    seen: set[int] = set()
    cosets = []
    for i in range(1, upto + 1):
        if i % order in seen:
            continue
        coset = []
        e = i % order
        while e not in coset:
            coset.append(e)
            e = (2 * e) % order
        seen.update(coset)
        cosets.append(coset)
    return cosets


def _poly_mul_gf(field: GF, a: list[int], b: list[int]) -> list[int]:
    out = [0] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        if ai == 0:
            continue
        for j, bj in enumerate(b):
            if bj:
                out[i + j] ^= int(field.mul(ai, bj))
    return out


def _generator_degree(m: int, t: int) -> int:
    order = (1 << m) - 1
    return sum(len(c) for c in _cyclotomic_cosets(order, 2 * t))


class BCHCode:
    """A narrow-sense primitive binary BCH code of designed distance ``2t+1``, shortened to ``n``.

    Attributes
    ----------
    n, t, m : int
        Message length (features), correctable errors, field degree; code length ``2^m − 1``.
    p : int
        Number of parity bits (``deg g``) — the number of non-zero delays SPEX needs.
    parity : ndarray of uint8, shape (n, p)
        Row ``i`` holds the parity bits of the message with a single one at feature ``i``.
    syndrome_table : ndarray of int64, shape (p, 2t)
        ``α^{(j+1)·l}``: the contribution of a one at parity position ``l`` to syndrome ``S_{j+1}``.
    """

    def __init__(self, n: int, t: int) -> None:
        if t < 1:
            raise ValueError(f"t must be >= 1, got {t}")
        m = max(2, int(np.ceil(np.log2(2 * t + 2))))
        while True:
            if m > 20:
                raise ValueError(f"no binary BCH code with m <= 20 carries n={n} message bits at t={t}")
            p = _generator_degree(m, t)
            if (1 << m) - 1 - p >= n:
                break
            m += 1
        self.n, self.t, self.m, self.p = n, t, m, p
        self.field = field = GF(m)
        self.length = (1 << m) - 1
        g = [1]
        for coset in _cyclotomic_cosets(self.length, 2 * t):
            minimal = [1]
            for e in coset:
                minimal = _poly_mul_gf(field, minimal, [int(field.exp[e]), 1])
            if any(c not in (0, 1) for c in minimal):
                raise RuntimeError("internal error: minimal polynomial is not binary")
            g = _poly_mul_gf(field, g, minimal)
        if len(g) - 1 != p:
            raise RuntimeError("internal error: generator degree mismatch")
        g_int = sum(int(c) << i for i, c in enumerate(g))
        rows = np.empty(n, dtype=object)
        r = 1
        for _ in range(p):  # r = x^p mod g
            r <<= 1
            if r >> p & 1:
                r ^= g_int
        for i in range(n):
            rows[i] = r
            r <<= 1
            if r >> p & 1:
                r ^= g_int
        nbytes = (p + 7) // 8
        packed = np.frombuffer(b"".join(int(v).to_bytes(nbytes, "little") for v in rows), dtype=np.uint8)
        bits = np.unpackbits(packed.reshape(n, nbytes), axis=1, bitorder="little")
        self.parity = np.ascontiguousarray(bits[:, :p])
        self.generator = np.array(g, dtype=np.uint8)
        l = np.arange(p)[:, None]
        j = np.arange(1, 2 * t + 1)[None, :]
        self.syndrome_table = field.pow_alpha(l * j)

    def __repr__(self) -> str:
        return f"BCHCode(n={self.n}, t={self.t}, m={self.m}, p={self.p})"


@lru_cache(maxsize=64)
def bch_code(n: int, t: int) -> BCHCode:
    """Cached :class:`BCHCode` (building one is deterministic, so caching is safe)."""
    return BCHCode(n, t)


def parity_bits(n: int, t: int) -> int:
    """Number of parity bits ``p`` of the shortened code, without building the parity matrix."""
    m = max(2, int(np.ceil(np.log2(2 * t + 2))))
    while m <= 20:
        p = _generator_degree(m, t)
        if (1 << m) - 1 - p >= n:
            return p
        m += 1
    raise ValueError(f"no binary BCH code with m <= 20 carries n={n} message bits at t={t}")
